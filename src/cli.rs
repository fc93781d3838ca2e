//! Command-line interface: `clerk-operator run` and `clerk-operator crd`.

use crate::clerk::{ClientConfig, DEFAULT_API_VERSION, DEFAULT_BASE_URL, PoolConfig, Rate, SecretKey};
use crate::controller::{self, Config};
use crate::http::{self, Health};
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
    /// Print the ClerkDomain CustomResourceDefinition as YAML.
    Crd,
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
    /// Extra attempts after a transient Clerk failure (5xx, 429, timeout, connection error).
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
    /// Address of the HTTP server for /metrics, /healthz and /readyz (empty: disabled).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: String,
    /// File holding the default Clerk secret key (used when CLERK_SECRET_KEY is unset).
    #[arg(long, env = "CLERK_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// How often each ClerkDomain is compared with Clerk when nothing changes.
    #[arg(long, env = "RESYNC_PERIOD", default_value = "5m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
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
        Command::Crd => {
            print!("{}", crate::api::crd_yaml());
            Ok(())
        }
        Command::Run(args) => run(*args).await,
    }
}

/// `clerk-operator run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format, &args.log_level)?;
    crate::install_crypto_provider();
    let default_key = default_key(args.secret_key_file.as_deref())?;
    if default_key.is_none() {
        tracing::warn!("no default Clerk secret key: ClerkDomains must set spec.secretRef");
    }
    let client = kube_client(args.kubeconfig.as_deref()).await?;
    let config = Config {
        clerk: PoolConfig {
            client: ClientConfig {
                base_url: args.clerk_api_url,
                api_version: args.clerk_api_version,
                timeout: args.clerk_timeout,
                retries: args.clerk_retries,
                ..Default::default()
            },
            development_rate: args.rate_limit_development,
            production_rate: args.rate_limit_production,
            list_ttl: args.list_cache_ttl,
        },
        default_key,
        resync: args.resync_period,
        namespace: args.namespace,
        concurrency: args.concurrency.max(1),
        instance: std::env::var("POD_NAME").ok(),
    };
    let metrics = Arc::new(Metrics::default());
    let health = Health::default();
    if !args.metrics_addr.is_empty() {
        let addr: std::net::SocketAddr = args.metrics_addr.parse().context("--metrics-addr")?;
        http::spawn(addr, metrics.clone(), health.clone()).await?;
    }
    controller::run(client, config, metrics, health, telemetry::shutdown_signal()).await
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
