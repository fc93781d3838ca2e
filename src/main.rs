fn main() -> anyhow::Result<()> {
    // Before the runtime's threads exist.
    clerk_operator::malloc::configure();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.spawn(clerk_operator::malloc::trim_every(
        std::time::Duration::from_secs(60),
    ));
    runtime.block_on(clerk_operator::cli::main())
}
