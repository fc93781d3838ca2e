#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clerk_operator::cli::main().await
}
