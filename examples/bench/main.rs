//! `make bench`: convergence, Clerk call economy, memory and latency of the operator at scale.
//!
//! Starts the real control plane (etcd, kube-apiserver, kube-controller-manager, see
//! `test_kit::controlplane`), `fake-clerk` and `clerk-operator` as separate processes
//! (the binaries next to this example's directory: `target/release` or `target/debug`), and runs:
//!
//! 1. a burst of `--objects` new ClerkDomains against an unthrottled fake (production key);
//!    1b. the same with the operator's client-side limit lifted (the pipeline's own speed);
//! 2. the burst against a fake emulating a development instance's limit (100 requests / 10 s);
//! 3. steady state: the burst's Ready objects idle for whole resync periods;
//! 4. the operator's peak RSS and CPU time after 1 and at `--scale` objects (incl. a full resync);
//! 5. single-object latency: apply→Ready and spec change→status, `--trials` times in a row;
//! 6. side by side: a sync script with Clerk's Python SDK against the same fake (`peer.rs`).
//!
//! `--smoke` runs everything small (50 objects, 10 trials) and only checks that it completes
//! and every object becomes Ready. `--out FILE` writes the results between the markers of
//! FILE (BENCHMARKS.md), keeping the hand-written text around them. Nothing here asserts on
//! timings; the only time limits are generous guards against a hung run.
#![warn(clippy::too_many_lines)]

#[allow(dead_code)]
mod burst;
mod env;
mod latency;
mod peer;
mod processes;
mod report;
mod scale;
mod scenarios;
mod targets;
mod tracker;

use anyhow::{Context as _, bail};
use clap::Parser;
use scenarios::run;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use test_kit::controlplane::ControlPlane;

pub(crate) const BEGIN: &str = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->";
pub(crate) const END: &str = "<!-- bench:end -->";

/// Benchmarks of clerk-operator against a real control plane and fake-clerk.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench")]
pub(crate) struct Args {
    /// ClerkDomains in scenarios 1–3 (and the first memory point).
    #[arg(long, env = "BENCH_OBJECTS", default_value_t = 1000)]
    pub(crate) objects: usize,
    /// Largest scale of scenario 4: above --objects, one more run at this many ClerkDomains.
    #[arg(long, env = "BENCH_SCALE")]
    pub(crate) scale: Option<usize>,
    /// Sequential trials of scenario 5.
    #[arg(long, env = "BENCH_TRIALS", default_value_t = 100)]
    pub(crate) trials: usize,
    /// Small and quick (50 objects, 10 trials, short resync); writes nothing.
    #[arg(long)]
    pub(crate) smoke: bool,
    /// Write the results into this Markdown file (between the bench markers).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// The operator's --concurrency.
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 8)]
    pub(crate) concurrency: u16,
    /// ClerkDomain creates in flight at once.
    #[arg(long, env = "BENCH_IN_FLIGHT", default_value_t = 32)]
    pub(crate) in_flight: usize,
    /// Resync period of the steady-state run (scenario 3).
    #[arg(long, env = "BENCH_STEADY_RESYNC", default_value = "20s", value_parser = humantime::parse_duration)]
    pub(crate) steady_resync: Duration,
    /// Whole resync periods measured in steady state.
    #[arg(long, env = "BENCH_STEADY_PERIODS", default_value_t = 3)]
    pub(crate) steady_periods: u32,
    /// Resync period of the scale run, so that its peak includes a full resync.
    #[arg(long, env = "BENCH_SCALE_RESYNC", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) scale_resync: Duration,
    /// Directory of the clerk-operator and fake-clerk binaries (default: next to this example).
    #[arg(long, env = "BENCH_BIN_DIR")]
    pub(crate) bin_dir: Option<PathBuf>,
    /// The command line to record in the results.
    #[arg(long, env = "BENCH_COMMAND")]
    pub(crate) command: Option<String>,
}

pub(crate) const LIVE_KEY: &str = "sk_live_bench_production_0001";
pub(crate) const TEST_KEY: &str = "sk_test_bench_development_0002";
pub(crate) const SCALE_KEY: &str = "sk_live_bench_scale_0003";

pub(crate) fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.objects = 50;
        args.trials = 10;
        args.scale = None;
        args.steady_resync = Duration::from_secs(5);
        args.steady_periods = 2;
        args.scale_resync = Duration::from_secs(10);
        if args.out.is_some() {
            bail!("--smoke writes nothing: drop --out");
        }
    }
    clerk_operator::install_crypto_provider();
    let bins = bin_dir(&args)?;
    let loadavg_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "bench: starting the control plane (binaries from {})",
        bins.display()
    );
    // On this (the main) thread: the harness's children die with the thread that started them
    // (PR_SET_PDEATHSIG), so not on a blocking-pool thread that exits when idle. Every process
    // below is started from the future that `block_on` polls on this thread too.
    let total = Instant::now();
    let cp = ControlPlane::start();
    cp.install_crds();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args, cp, bins, loadavg_start, total))
}

pub(crate) fn bin_dir(args: &Args) -> anyhow::Result<PathBuf> {
    let bins = match &args.bin_dir {
        Some(d) => d.clone(),
        None => {
            let exe = std::env::current_exe()?;
            // target/<profile>/examples/bench -> target/<profile>
            exe.parent()
                .and_then(Path::parent)
                .context("binary directory")?
                .to_path_buf()
        }
    };
    for b in ["clerk-operator", "fake-clerk"] {
        anyhow::ensure!(
            bins.join(b).exists(),
            "{} missing: build the binaries first (cargo build --bins [--release])",
            bins.join(b).display()
        );
    }
    Ok(bins)
}
