// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clerk_operator::cli::main().await
}
