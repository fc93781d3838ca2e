//! `fake-clerk`: a stateful fake of Clerk's Backend API domain endpoints for local runs and CI.

// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

use clap::Parser;
use fake_clerk::{FakeClerk, FakeConfig, Faults};
use std::net::SocketAddr;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// Serve a fake Clerk Backend API (domains and instance endpoints) under /v1.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", env = "FAKE_CLERK_LISTEN")]
    listen: SocketAddr,
    /// A secret key to accept; each key is its own instance (`sk_live_` = production). Repeat
    /// for several instances.
    #[arg(long = "secret-key", required = true)]
    secret_keys: Vec<String>,
    /// Another key of an instance: `NEW=EXISTING` gives the instance of the key EXISTING (one
    /// of --secret-key) the key NEW as well; both share its data and its rate limit. Repeatable.
    #[arg(long = "extra-key", value_parser = parse_extra_key)]
    extra_keys: Vec<(String, String)>,
    /// A key (one of --secret-key) whose instance lists a DMARC TXT record next to its CNAMEs
    /// in `dns_targets`. Repeatable.
    #[arg(long = "dmarc-key")]
    dmarc_keys: Vec<String>,
    /// A Platform API access token to accept (it reaches every application). Repeatable.
    #[arg(long = "platform-token")]
    platform_tokens: Vec<String>,
    /// Name of each instance's primary domain.
    #[arg(long, default_value = "example.com")]
    primary_domain: String,
    /// Inject an error status with a probability, e.g. `500=0.1` or `429=0.05`. Repeatable.
    #[arg(long = "error-rate", value_parser = parse_rate)]
    error_rates: Vec<(u16, f64)>,
    /// `Retry-After` seconds on injected 429/503 responses.
    #[arg(long)]
    retry_after_secs: Option<u64>,
    /// Delay each response by up to this many milliseconds (uniformly random).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Minimum delay, with --latency-ms.
    #[arg(long, default_value_t = 0)]
    latency_min_ms: u64,
    /// Probability of dropping the connection before processing a request.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Probability of processing a request (a POST commits) and then dropping the response.
    #[arg(long, default_value_t = 0.0)]
    drop_after_commit_rate: f64,
    /// Emulate Clerk's rate limits: 100 requests / 10 s (development), 1000 / 10 s (production).
    #[arg(long)]
    rate_limit: bool,
    /// Override the emulated limit (requests per window) for every instance.
    #[arg(long)]
    rate_limit_requests: Option<u32>,
    /// Override the emulated window in seconds.
    #[arg(long)]
    rate_limit_window_secs: Option<u64>,
}

fn parse_extra_key(s: &str) -> Result<(String, String), String> {
    let (new, existing) = s.split_once('=').ok_or("expected NEW=EXISTING")?;
    if new.is_empty() || existing.is_empty() {
        return Err("expected NEW=EXISTING with both keys non-empty".into());
    }
    Ok((new.to_string(), existing.to_string()))
}

fn parse_rate(s: &str) -> Result<(u16, f64), String> {
    let (status, p) = s
        .split_once('=')
        .ok_or("expected STATUS=PROBABILITY, e.g. 500=0.1")?;
    let status: u16 = status
        .parse()
        .map_err(|_| format!("{status:?} is not a status code"))?;
    let p: f64 = p.parse().map_err(|_| format!("{p:?} is not a probability"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("{p} is not within [0, 1]"));
    }
    Ok((status, p))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!(e))?;
    let args = Args::parse();
    let fake = FakeClerk::start(FakeConfig {
        listen: args.listen,
        secret_keys: args.secret_keys,
        extra_keys: args.extra_keys,
        primary_domain: args.primary_domain,
        faults: Faults {
            error_rates: args.error_rates.into_iter().collect(),
            retry_after_secs: args.retry_after_secs,
            latency_ms: args.latency_ms,
            latency_min_ms: args.latency_min_ms,
            drop_rate: args.drop_rate,
            drop_after_commit_rate: args.drop_after_commit_rate,
            rate_limit: args.rate_limit,
            rate_limit_requests: args.rate_limit_requests,
            rate_limit_window_secs: args.rate_limit_window_secs,
            scripted: vec![],
        },
    })
    .await?;
    for key in &args.dmarc_keys {
        anyhow::ensure!(fake.set_dmarc(key, true), "--dmarc-key names no --secret-key");
    }
    for token in &args.platform_tokens {
        fake.add_platform_token(token);
    }
    tracing::info!(base_url = %fake.base_url(), "fake Clerk listening");
    println!("{}", fake.base_url());
    shutdown_signal().await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
