//! The run: every scenario in order, then the report.

use crate::burst::{Burst, Steady, burst, steady};
use crate::env::{Env, pct};
use crate::latency::{Latency, latency};
use crate::processes::{Fake, Operator, OperatorRun};
use crate::report::{report, write_between_markers};
use crate::scale::{Scale, scale};
use crate::{Args, LIVE_KEY, TEST_KEY, peer};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use test_kit::controlplane::ControlPlane;

pub(crate) struct Results {
    pub(crate) burst: Burst,
    pub(crate) burst_fast: Burst,
    pub(crate) throttled: Burst,
    pub(crate) steady: Steady,
    pub(crate) latency: Latency,
    pub(crate) peer: peer::Peer,
    pub(crate) scale: Option<Scale>,
}

pub(crate) async fn run(
    args: Args,
    cp: ControlPlane,
    bins: PathBuf,
    loadavg_start: String,
    total: Instant,
) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new().prefix("clerk-bench-").tempdir()?;
    let client = cp.client().await;
    let env = Env {
        args: args.clone(),
        cp,
        client,
        bins,
        dir: tmp.path().to_path_buf(),
    };
    let n = args.objects;
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("peer") => return peer::only(&env, n).await,
        Ok("scale") => return crate::scale::only(&env, args.scale.unwrap_or(n)).await,
        Ok("throttled") => {
            let bound = n as f64 / 10.0;
            return burst_only(&env, "throttled", Some(bound), throttled(&env, n)).await;
        }
        Ok("fast") => return burst_only(&env, "fast", None, burst_fast(&env, n)).await,
        _ => {}
    }
    let outcome = scenarios(&env, n).await;
    let results = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: logs kept in {}", tmp.keep().display());
            return Err(e);
        }
    };
    let loadavg_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let report = report(
        &env,
        &results,
        loadavg_start.trim(),
        loadavg_end.trim(),
        total.elapsed(),
    );
    println!("{report}");
    if let Some(out) = &args.out {
        write_between_markers(out, &report)?;
        eprintln!("bench: wrote {}", out.display());
    }
    if args.smoke {
        println!(
            "bench-smoke: ok, {} + {} + {} objects Ready, {} latency trials, sync script converged on {} domains, in {:.0} s",
            results.burst.objects,
            results.burst_fast.objects,
            results.throttled.objects,
            results.latency.trials,
            results.peer.objects,
            total.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The resync period of the burst runs (1, 1b, 2). Resyncs are aligned to multiples of the
/// period and come no sooner than a tenth of it, so with an hour none falls inside a burst:
/// with 300 s, a boundary that fell 60 s into run 2 resynced the 206 objects Ready by then
/// (2,206 reconciles for 1,000 new objects). Steady state is scenario 3's.
const BURST_RESYNC: Duration = Duration::from_secs(3600);

pub(crate) async fn scenarios(env: &Env, n: usize) -> anyhow::Result<Results> {
    // 1: burst, unthrottled fake, production key, the operator's default client-side limits.
    eprintln!("bench: 1. burst of {n} (unthrottled fake, production key)");
    let fake = Fake::start(&env.bins, &env.dir, "fake", &[LIVE_KEY], false).await?;
    let ns = "bench-burst";
    let api = env.namespace(ns).await?;
    let mut op = Operator::start(
        env,
        &fake,
        OperatorRun::new("operator-burst", ns, LIVE_KEY, BURST_RESYNC),
    )
    .await?;
    let burst1 = burst(env, &api, ns, n, &fake, &op).await?;
    eprintln!(
        "  all Ready in {:.1} s; {}",
        burst1.all_ready_secs,
        burst1.stats.by_op()
    );
    op.proc.stop();
    drop(op);

    // 1b: the same with the operator's own limit lifted: how fast the pipeline itself is.
    let burst_fast = burst_fast(env, n).await?;

    // 2: burst against a development instance's emulated limit.
    let throttled = throttled(env, n).await?;

    // 3: steady state of scenario 1's objects with a short resync period.
    eprintln!(
        "bench: 3. steady state of {n} Ready objects, resync {}s, {} periods",
        env.args.steady_resync.as_secs(),
        env.args.steady_periods
    );
    let steady = steady(env, &api, ns, n, &fake).await?;
    eprintln!(
        "  {:.1} lists per resync period; {}",
        steady.lists_per_period(),
        steady.stats.by_op()
    );

    // 5: single-object latency.
    let latency = single_latency(env, &fake).await?;
    drop(fake);

    // 6: side by side with a sync script (its own fakes).
    eprintln!("bench: 6. side by side: a sync script with Clerk's Python SDK, {n} domains");
    let peer = peer::run(env, n).await?;

    // 4: memory and CPU at scale.
    let scale = match env.args.scale {
        Some(s) if s > n => {
            eprintln!("bench: 4. scale run with {s} objects");
            Some(scale(env, s).await?)
        }
        _ => None,
    };
    Ok(Results {
        burst: burst1,
        burst_fast,
        throttled,
        steady,
        latency,
        peer,
        scale,
    })
}

// ---------------------------------------------------------------------------------------------

/// Run 1b: a burst of `n` with the operator's own client-side limit lifted.
async fn burst_fast(env: &Env, n: usize) -> anyhow::Result<Burst> {
    eprintln!("bench: 1b. burst of {n} (unthrottled fake, client-side limit lifted)");
    let lifted = vec!["--rate-limit-production=1000000/10s".into()];
    fresh_burst(env, n, "fast", LIVE_KEY, false, lifted).await
}

/// A burst of `n` against its own fake (`rate_limited`: emulating a development instance's
/// limit) and its own operator (`key`, flags `extra`), in namespace `bench-{name}`.
async fn fresh_burst(
    env: &Env,
    n: usize,
    name: &str,
    key: &str,
    rate_limited: bool,
    extra: Vec<String>,
) -> anyhow::Result<Burst> {
    let fake = Fake::start(&env.bins, &env.dir, &format!("fake-{name}"), &[key], rate_limited).await?;
    let ns = format!("bench-{name}");
    let api = env.namespace(&ns).await?;
    let op_name = format!("operator-{name}");
    let run = OperatorRun {
        extra,
        ..OperatorRun::new(&op_name, &ns, key, BURST_RESYNC)
    };
    let op = Operator::start(env, &fake, run).await?;
    let b = burst(env, &api, &ns, n, &fake, &op).await?;
    eprintln!(
        "  all Ready in {:.1} s; 429s {}; {}",
        b.all_ready_secs,
        b.stats.status("429"),
        b.stats.by_op()
    );
    Ok(b)
}

/// Run 5: single-object latency.
async fn single_latency(env: &Env, fake: &Fake) -> anyhow::Result<Latency> {
    eprintln!("bench: 5. single-object latency, {} trials", env.args.trials);
    let latency = latency(env, fake).await?;
    eprintln!(
        "  apply→Ready p50 {:.0} ms p99 {:.0} ms; spec→status p50 {:.0} ms p99 {:.0} ms",
        pct(&latency.ready, 50.0),
        pct(&latency.ready, 99.0),
        pct(&latency.update, 50.0),
        pct(&latency.update, 99.0)
    );
    Ok(latency)
}

/// Run 2: a burst of `n` against a development instance's emulated limit.
async fn throttled(env: &Env, n: usize) -> anyhow::Result<Burst> {
    eprintln!("bench: 2. burst of {n} (fake emulating 100 requests / 10 s, development key)");
    fresh_burst(env, n, "dev", TEST_KEY, true, vec![]).await
}

/// `BENCH_ONLY=fast` or `throttled`: run 1b or 2 alone, printed and not written. `bound` is
/// the rate-limit bound in seconds, when the run has one.
async fn burst_only(
    env: &Env,
    name: &str,
    bound: Option<f64>,
    run: impl std::future::Future<Output = anyhow::Result<Burst>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        env.args.out.is_none(),
        "BENCH_ONLY={name} writes nothing: drop --out"
    );
    let b = run.await?;
    let per = |x: f64| x / b.objects.max(1) as f64;
    let reconciles = b.metrics.reconciles();
    let mean_ms = 1000.0
        * b.metrics
            .sum("clerk_operator_reconcile_duration_seconds_sum", &[])
        / reconciles.max(1.0);
    let against = bound.map_or(String::new(), |s| {
        format!(" ({:.3} x the bound)", b.all_ready_secs / s)
    });
    println!(
        "{name}: {} objects created in {:.1} s, all Ready in {:.1} s{against} (p50 {:.0} ms, p99 {:.0} ms); \
         per object {:.3} requests, {:.2} writes, {:.2} reconciles; a reconcile {mean_ms:.1} ms on average; {}",
        b.objects,
        b.create_secs,
        b.all_ready_secs,
        b.p50_ms,
        b.p99_ms,
        b.per_domain(),
        per(b.events as f64),
        per(reconciles),
        b.metrics.summary()
    );
    Ok(())
}
