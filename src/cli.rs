//! Command-line interface: `clerk-operator run`, `clerk-operator crd` and
//! `clerk-operator reasons`.

use crate::clerk::{ClientConfig, DEFAULT_API_VERSION, DEFAULT_BASE_URL, PoolConfig, Rate, SecretKey};
use crate::controller::{self, Config};
use crate::http::{self, Health};
use crate::leader::{Election, LeaseConfig};
use crate::metrics::Metrics;
use crate::telemetry::{self, LogFormat};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Kubernetes operator that makes Clerk domains declarative.
#[derive(Parser, Debug)]
#[command(name = "clerk-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML (all of them, or one).
    Crd {
        /// Which CRD: clerkdomain, clerkinstance or clusterclerkinstance; all when omitted.
        #[arg(value_enum)]
        kind: Option<crate::api::CrdKind>,
    },
    /// Print every condition reason of a ClerkDomain or instance object as Markdown: what it
    /// means and what to do.
    Reasons,
}

/// Flags of `run`. The default Clerk secret key comes from the environment variable
/// `CLERK_SECRET_KEY` or from `--secret-key-file`, never from a flag (flags show in `ps`).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Path to a kubeconfig; default: $KUBECONFIG, ~/.kube/config, or the in-cluster identity.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Clerk Backend API base URL.
    #[arg(long, env = "CLERK_API_URL", default_value = DEFAULT_BASE_URL)]
    pub clerk_api_url: url::Url,
    /// Value of the `Clerk-API-Version` header.
    #[arg(long, env = "CLERK_API_VERSION", default_value = DEFAULT_API_VERSION)]
    pub clerk_api_version: String,
    /// Timeout of one Clerk request.
    #[arg(long, env = "CLERK_REQUEST_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub clerk_timeout: Duration,
    /// Extra attempts after a transient Clerk failure (5xx, timeout, connection error); a 429
    /// pauses the instance (at most 60 s) and its objects are requeued after the pause.
    #[arg(long, env = "CLERK_RETRIES", default_value_t = 3)]
    pub clerk_retries: u32,
    /// Client-side rate limit for development instances (`sk_test_` keys).
    #[arg(long, env = "CLERK_RATE_LIMIT_DEVELOPMENT", default_value = "100/10s")]
    pub rate_limit_development: Rate,
    /// Client-side rate limit for production instances (`sk_live_` keys).
    #[arg(long, env = "CLERK_RATE_LIMIT_PRODUCTION", default_value = "1000/10s")]
    pub rate_limit_production: Rate,
    /// How long one `GET /domains` answer is shared by all reconciles of an instance.
    #[arg(long, env = "CLERK_LIST_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub list_cache_ttl: Duration,
    /// How long one `GET /domains` answer may be shared while the instance's rate budget is all
    /// in use (during a burst a re-read would cost a write; the operator's own writes keep the
    /// shared list current). At least the TTL; keep it below --resync-period.
    #[arg(long, env = "CLERK_LIST_CACHE_MAX_AGE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub list_cache_max_age: Duration,
    /// Address of the HTTP server for /metrics, /healthz and /readyz (empty: disabled).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: String,
    /// Check that each required CNAME record resolves to Clerk's target (condition DNSVerified).
    #[arg(long, env = "DNS_VERIFY")]
    pub dns_verify: bool,
    /// DNS server for --dns-verify (e.g. 10.0.0.10:53); default: the system resolver.
    #[arg(long, env = "DNS_RESOLVER")]
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Hold a Lease so that only one replica reconciles at a time.
    #[arg(long, env = "LEADER_ELECT")]
    pub leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "clerk-operator")]
    pub lease_name: String,
    /// The operator's namespace (in a cluster: the Pod's): the leader election Lease lives
    /// there.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// The namespace of ClusterClerkInstances' Secrets (the chart sets the release namespace).
    /// Unset, ClusterClerkInstances are not used (reason `CredentialsNamespaceNotSet`): no
    /// namespace is assumed.
    #[arg(long, env = "CREDENTIALS_NAMESPACE")]
    pub credentials_namespace: Option<String>,
    /// A ClusterClerkInstance that ClerkDomains without spec.instanceRef and spec.secretRef
    /// use (instead of the default key), subject to its namespaceSelector. Needs the operator
    /// to watch every namespace (no --namespace).
    #[arg(long, env = "DEFAULT_INSTANCE")]
    pub default_instance: Option<String>,
    /// How long the Lease stays valid without renewal; a standby takes over after it.
    #[arg(long, env = "LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// Safety margin: the leader stops writing to Clerk this long before a standby may take over
    /// (it renews every min(2s, (duration - grace)/4) and stops after duration - grace without a
    /// successful renewal).
    #[arg(long, env = "LEASE_RENEW_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub lease_grace: Duration,
    /// File holding the default Clerk secret key (used when CLERK_SECRET_KEY is unset).
    #[arg(long, env = "CLERK_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// How often each ClerkDomain is compared with Clerk when nothing changes.
    #[arg(long, env = "RESYNC_PERIOD", default_value = "5m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Namespaces whose ClerkDomains may use the default key (comma-separated); `*` allows
    /// every namespace. ClerkDomains elsewhere must set spec.secretRef.
    #[arg(
        long,
        env = "DEFAULT_KEY_NAMESPACES",
        default_value = "*",
        value_delimiter = ','
    )]
    pub default_key_namespaces: Vec<String>,
    /// Reconcile only ClerkDomains matching this label selector (e.g. `shard=a`), so several
    /// operators can split the objects between them. Instance objects are not filtered by it.
    #[arg(long, env = "WATCH_LABEL_SELECTOR")]
    pub watch_label_selector: Option<String>,
    /// Serve (check and write the status of) only ClerkInstances and ClusterClerkInstances
    /// matching this label selector, when two operator installations share a cluster.
    /// ClerkDomains may still use the others.
    #[arg(long, env = "INSTANCE_LABEL_SELECTOR")]
    pub instance_label_selector: Option<String>,
    /// Namespaces whose ClerkDomains may manage the primary domain with the default key
    /// (comma-separated); empty (the default): none. Instance objects allow it per object.
    #[arg(
        long,
        env = "PRIMARY_DOMAIN_NAMESPACES",
        default_value = "",
        value_delimiter = ','
    )]
    pub primary_domain_namespaces: Vec<String>,
    /// How many ClerkDomains are reconciled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level or filter (e.g. `info`, `clerk_operator=debug`); RUST_LOG overrides it.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Parse the command line and run it.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { kind } => {
            let yaml = match kind {
                Some(kind) => crate::api::crd_yaml_of(kind),
                None => crate::api::crd_yaml(),
            };
            print!("{yaml}");
            Ok(())
        }
        Command::Reasons => {
            print!("{}", controller::reason::markdown());
            Ok(())
        }
        Command::Run(args) => run(*args).await,
    }
}

/// `clerk-operator run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format, &args.log_level)?;
    crate::install_crypto_provider();
    let client = kube_client(args.kubeconfig.as_deref()).await?;
    let config = config(&args)?;
    let metrics = Arc::new(Metrics::default());
    let health = Health::default();
    if !args.metrics_addr.is_empty() {
        let addr: std::net::SocketAddr = args.metrics_addr.parse().context("--metrics-addr")?;
        http::spawn(addr, metrics.clone(), health.clone()).await?;
    }
    if !args.leader_elect {
        metrics.leader.set(1);
        return controller::run(client, config, metrics, health, telemetry::shutdown_signal()).await;
    }
    let lease = LeaseConfig {
        name: args.lease_name,
        namespace: args.lease_namespace,
        identity: identity(),
        duration: args.lease_duration,
        grace: args.lease_grace,
    };
    run_as_leader(client, config, metrics, health, lease).await
}

/// The controller's settings from the command line.
fn config(args: &RunArgs) -> anyhow::Result<Config> {
    let default_key = default_key(args.secret_key_file.as_deref())?;
    if default_key.is_none() && args.default_instance.is_none() {
        tracing::warn!("no default Clerk secret key: ClerkDomains must set spec.secretRef");
    }
    let config = Config {
        clerk: PoolConfig {
            client: ClientConfig {
                base_url: args.clerk_api_url.clone(),
                api_version: args.clerk_api_version.clone(),
                timeout: args.clerk_timeout,
                retries: args.clerk_retries,
                identity: Some(identity()),
                ..Default::default()
            },
            development_rate: args.rate_limit_development,
            production_rate: args.rate_limit_production,
            list_ttl: args.list_cache_ttl,
            list_max_age: args.list_cache_max_age.max(args.list_cache_ttl),
            // Longer than any resync period, so that a key in use is never forgotten.
            idle: (args.resync_period * 3).max(std::time::Duration::from_secs(60 * 60)),
            fence: crate::leader::Fence::open(),
        },
        default_key,
        resync: args.resync_period,
        namespace: args.namespace.clone(),
        concurrency: args.concurrency.max(1),
        instance: Some(identity()),
        dns_verify: args.dns_verify.then_some(args.dns_resolver),
        default_key_namespaces: namespace_list(&args.default_key_namespaces),
        selector: args.watch_label_selector.clone().filter(|s| !s.trim().is_empty()),
        instance_selector: args
            .instance_label_selector
            .clone()
            .filter(|s| !s.trim().is_empty()),
        credentials_namespace: args
            .credentials_namespace
            .clone()
            .filter(|s| !s.trim().is_empty()),
        primary_domain_namespaces: args
            .primary_domain_namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
        default_instance: args.default_instance.clone().filter(|s| !s.trim().is_empty()),
    };
    anyhow::ensure!(
        config.default_instance.is_none() || config.namespace.is_none(),
        "--default-instance names a ClusterClerkInstance, which an operator watching one namespace \
         (--namespace) does not serve"
    );
    Ok(config)
}

/// Join the election; once leader, run the controller until shutdown or until leadership is
/// lost (then exit with an error, so that a fresh process stands by).
async fn run_as_leader(
    client: kube::Client,
    mut config: Config,
    metrics: Arc<Metrics>,
    health: Health,
    lease: LeaseConfig,
) -> anyhow::Result<()> {
    let mut election = Election::start(client.clone(), &lease)
        .await
        .context("joining leader election")?;
    // A standby is healthy and ready: it is doing its job, waiting.
    health.set_ready(true);
    tracing::info!(lease = %format!("{}/{}", lease.namespace, lease.name), identity = %lease.identity, "waiting for leadership");
    tokio::select! {
        acquired = election.acquired() => acquired?,
        _ = telemetry::shutdown_signal() => {
            election.release().await;
            return Ok(());
        }
    }
    tracing::info!(identity = %lease.identity, "acquired leadership");
    metrics.leader.set(1);
    // Every Clerk write checks the election's fence right before it is sent.
    config.clerk.fence = election.fence();
    let lost = Arc::new(tokio::sync::Notify::new());
    let lost_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = stop_on_loss(&election, &metrics, lost.clone(), lost_flag.clone());
    // After a loss, in-flight reconciles get a short while to finish (their Clerk writes are
    // already refused); reconciles stuck on an unreachable API server do not keep us running.
    let result = tokio::select! {
        r = controller::run(client, config, metrics.clone(), health, stop) => r,
        _ = async {
            lost.notified().await;
            tokio::time::sleep(LOST_EXIT_AFTER).await;
        } => {
            tracing::warn!(after_secs = LOST_EXIT_AFTER.as_secs(), "controller did not stop in time after losing leadership");
            Ok(())
        }
    };
    metrics.leader.set(0);
    election.release().await;
    if lost_flag.load(std::sync::atomic::Ordering::SeqCst) {
        anyhow::bail!("lost leadership of the Lease; exiting so that a fresh process can stand by");
    }
    result
}

/// Resolves on shutdown, or when leadership is lost (then `lost` is notified and `lost_flag`
/// set).
fn stop_on_loss(
    election: &Election,
    metrics: &Arc<Metrics>,
    lost: Arc<tokio::sync::Notify>,
    lost_flag: Arc<std::sync::atomic::AtomicBool>,
) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
    let lost_fut = election.lost();
    let metrics = metrics.clone();
    async move {
        tokio::select! {
            _ = lost_fut => {
                metrics.leader.set(0);
                tracing::error!("lost leadership; stopping");
                lost_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                lost.notify_one();
            }
            _ = telemetry::shutdown_signal() => {}
        }
    }
}

/// How long the controller may take to stop after leadership is lost before the process exits.
const LOST_EXIT_AFTER: Duration = Duration::from_secs(5);

/// `--default-key-namespaces`: `None` (every namespace) when it holds `*`.
fn namespace_list(values: &[String]) -> Option<Vec<String>> {
    let list: Vec<String> = values
        .iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    (!list.iter().any(|v| v == "*")).then_some(list)
}

/// This process's name for Events and the Lease: `POD_NAME`, else host name and process id.
fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    format!("{}-{}", host.trim(), std::process::id())
}

fn default_key(file: Option<&std::path::Path>) -> anyhow::Result<Option<SecretKey>> {
    if let Ok(k) = std::env::var("CLERK_SECRET_KEY")
        && !k.trim().is_empty()
    {
        return Ok(Some(SecretKey::new(k)));
    }
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the secret key file {}", path.display()))?;
            anyhow::ensure!(
                !text.trim().is_empty(),
                "secret key file {} is empty",
                path.display()
            );
            Ok(Some(SecretKey::new(text)))
        }
        None => Ok(None),
    }
}

async fn kube_client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}
