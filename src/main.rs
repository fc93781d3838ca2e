fn main() -> anyhow::Result<()> {
    // Before the runtime's threads exist.
    clerk_operator::malloc::configure();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(clerk_operator::cli::main())
}
