//! Command-line interface: `clerk-operator run`, `clerk-operator crd`,
//! `clerk-operator reasons`, `clerk-operator check` and `clerk-operator status` (also
//! `kubectl clerk status` when the binary is installed as `kubectl-clerk`).

use crate::clerk::{ClientConfig, PoolConfig, SecretKey};
use crate::controller::{self, Config};
use crate::http::{self, Health};
use crate::leader::{Election, LeaseConfig};
use crate::metrics::Metrics;
use crate::telemetry;
use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::sync::Arc;

mod args;
mod check;
mod connect;
pub use args::RunArgs;
pub use check::CheckArgs;
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
    /// Check an installation (the chart's `helm test`): the operator answers on its readiness
    /// URL, and the CRDs are established. Exits non-zero, saying what failed, otherwise.
    Check(CheckArgs),
    /// Show each ClerkDomain's readiness (registration, DNS, SSL, email, proxy, Frontend API)
    /// and the DNS records still missing, from the cluster only. Exit code 0 when every check
    /// that ran passes, 1 when one does not, 2 when the cluster cannot be read.
    Status(crate::readiness::command::StatusArgs),
}

/// Parse the command line and run it.
pub async fn main() -> anyhow::Result<()> {
    let cli = parse();
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
        Command::Check(args) => check::run(args).await,
        Command::Status(args) => {
            crate::install_crypto_provider();
            let passed = match connect::client(args.kubeconfig.as_deref()).await {
                Ok(client) => crate::readiness::command::run(client, &args).await,
                Err(e) => Err(e),
            };
            match passed {
                Ok(true) => Ok(()),
                Ok(false) => std::process::exit(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::exit(2)
                }
            }
        }
    }
}

/// The command line, named `kubectl clerk` in help and errors when the binary runs as the
/// kubectl plugin `kubectl-clerk`.
fn parse() -> Cli {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let plugin = std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("kubectl-clerk"));
    if !plugin {
        return Cli::parse();
    }
    let matches = Cli::command()
        .name("kubectl clerk")
        .bin_name("kubectl clerk")
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `clerk-operator run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format, &args.log_level)?;
    crate::install_crypto_provider();
    let client = connect::client(args.kubeconfig.as_deref()).await?;
    let config = config(&args)?;
    let metrics = Arc::new(Metrics::default());
    let health = Health::default();
    if !args.metrics_addr.is_empty() {
        let addr: std::net::SocketAddr = args.metrics_addr.parse().context("--metrics-addr")?;
        let secure = args.metrics_secure.then(|| http::Secure {
            client: client.clone(),
            cert_dir: args.metrics_cert_dir.clone(),
        });
        http::spawn(addr, metrics.clone(), health.clone(), secure).await?;
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
    let extra_roots = match &args.extra_ca_file {
        Some(path) => crate::frontend_api::trust::load(path)?,
        None => vec![],
    };
    let frontend_api = args.frontend_api_check.then(|| crate::frontend_api::ProbeConfig {
        port: args.frontend_api_port,
        extra_roots: extra_roots.clone(),
        resolver: args.dns_resolver,
        ..Default::default()
    });
    let config = Config {
        clerk: pool_config(args, extra_roots),
        default_key,
        resync: args.resync_period,
        namespace: args.namespace.clone(),
        concurrency: args.concurrency.max(1),
        instance: Some(identity()),
        dns_verify: args.dns_verify.then_some(args.dns_resolver),
        default_key_namespaces: args.default_key_namespaces.unless_every(),
        selector: given(&args.watch_label_selector),
        instance_selector: given(&args.instance_label_selector),
        credentials_namespace: given(&args.credentials_namespace),
        primary_domain_namespaces: args.primary_domain_namespaces.0.clone(),
        default_instance: given(&args.default_instance),
        platform_url: args.clerk_platform_api_url.clone(),
        pod: std::env::var("POD_NAME")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| (args.lease_namespace.clone(), p)),
        secret_protection: args.secret_protection,
        secret_cache_ttl: args.secret_cache_ttl,
        frontend_api,
    };
    anyhow::ensure!(
        config.default_instance.is_none() || config.namespace.is_none(),
        "--default-instance names a ClusterClerkInstance, which an operator watching one namespace \
         (--namespace) does not serve"
    );
    Ok(config)
}

/// A flag's value, unless it is blank.
fn given(value: &Option<String>) -> Option<String> {
    value.clone().filter(|s| !s.trim().is_empty())
}

/// The Clerk clients' settings from the command line.
fn pool_config(args: &RunArgs, extra_roots: Vec<reqwest::Certificate>) -> PoolConfig {
    PoolConfig {
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
        extra_roots,
    }
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
