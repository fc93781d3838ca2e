//! Scenario 4: the operator's peak RSS and CPU time at scale, including a full resync.

use crate::SCALE_KEY;
use crate::burst::{Burst, burst};
use crate::env::{Env, guard_for};
use crate::processes::{Fake, FakeStats, Operator, OperatorRun};
use anyhow::bail;
use clerk_operator::api::ClerkDomain;
use kube::api::Api;
use std::time::{Duration, Instant};
use test_kit::process::Usage;

/// The scale run: `n` objects, then one full resync.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scale {
    pub(crate) burst: Burst,
    pub(crate) resync: Duration,
    /// After the full resync.
    pub(crate) usage: Usage,
    pub(crate) resync_stats: FakeStats,
    /// A fresh operator process on the same Ready objects, after its initial reconciles.
    pub(crate) restart: Usage,
    /// Average size of one object as JSON from the API, and of its managedFields.
    pub(crate) object_bytes: f64,
    pub(crate) managed_fields_bytes: f64,
}

pub(crate) async fn scale(env: &Env, n: usize) -> anyhow::Result<Scale> {
    let ns = "bench-scale";
    let fake = Fake::start(&env.bins, &env.dir, "fake-scale", &[SCALE_KEY], false).await?;
    let api = env.namespace(ns).await?;
    let resync = env.args.scale_resync;
    let op = Operator::start(
        env,
        &fake,
        OperatorRun::new("operator-scale", ns, SCALE_KEY, resync),
    )
    .await?;
    let b = burst(env, &api, ns, n, &fake, &op).await?;
    eprintln!(
        "  {n} Ready in {:.1} s, peak RSS {:.1} MiB; waiting for a full resync",
        b.all_ready_secs,
        b.usage.hwm_kib as f64 / 1024.0
    );
    fake.reset().await?;
    let before = op.metrics().await?.reconciles();
    let start = Instant::now();
    while op.metrics().await?.reconciles() < before + n as f64 {
        if start.elapsed() > resync * 2 + guard_for(n) {
            bail!("no full resync\n{}", op.proc.log_tail(40));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    op.settle(Duration::from_secs(2)).await?;
    let usage = op.usage()?;
    let resync_stats = fake.stats().await?;
    drop(op);
    let (object_bytes, managed_fields_bytes) = weigh(&api).await?;
    // A fresh process on the same objects: the memory of the steady state without the burst.
    eprintln!("  restarting the operator on {n} Ready objects");
    let restart = restart(env, &fake, ns, n).await?;
    hold(env, &fake, ns).await?;
    Ok(Scale {
        burst: b,
        resync,
        usage,
        resync_stats,
        restart,
        object_bytes,
        managed_fields_bytes,
    })
}

/// What the objects weigh as the API serves them (the operator caches every one): the average
/// size of one as JSON, and of its managedFields, in bytes.
async fn weigh(api: &Api<ClerkDomain>) -> anyhow::Result<(f64, f64)> {
    let page = api.list(&kube::api::ListParams::default().limit(500)).await?;
    let count = page.items.len().max(1) as f64;
    let object_bytes = page
        .items
        .iter()
        .map(|o| serde_json::to_vec(o).map_or(0, |v| v.len()))
        .sum::<usize>() as f64
        / count;
    let managed_fields_bytes = page
        .items
        .iter()
        .map(|o| serde_json::to_vec(&o.metadata.managed_fields).map_or(0, |v| v.len()))
        .sum::<usize>() as f64
        / count;
    Ok((object_bytes, managed_fields_bytes))
}

/// The usage of a fresh operator process on the `n` Ready objects of `ns`, after its initial
/// reconciles.
async fn restart(env: &Env, fake: &Fake, ns: &str, n: usize) -> anyhow::Result<Usage> {
    let op = Operator::start(
        env,
        fake,
        OperatorRun::new("operator-scale-restart", ns, SCALE_KEY, Duration::from_secs(300)),
    )
    .await?;
    let start = Instant::now();
    while op.metrics().await?.reconciles() < n as f64 {
        if start.elapsed() > guard_for(n) {
            bail!("restart reconciles did not finish\n{}", op.proc.log_tail(40));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    op.settle(Duration::from_secs(2)).await?;
    let restart = op.usage()?;
    drop(op);
    Ok(restart)
}

/// `BENCH_ONLY=scale`: scenario 4 alone, at `BENCH_SCALE` (or `--objects`) objects, printed and
/// not written: for measuring a memory change without the other scenarios' 20 minutes.
pub(crate) async fn only(env: &Env, n: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        env.args.out.is_none(),
        "BENCH_ONLY=scale writes nothing: drop --out"
    );
    eprintln!("bench: 4. scale of {n} alone (BENCH_ONLY=scale)");
    let s = scale(env, n).await?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "scale {n}: all Ready in {:.1} s ({:.3} req/domain); peak RSS {:.1} MiB after the burst, \
         {:.1} MiB through a full resync ({:.1} MiB then, CPU {:.1} s); fresh process: peak \
         {:.1} MiB, RSS {:.1} MiB, CPU {:.1} s; objects {:.0} B as JSON",
        s.burst.all_ready_secs,
        s.burst.per_domain(),
        mib(s.burst.usage.hwm_kib),
        mib(s.usage.hwm_kib),
        mib(s.usage.rss_kib),
        s.usage.cpu_secs,
        mib(s.restart.hwm_kib),
        mib(s.restart.rss_kib),
        s.restart.cpu_secs,
        s.object_bytes,
    );
    Ok(())
}

/// `BENCH_HOLD=1`: keep the control plane and the fake up on the Ready objects (without an
/// operator) until Ctrl-C, so that operator builds can be measured on them in seconds.
async fn hold(env: &Env, fake: &Fake, ns: &str) -> anyhow::Result<()> {
    if std::env::var_os("BENCH_HOLD").is_none() {
        return Ok(());
    }
    eprintln!(
        "  holding (Ctrl-C ends): CLERK_SECRET_KEY={SCALE_KEY} clerk-operator run --kubeconfig={} \\\n    \
         --clerk-api-url={} --namespace={ns} --metrics-addr=127.0.0.1:0",
        env.cp.kubeconfig.display(),
        fake.api_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
