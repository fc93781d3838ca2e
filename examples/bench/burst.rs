//! Scenarios 1–3: a burst of new ClerkDomains, and the burst's objects idle in steady state.

use crate::LIVE_KEY;
use crate::env::{Env, domain, guard_for, pct};
use crate::processes::{Fake, FakeStats, Metrics, Operator, OperatorRun};
use crate::tracker::Tracker;
use anyhow::{Context as _, bail};
use clerk_operator::api::ClerkDomain;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant, SystemTime};
use test_kit::process::Usage;

/// What a burst of creates did.
#[derive(Clone, Debug, Default)]
pub(crate) struct Burst {
    pub(crate) objects: usize,
    /// Time to send every create.
    pub(crate) create_secs: f64,
    /// First create sent → last object Ready.
    pub(crate) all_ready_secs: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    /// Requests the fake saw from the first create until the operator settled.
    pub(crate) stats: FakeStats,
    pub(crate) metrics: Metrics,
    pub(crate) usage: Usage,
    /// Watch events (writes to the objects) seen.
    pub(crate) events: u64,
}

impl Burst {
    pub(crate) fn per_domain(&self) -> f64 {
        self.stats.total as f64 / self.objects as f64
    }
}

/// Create `n` ClerkDomains in `ns` at once (in_flight at a time) and wait until all are Ready.
pub(crate) async fn burst(
    env: &Env,
    api: &Api<ClerkDomain>,
    ns: &str,
    n: usize,
    fake: &Fake,
    op: &Operator,
) -> anyhow::Result<Burst> {
    let tracker = Tracker::start(api.clone()).await;
    fake.reset().await?;
    let names: Vec<String> = (0..n).map(|i| format!("d{i:05}")).collect();
    let started = Instant::now();
    let created: Vec<(String, Instant)> = futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let api = api.clone();
            let obj = domain(ns, &name);
            async move {
                let t0 = Instant::now();
                api.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| format!("create {ns}/{name}"))?;
                anyhow::Ok((name, t0))
            }
        })
        .buffer_unordered(env.args.in_flight)
        .try_collect()
        .await?;
    let create_secs = started.elapsed().as_secs_f64();
    eprintln!("  {n} created in {create_secs:.1} s; waiting for Ready");
    let wait = tracker
        .wait("all Ready", guard_for(n), |s| {
            names.iter().all(|name| s.ready.contains_key(name))
        })
        .await;
    if let Err(e) = wait {
        bail!("{e:#}\n{}", op.proc.log_tail(40));
    }
    let (mut lat, last) = {
        let s = tracker.seen.lock().unwrap();
        let lat: Vec<Duration> = created
            .iter()
            .map(|(name, t0)| s.ready[name].saturating_duration_since(*t0))
            .collect();
        let last = names.iter().map(|name| s.ready[name]).max().unwrap_or(started);
        let first = names.iter().map(|name| s.ready[name]).min().unwrap_or(started);
        eprintln!(
            "  first Ready after {:.2} s",
            first.saturating_duration_since(started).as_secs_f64()
        );
        (lat, last)
    };
    lat.sort();
    let all_ready_secs = last.saturating_duration_since(started).as_secs_f64();
    op.settle(Duration::from_secs(2)).await?;
    Ok(Burst {
        objects: n,
        create_secs,
        all_ready_secs,
        p50_ms: pct(&lat, 50.0),
        p99_ms: pct(&lat, 99.0),
        max_ms: pct(&lat, 100.0),
        stats: fake.stats().await?,
        metrics: op.metrics().await?,
        usage: op.usage()?,
        events: tracker.events(),
    })
}

/// Steady state of already Ready objects.
#[derive(Clone, Debug, Default)]
pub(crate) struct Steady {
    pub(crate) objects: usize,
    pub(crate) resync: Duration,
    pub(crate) periods: u32,
    pub(crate) window_secs: f64,
    pub(crate) stats: FakeStats,
    pub(crate) reconciles: f64,
    pub(crate) events: u64,
    /// Operator restart: Clerk requests and reconciles until it settled.
    pub(crate) startup_stats: FakeStats,
    pub(crate) usage: Usage,
}

impl Steady {
    pub(crate) fn lists_per_period(&self) -> f64 {
        self.stats.op("ListDomains") as f64 / self.periods as f64
    }
    /// Every request in the window, scaled to one hour at the default 5-minute resync.
    pub(crate) fn per_hour_default(&self) -> f64 {
        self.stats.total as f64 / self.periods as f64 * 12.0
    }
}

pub(crate) async fn steady(
    env: &Env,
    api: &Api<ClerkDomain>,
    ns: &str,
    n: usize,
    fake: &Fake,
) -> anyhow::Result<Steady> {
    let resync = env.args.steady_resync;
    let periods = env.args.steady_periods;
    fake.reset().await?;
    let op = Operator::start(
        env,
        fake,
        OperatorRun::new("operator-steady", ns, LIVE_KEY, resync),
    )
    .await?;
    // The restart reconciles every object once; wait for that to finish.
    let start = Instant::now();
    while op.metrics().await?.reconciles() < n as f64 {
        if start.elapsed() > guard_for(n) {
            bail!("startup reconciles did not finish\n{}", op.proc.log_tail(40));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    op.settle(Duration::from_secs(1)).await?;
    let startup_stats = fake.stats().await?;
    // Measure whole periods from the middle of one (resyncs are aligned to period boundaries).
    let p = resync.as_millis() as u64;
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_millis() as u64;
    let to_mid = (p + p / 2 - since % p) % p;
    tokio::time::sleep(Duration::from_millis(to_mid)).await;
    let tracker = Tracker::start(api.clone()).await;
    fake.reset().await?;
    let before = op.metrics().await?.reconciles();
    let t = Instant::now();
    tokio::time::sleep(resync * periods).await;
    let stats = fake.stats().await?;
    let window_secs = t.elapsed().as_secs_f64();
    let reconciles = op.metrics().await?.reconciles() - before;
    Ok(Steady {
        objects: n,
        resync,
        periods,
        window_secs,
        stats,
        reconciles,
        events: tracker.events(),
        startup_stats,
        usage: op.usage()?,
    })
}
