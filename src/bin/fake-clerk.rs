//! `fake-clerk`: a stateful fake of Clerk's Backend API domain endpoints for local runs and CI.

use clap::Parser;
use clerk_operator::fake::{FakeClerk, FakeConfig};
use std::net::SocketAddr;

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
    /// Name of each instance's primary domain.
    #[arg(long, default_value = "example.com")]
    primary_domain: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clerk_operator::telemetry::init(clerk_operator::telemetry::LogFormat::Text, "info")?;
    let args = Args::parse();
    let fake = FakeClerk::start(FakeConfig {
        listen: args.listen,
        secret_keys: args.secret_keys,
        primary_domain: args.primary_domain,
    })
    .await?;
    tracing::info!(base_url = %fake.base_url(), "fake Clerk listening");
    println!("{}", fake.base_url());
    clerk_operator::telemetry::shutdown_signal().await;
    Ok(())
}
