//! The test kit's fake Clerk Frontend API over TLS, for `make demo`: answers `GET /v1/health`
//! healthy for the hosts given after the first argument, on a free port of 127.0.0.1, with
//! certificates from a test CA made at start. Writes that CA (PEM) to the path given as the
//! first argument (the operator's `--extra-ca-file`), prints `ready PORT`, and runs until
//! SIGINT/SIGTERM.
#![warn(clippy::too_many_lines)]

use test_kit::fake_frontend_api::{Behaviour, FakeFrontendApi};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let ca_out = args.next().expect("usage: fake-frontend-api CA_PEM_PATH HOST...");
    let hosts: Vec<String> = args.collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let served: Vec<(&str, Behaviour)> = hosts.iter().map(|h| (h.as_str(), Behaviour::Healthy)).collect();
        let fapi = FakeFrontendApi::start(&served).await?;
        std::fs::write(&ca_out, fapi.ca_pem())?;
        println!("ready {}", fapi.addr().port());
        clerk_operator::telemetry::shutdown_signal().await;
        Ok(())
    })
}
