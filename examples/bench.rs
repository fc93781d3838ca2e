//! `make bench`: convergence, Clerk call economy, memory and latency of the operator at scale.
//!
//! Starts the real control plane (etcd, kube-apiserver, kube-controller-manager, see
//! `tests/support/controlplane.rs`), `fake-clerk` and `clerk-operator` as separate processes
//! (the binaries next to this example's directory: `target/release` or `target/debug`), and runs:
//!
//! 1. a burst of `--objects` new ClerkDomains against an unthrottled fake (production key);
//!    1b. the same with the operator's client-side limit lifted (the pipeline's own speed);
//! 2. the burst against a fake emulating a development instance's limit (100 requests / 10 s);
//! 3. steady state: the burst's Ready objects idle for whole resync periods;
//! 4. the operator's peak RSS and CPU time after 1 and at `--scale` objects (incl. a full resync);
//! 5. single-object latency: apply→Ready and spec change→status, `--trials` times in a row.
//!
//! `--smoke` runs everything small (50 objects, 10 trials) and only checks that it completes
//! and every object becomes Ready. `--out FILE` writes the results between the markers of
//! FILE (BENCHMARKS.md), keeping the hand-written text around them. Nothing here asserts on
//! timings; the only time limits are generous guards against a hung run.

#[allow(dead_code)]
#[path = "../tests/support/controlplane.rs"]
mod controlplane;

use anyhow::{Context as _, bail};
use clap::Parser;
use clerk_operator::api::{ClerkDomain, ClerkDomainSpec, DeletionPolicy};
use controlplane::{ControlPlane, free_port};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const BEGIN: &str = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->";
const END: &str = "<!-- bench:end -->";

/// Benchmarks of clerk-operator against a real control plane and fake-clerk.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench")]
struct Args {
    /// ClerkDomains in scenarios 1–3 (and the first memory point).
    #[arg(long, env = "BENCH_OBJECTS", default_value_t = 1000)]
    objects: usize,
    /// Largest scale of scenario 4: above --objects, one more run at this many ClerkDomains.
    #[arg(long, env = "BENCH_SCALE")]
    scale: Option<usize>,
    /// Sequential trials of scenario 5.
    #[arg(long, env = "BENCH_TRIALS", default_value_t = 100)]
    trials: usize,
    /// Small and quick (50 objects, 10 trials, short resync); writes nothing.
    #[arg(long)]
    smoke: bool,
    /// Write the results into this Markdown file (between the bench markers).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The operator's --concurrency.
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 8)]
    concurrency: u16,
    /// ClerkDomain creates in flight at once.
    #[arg(long, env = "BENCH_IN_FLIGHT", default_value_t = 32)]
    in_flight: usize,
    /// Resync period of the steady-state run (scenario 3).
    #[arg(long, env = "BENCH_STEADY_RESYNC", default_value = "20s", value_parser = humantime::parse_duration)]
    steady_resync: Duration,
    /// Whole resync periods measured in steady state.
    #[arg(long, env = "BENCH_STEADY_PERIODS", default_value_t = 3)]
    steady_periods: u32,
    /// Resync period of the scale run, so that its peak includes a full resync.
    #[arg(long, env = "BENCH_SCALE_RESYNC", default_value = "60s", value_parser = humantime::parse_duration)]
    scale_resync: Duration,
    /// Directory of the clerk-operator and fake-clerk binaries (default: next to this example).
    #[arg(long, env = "BENCH_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// The command line to record in the results.
    #[arg(long, env = "BENCH_COMMAND")]
    command: Option<String>,
}

const LIVE_KEY: &str = "sk_live_bench_production_0001";
const TEST_KEY: &str = "sk_test_bench_development_0002";
const SCALE_KEY: &str = "sk_live_bench_scale_0003";

fn main() -> anyhow::Result<()> {
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

fn bin_dir(args: &Args) -> anyhow::Result<PathBuf> {
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

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let logf = std::fs::File::create(&log)?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_clear()
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf);
        for (k, v) in env {
            cmd.env(k, v);
        }
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            // Die with the benchmark even if it is killed before Drop runs.
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {name} ({})", bin.display()))?;
        Ok(Self {
            name: name.into(),
            child,
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last {n} lines of {} ---\n{}",
            self.name,
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, up to 10 s for a graceful exit, then SIGKILL.
    fn stop(&mut self) {
        if !self.running() {
            return;
        }
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resource use of a process from /proc.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    /// Peak resident set (VmHWM), KiB.
    hwm_kib: u64,
    /// Current resident set (VmRSS), KiB.
    rss_kib: u64,
    /// utime + stime, seconds.
    cpu_secs: f64,
}

fn usage(pid: u32) -> anyhow::Result<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> u64 { f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    // utime and stime are fields 14 and 15; `f[0]` is field 3.
    let clk = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Usage {
        hwm_kib: field("VmHWM:"),
        rss_kib: field("VmRSS:"),
        cpu_secs: (ticks(11) + ticks(12)) as f64 / clk,
    })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// `fake-clerk` on a free loopback port.
struct Fake {
    proc: Proc,
    base: String,
}

/// What the fake counted.
#[derive(Clone, Debug, Default)]
struct FakeStats {
    /// operation -> status -> count.
    requests: BTreeMap<String, BTreeMap<String, u64>>,
    total: u64,
    rate_limited: u64,
}

impl FakeStats {
    fn op(&self, op: &str) -> u64 {
        self.requests.get(op).map_or(0, |m| m.values().sum())
    }

    fn status(&self, status: &str) -> u64 {
        self.requests
            .values()
            .map(|m| m.get(status).copied().unwrap_or(0))
            .sum()
    }

    fn by_op(&self) -> String {
        let parts: Vec<String> = self
            .requests
            .iter()
            .map(|(op, m)| {
                let statuses: Vec<String> = m.iter().map(|(s, n)| format!("{s}×{n}")).collect();
                format!("{op} {} ({})", m.values().sum::<u64>(), statuses.join(", "))
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    }
}

impl Fake {
    async fn start(
        bins: &Path,
        dir: &Path,
        name: &str,
        keys: &[&str],
        rate_limit: bool,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let mut args = vec![format!("--listen=127.0.0.1:{port}")];
        for k in keys {
            args.push(format!("--secret-key={k}"));
        }
        if rate_limit {
            args.push("--rate-limit".into());
        }
        let proc = Proc::spawn(
            name,
            &bins.join("fake-clerk"),
            &args,
            &[("RUST_LOG", "warn")],
            dir.join(format!("{name}.log")),
        )?;
        let fake = Fake {
            proc,
            base: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = http().get(format!("{}/__fake/healthz", fake.base)).send().await
                && r.status().is_success()
            {
                return Ok(fake);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("fake-clerk did not answer\n{}", fake.proc.log_tail(20));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn api_url(&self) -> String {
        format!("{}/v1", self.base)
    }

    async fn stats(&self) -> anyhow::Result<FakeStats> {
        let v: Value = http()
            .get(format!("{}/__fake/stats", self.base))
            .send()
            .await?
            .json()
            .await?;
        let mut stats = FakeStats {
            total: v["total"].as_u64().unwrap_or(0),
            rate_limited: v["faults"]["rate_limited"].as_u64().unwrap_or(0),
            ..Default::default()
        };
        if let Some(ops) = v["requests"].as_object() {
            for (op, statuses) in ops {
                let m = stats.requests.entry(op.clone()).or_default();
                for (s, n) in statuses.as_object().into_iter().flatten() {
                    m.insert(s.clone(), n.as_u64().unwrap_or(0));
                }
            }
        }
        Ok(stats)
    }

    async fn reset(&self) -> anyhow::Result<()> {
        let r = http()
            .delete(format!("{}/__fake/stats", self.base))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "reset stats: {}", r.status());
        Ok(())
    }
}

/// How to run one operator process.
struct OperatorRun<'a> {
    name: &'a str,
    namespace: &'a str,
    key: &'a str,
    resync: Duration,
    extra: Vec<String>,
}

/// `clerk-operator run` watching one namespace.
struct Operator {
    proc: Proc,
    metrics_url: String,
}

impl Operator {
    async fn start(env: &Env, fake: &Fake, run: OperatorRun<'_>) -> anyhow::Result<Self> {
        let port = free_port();
        let mut args = vec![
            "run".to_string(),
            format!("--kubeconfig={}", env.cp.kubeconfig.display()),
            format!("--clerk-api-url={}", fake.api_url()),
            format!("--metrics-addr=127.0.0.1:{port}"),
            format!("--resync-period={}s", run.resync.as_secs()),
            format!("--concurrency={}", env.args.concurrency),
            format!("--namespace={}", run.namespace),
            "--log-level=info".into(),
        ];
        args.extend(run.extra);
        let proc = Proc::spawn(
            run.name,
            &env.bins.join("clerk-operator"),
            &args,
            &[("CLERK_SECRET_KEY", run.key), ("POD_NAME", run.name)],
            env.dir.join(format!("{}.log", run.name)),
        )?;
        let mut op = Operator {
            proc,
            metrics_url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = http().get(format!("{}/readyz", op.metrics_url)).send().await
                && r.status().is_success()
            {
                return Ok(op);
            }
            if !op.proc.running() || start.elapsed() > Duration::from_secs(60) {
                bail!("operator {} not ready\n{}", run.name, op.proc.log_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn usage(&self) -> anyhow::Result<Usage> {
        usage(self.proc.pid())
    }

    async fn metrics(&self) -> anyhow::Result<Metrics> {
        let body = http()
            .get(format!("{}/metrics", self.metrics_url))
            .send()
            .await?
            .text()
            .await?;
        Ok(Metrics(
            body.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.to_string(), value.parse().ok()?))
                })
                .collect(),
        ))
    }

    /// Wait until the reconcile count holds still for `quiet` (at most two minutes).
    async fn settle(&self, quiet: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = self.metrics().await?.sum("clerk_operator_reconciles_total", &[]);
        loop {
            tokio::time::sleep(quiet).await;
            let now = self.metrics().await?.sum("clerk_operator_reconciles_total", &[]);
            if now == last || start.elapsed() > Duration::from_secs(120) {
                return Ok(());
            }
            last = now;
        }
    }
}

/// Samples of the operator's /metrics.
#[derive(Clone, Debug, Default)]
struct Metrics(Vec<(String, f64)>);

impl Metrics {
    /// Sum of the samples named `name` whose labels contain every one of `labels`.
    fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    }

    fn reconciles(&self) -> f64 {
        self.sum("clerk_operator_reconciles_total", &[])
    }

    fn summary(&self) -> String {
        let reconciles: Vec<String> = ["success", "failure", "error"]
            .iter()
            .map(|r| {
                format!(
                    "{r} {}",
                    self.sum("clerk_operator_reconciles_total", &[&format!("result=\"{r}\"")])
                )
            })
            .collect();
        format!(
            "reconciles: {}; list cache hits {}; rate limiter wait {:.1} s; retries {}",
            reconciles.join(", "),
            self.sum("clerk_operator_clerk_list_cache_hits_total", &[]),
            self.sum("clerk_operator_clerk_rate_limiter_wait_seconds_total", &[]),
            self.sum("clerk_operator_clerk_retries_total", &[]),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Watching ClerkDomains

#[derive(Default)]
struct Seen {
    /// When Ready=True was first seen, by name.
    ready: HashMap<String, Instant>,
    /// When `observedGeneration == generation` with Synced=True was first seen, by name.
    synced_gen: HashMap<(String, i64), Instant>,
    /// Watch events (object writes) seen after the initial list.
    events: u64,
}

/// A watch on one namespace's ClerkDomains, timestamping what it sees.
struct Tracker {
    seen: Arc<Mutex<Seen>>,
    changed: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

fn cond_true(o: &ClerkDomain, type_: &str) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

impl Tracker {
    async fn start(api: Api<ClerkDomain>) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let changed = Arc::new(tokio::sync::Notify::new());
        let (init_tx, init_rx) = tokio::sync::oneshot::channel();
        let task = {
            let seen = seen.clone();
            let changed = changed.clone();
            tokio::spawn(async move {
                let mut init_tx = Some(init_tx);
                let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
                while let Some(ev) = stream.next().await {
                    let now = Instant::now();
                    let (obj, live) = match ev {
                        Ok(watcher::Event::Apply(o)) => (o, true),
                        Ok(watcher::Event::InitApply(o)) => (o, false),
                        Ok(watcher::Event::InitDone) => {
                            if let Some(tx) = init_tx.take() {
                                let _ = tx.send(());
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    let name = obj.name_any();
                    if live && std::env::var("BENCH_TRACE").is_ok_and(|t| t == name) {
                        let conds: Vec<String> = obj
                            .status
                            .iter()
                            .flat_map(|st| &st.conditions)
                            .map(|c| format!("{}={}/{}", c.type_, c.status, c.reason))
                            .collect();
                        eprintln!(
                            "  trace {name}: rv {:?} gen {:?} finalizers {:?} observedGen {:?} {conds:?}",
                            obj.metadata.resource_version,
                            obj.metadata.generation,
                            obj.metadata.finalizers,
                            obj.status.as_ref().and_then(|s| s.observed_generation),
                        );
                    }
                    let mut s = seen.lock().unwrap();
                    if live {
                        s.events += 1;
                    }
                    if cond_true(&obj, "Ready") {
                        s.ready.entry(name.clone()).or_insert(now);
                    }
                    let observed = obj.status.as_ref().and_then(|st| st.observed_generation);
                    if let (Some(g), Some(og)) = (obj.metadata.generation, observed)
                        && g == og
                        && cond_true(&obj, "Synced")
                    {
                        s.synced_gen.entry((name, g)).or_insert(now);
                    }
                    drop(s);
                    changed.notify_waiters();
                }
            })
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), init_rx).await;
        Tracker { seen, changed, task }
    }

    fn events(&self) -> u64 {
        self.seen.lock().unwrap().events
    }

    /// Wait until `done` holds for what was seen, or fail after `guard`.
    async fn wait(&self, what: &str, guard: Duration, done: impl Fn(&Seen) -> bool) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let notified = self.changed.notified();
            if done(&self.seen.lock().unwrap()) {
                return Ok(());
            }
            if start.elapsed() > guard {
                bail!("not {what} after {guard:?} (a guard against a hung run, not a timing target)");
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

struct Env {
    args: Args,
    cp: ControlPlane,
    client: Client,
    bins: PathBuf,
    dir: PathBuf,
}

impl Env {
    async fn namespace(&self, name: &str) -> anyhow::Result<Api<ClerkDomain>> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.into());
        nss.create(&PostParams::default(), &ns)
            .await
            .map_err(|e| anyhow::anyhow!("create namespace {name}: {e:?}"))?;
        Ok(Api::namespaced(self.client.clone(), name))
    }
}

fn domain(ns: &str, name: &str) -> ClerkDomain {
    let mut d = ClerkDomain::new(
        name,
        ClerkDomainSpec {
            domain: format!("{name}.{ns}.example.com"),
            is_satellite: true,
            proxy_url: None,
            is_secondary: None,
            secret_ref: None,
            instance_ref: None,
            deletion_policy: DeletionPolicy::Delete,
            dns: None,
            export: None,
        },
    );
    d.metadata.namespace = Some(ns.into());
    d
}

fn guard_for(n: usize) -> Duration {
    Duration::from_secs(600) + Duration::from_millis(200) * n as u32
}

/// Percentile (nearest rank) of sorted durations, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// What a burst of creates did.
#[derive(Clone, Debug, Default)]
struct Burst {
    objects: usize,
    /// Time to send every create.
    create_secs: f64,
    /// First create sent → last object Ready.
    all_ready_secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Requests the fake saw from the first create until the operator settled.
    stats: FakeStats,
    metrics: Metrics,
    usage: Usage,
    /// Watch events (writes to the objects) seen.
    events: u64,
}

impl Burst {
    fn per_domain(&self) -> f64 {
        self.stats.total as f64 / self.objects as f64
    }
}

/// Create `n` ClerkDomains in `ns` at once (in_flight at a time) and wait until all are Ready.
async fn burst(
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
struct Steady {
    objects: usize,
    resync: Duration,
    periods: u32,
    window_secs: f64,
    stats: FakeStats,
    reconciles: f64,
    events: u64,
    /// Operator restart: Clerk requests and reconciles until it settled.
    startup_stats: FakeStats,
    usage: Usage,
}

impl Steady {
    fn lists_per_period(&self) -> f64 {
        self.stats.op("ListDomains") as f64 / self.periods as f64
    }
    /// Every request in the window, scaled to one hour at the default 5-minute resync.
    fn per_hour_default(&self) -> f64 {
        self.stats.total as f64 / self.periods as f64 * 12.0
    }
}

async fn steady(
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
        OperatorRun {
            name: "operator-steady",
            namespace: ns,
            key: LIVE_KEY,
            resync,
            extra: vec![],
        },
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

/// Sequential single-object latencies.
#[derive(Clone, Debug, Default)]
struct Latency {
    trials: usize,
    ready: Vec<Duration>,
    update: Vec<Duration>,
    usage: Usage,
}

async fn latency(env: &Env, fake: &Fake) -> anyhow::Result<Latency> {
    let ns = "bench-latency";
    let api = env.namespace(ns).await?;
    let op = Operator::start(
        env,
        fake,
        OperatorRun {
            name: "operator-latency",
            namespace: ns,
            key: LIVE_KEY,
            resync: Duration::from_secs(300),
            extra: vec![],
        },
    )
    .await?;
    let tracker = Tracker::start(api.clone()).await;
    let mut out = Latency {
        trials: env.args.trials,
        ..Default::default()
    };
    let guard = Duration::from_secs(120);
    for i in 0..env.args.trials {
        let name = format!("l{i:04}");
        let t0 = Instant::now();
        api.create(&PostParams::default(), &domain(ns, &name)).await?;
        let r = tracker
            .wait("Ready", guard, |s| s.ready.contains_key(&name))
            .await;
        if let Err(e) = r {
            bail!("{e:#}\n{}", op.proc.log_tail(40));
        }
        out.ready
            .push(tracker.seen.lock().unwrap().ready[&name].saturating_duration_since(t0));
        let t1 = Instant::now();
        let patched = api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"isSecondary": true}})),
            )
            .await?;
        let generation = patched.metadata.generation.unwrap_or(2);
        let key = (name.clone(), generation);
        let r = tracker
            .wait("synced after the spec change", guard, |s| {
                s.synced_gen.contains_key(&key)
            })
            .await;
        if let Err(e) = r {
            bail!("{e:#}\n{}", op.proc.log_tail(40));
        }
        out.update
            .push(tracker.seen.lock().unwrap().synced_gen[&key].saturating_duration_since(t1));
    }
    out.ready.sort();
    out.update.sort();
    out.usage = op.usage()?;
    Ok(out)
}

/// The scale run: `n` objects, then one full resync.
#[derive(Clone, Debug, Default)]
struct Scale {
    burst: Burst,
    resync: Duration,
    /// After the full resync.
    usage: Usage,
    resync_stats: FakeStats,
    /// A fresh operator process on the same Ready objects, after its initial reconciles.
    restart: Usage,
    /// Average size of one object as JSON from the API, and of its managedFields.
    object_bytes: f64,
    managed_fields_bytes: f64,
}

async fn scale(env: &Env, n: usize) -> anyhow::Result<Scale> {
    let ns = "bench-scale";
    let fake = Fake::start(&env.bins, &env.dir, "fake-scale", &[SCALE_KEY], false).await?;
    let api = env.namespace(ns).await?;
    let resync = env.args.scale_resync;
    let op = Operator::start(
        env,
        &fake,
        OperatorRun {
            name: "operator-scale",
            namespace: ns,
            key: SCALE_KEY,
            resync,
            extra: vec![],
        },
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
    // What the objects weigh as the API serves them (the operator caches every one).
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
    // A fresh process on the same objects: the memory of the steady state without the burst.
    eprintln!("  restarting the operator on {n} Ready objects");
    let op = Operator::start(
        env,
        &fake,
        OperatorRun {
            name: "operator-scale-restart",
            namespace: ns,
            key: SCALE_KEY,
            resync: Duration::from_secs(300),
            extra: vec![],
        },
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
    Ok(Scale {
        burst: b,
        resync,
        usage,
        resync_stats,
        restart: op.usage()?,
        object_bytes,
        managed_fields_bytes,
    })
}

struct Results {
    burst: Burst,
    burst_fast: Burst,
    throttled: Burst,
    steady: Steady,
    latency: Latency,
    scale: Option<Scale>,
}

async fn run(
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
            "bench-smoke: ok, {} + {} + {} objects Ready, {} latency trials, in {:.0} s",
            results.burst.objects,
            results.burst_fast.objects,
            results.throttled.objects,
            results.latency.trials,
            total.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

async fn scenarios(env: &Env, n: usize) -> anyhow::Result<Results> {
    // 1: burst, unthrottled fake, production key, the operator's default client-side limits.
    eprintln!("bench: 1. burst of {n} (unthrottled fake, production key)");
    let fake = Fake::start(&env.bins, &env.dir, "fake", &[LIVE_KEY], false).await?;
    let ns = "bench-burst";
    let api = env.namespace(ns).await?;
    let mut op = Operator::start(
        env,
        &fake,
        OperatorRun {
            name: "operator-burst",
            namespace: ns,
            key: LIVE_KEY,
            resync: Duration::from_secs(300),
            extra: vec![],
        },
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
    eprintln!("bench: 1b. burst of {n} (unthrottled fake, client-side limit lifted)");
    let fake_b = Fake::start(&env.bins, &env.dir, "fake-fast", &[LIVE_KEY], false).await?;
    let ns_b = "bench-fast";
    let api_b = env.namespace(ns_b).await?;
    let op_b = Operator::start(
        env,
        &fake_b,
        OperatorRun {
            name: "operator-fast",
            namespace: ns_b,
            key: LIVE_KEY,
            resync: Duration::from_secs(300),
            extra: vec!["--rate-limit-production=1000000/10s".into()],
        },
    )
    .await?;
    let burst_fast = burst(env, &api_b, ns_b, n, &fake_b, &op_b).await?;
    eprintln!("  all Ready in {:.1} s", burst_fast.all_ready_secs);
    drop(op_b);
    drop(fake_b);

    // 2: burst against a development instance's emulated limit.
    eprintln!("bench: 2. burst of {n} (fake emulating 100 requests / 10 s, development key)");
    let fake_dev = Fake::start(&env.bins, &env.dir, "fake-dev", &[TEST_KEY], true).await?;
    let ns_dev = "bench-dev";
    let api_dev = env.namespace(ns_dev).await?;
    let op_dev = Operator::start(
        env,
        &fake_dev,
        OperatorRun {
            name: "operator-dev",
            namespace: ns_dev,
            key: TEST_KEY,
            resync: Duration::from_secs(300),
            extra: vec![],
        },
    )
    .await?;
    let throttled = burst(env, &api_dev, ns_dev, n, &fake_dev, &op_dev).await?;
    eprintln!(
        "  all Ready in {:.1} s; 429s {}; {}",
        throttled.all_ready_secs,
        throttled.stats.status("429"),
        throttled.stats.by_op()
    );
    drop(op_dev);
    drop(fake_dev);

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
    eprintln!("bench: 5. single-object latency, {} trials", env.args.trials);
    let latency = latency(env, &fake).await?;
    eprintln!(
        "  apply→Ready p50 {:.0} ms p99 {:.0} ms; spec→status p50 {:.0} ms p99 {:.0} ms",
        pct(&latency.ready, 50.0),
        pct(&latency.ready, 99.0),
        pct(&latency.update, 50.0),
        pct(&latency.update, 99.0)
    );
    drop(fake);

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
        scale,
    })
}

// ---------------------------------------------------------------------------------------------
// Report

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> (String, String, String) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    (cpus.to_string(), mem, model)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "**miss**" }
}

fn report(env: &Env, r: &Results, load_start: &str, load_end: &str, took: Duration) -> String {
    let a = &env.args;
    let (cpus, mem, model) = machine();
    let kube = {
        let out = env.cp.kubectl(&["version", "-o", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        format!(
            "kube-apiserver {}, kubectl {}",
            v["serverVersion"]["gitVersion"].as_str().unwrap_or("unknown"),
            v["clientVersion"]["gitVersion"].as_str().unwrap_or("unknown")
        )
    };
    let dirty = if cmd_out("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (working tree with uncommitted changes)"
    };
    let commit = format!("{}{dirty}", cmd_out("git", &["rev-parse", "--short=12", "HEAD"]));
    let profile = env
        .bins
        .file_name()
        .map_or("?".into(), |p| p.to_string_lossy().to_string());
    let command = a.command.clone().unwrap_or_else(|| {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let release = if profile == "release" { " --release" } else { "" };
        format!("cargo run{release} --example bench -- {}", argv.join(" "))
    });
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string();
    let n = r.burst.objects;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "## Results\n");
    let _ = writeln!(
        w,
        "- Date: {date}; the whole run took {:.0} s",
        took.as_secs_f64()
    );
    let _ = writeln!(w, "- Command: `{command}`");
    let _ = writeln!(
        w,
        "- Machine: {cpus} CPUs ({model}), {mem} memory; load average at start `{load_start}`, at end `{load_end}`"
    );
    let _ = writeln!(
        w,
        "- Versions: clerk-operator {} at commit {commit}, {} build; {}; {kube}",
        env!("CARGO_PKG_VERSION"),
        profile,
        cmd_out("rustc", &["-V"])
    );
    let _ = writeln!(
        w,
        "- Setup: operator `--concurrency {}` watching one namespace per run, default list-cache TTL (5 s) and client-side limits (100/10 s development, 1000/10 s production) unless noted; {} creates in flight; apply = the create request sent, Ready = `Ready=True` first seen by a watch\n",
        a.concurrency, a.in_flight
    );

    let _ = writeln!(w, "### 1–2. New ClerkDomains at once\n");
    let _ = writeln!(
        w,
        "| run | objects | creates sent in | all Ready after | apply→Ready p50 / p99 / max | Clerk requests (fake) | per domain | 429s | writes per object | operator |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---|---|---:|---:|---:|---|");
    for (label, b) in [
        ("1. unthrottled fake, production key", &r.burst),
        ("1b. as 1, operator's client-side limit lifted", &r.burst_fast),
        ("2. fake at 100 req / 10 s, development key", &r.throttled),
    ] {
        let _ = writeln!(
            w,
            "| {label} | {} | {:.1} s | {:.1} s | {:.0} / {:.0} / {:.0} ms | {} — {} | {:.3} | {} (emulator: {}) | {:.2} | {}; peak RSS {:.1} MiB, CPU {:.1} s |",
            b.objects,
            b.create_secs,
            b.all_ready_secs,
            b.p50_ms,
            b.p99_ms,
            b.max_ms,
            b.stats.total,
            b.stats.by_op(),
            b.per_domain(),
            b.stats.status("429"),
            b.stats.rate_limited,
            b.events as f64 / b.objects as f64,
            b.metrics.summary(),
            mib(b.usage.hwm_kib),
            b.usage.cpu_secs
        );
    }
    let _ = writeln!(
        w,
        "\nWrites per object: watch events per object (the create itself, the finalizer and status writes count; Kubernetes Events do not). 429s: as the fake answered them (and as its rate-limit emulator counted them)."
    );
    let bound = n as f64 / 10.0;
    let _ = writeln!(
        w,
        "\nRate-limit bound for run 2: {n} domains / (100 requests / 10 s) = {bound:.0} s; all Ready after {:.1} s = {:.3} × the bound. Run 1's bound from the operator's own production limit: {:.0} s.\n",
        r.throttled.all_ready_secs,
        r.throttled.all_ready_secs / bound,
        n as f64 / 100.0
    );

    let st = &r.steady;
    let _ = writeln!(w, "### 3. Steady state\n");
    let _ = writeln!(
        w,
        "{} Ready objects (run 1's), operator restarted with `--resync-period {}s`, measured for {} whole periods ({:.1} s) starting mid-period.\n",
        st.objects,
        st.resync.as_secs(),
        st.periods,
        st.window_secs
    );
    let _ = writeln!(w, "| measure | value |");
    let _ = writeln!(w, "|---|---|");
    let _ = writeln!(
        w,
        "| Clerk requests in the window | {} — {} |",
        st.stats.total,
        st.stats.by_op()
    );
    let _ = writeln!(
        w,
        "| lists per instance per resync period | {:.2} |",
        st.lists_per_period()
    );
    let _ = writeln!(
        w,
        "| Clerk requests per hour at the default 5 min resync | {:.0} |",
        st.per_hour_default()
    );
    let _ = writeln!(
        w,
        "| reconciles in the window | {:.0} ({:.2} per object per period) |",
        st.reconciles,
        st.reconciles / (st.objects as f64 * st.periods as f64)
    );
    let _ = writeln!(
        w,
        "| writes to the objects in the window (watch events) | {} |",
        st.events
    );
    let _ = writeln!(
        w,
        "| restart (initial reconcile of all {}) | Clerk requests {} — {} |",
        st.objects,
        st.startup_stats.total,
        st.startup_stats.by_op()
    );
    let _ = writeln!(
        w,
        "| operator after the window | peak RSS {:.1} MiB, RSS {:.1} MiB, CPU {:.1} s |\n",
        mib(st.usage.hwm_kib),
        mib(st.usage.rss_kib),
        st.usage.cpu_secs
    );

    let _ = writeln!(w, "### 4. Memory and CPU\n");
    let _ = writeln!(
        w,
        "| run | objects | peak RSS (VmHWM) | RSS | CPU (user+system) |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    let mut rows: Vec<(String, usize, Usage)> = vec![
        ("1. burst, after all Ready".into(), n, r.burst.usage),
        ("1b. burst, limit lifted".into(), n, r.burst_fast.usage),
        ("2. burst, development limit".into(), n, r.throttled.usage),
        (
            format!("3. steady state, after {} resyncs", st.periods),
            n,
            st.usage,
        ),
    ];
    if let Some(sc) = &r.scale {
        rows.push((
            "4. scale burst, after all Ready".into(),
            sc.burst.objects,
            sc.burst.usage,
        ));
        rows.push((
            format!("4. scale, after a full resync ({}s period)", sc.resync.as_secs()),
            sc.burst.objects,
            sc.usage,
        ));
        rows.push((
            "4. scale, fresh process after its initial reconciles".into(),
            sc.burst.objects,
            sc.restart,
        ));
    }
    for (label, objects, u) in &rows {
        let _ = writeln!(
            w,
            "| {label} | {objects} | {:.1} MiB | {:.1} MiB | {:.1} s |",
            mib(u.hwm_kib),
            mib(u.rss_kib),
            u.cpu_secs
        );
    }
    if let Some(sc) = &r.scale {
        let b = &sc.burst;
        let _ = writeln!(
            w,
            "\nScale run: {} objects, creates sent in {:.1} s, all Ready after {:.1} s (apply→Ready p50 {:.0} ms, p99 {:.0} ms), Clerk requests {} ({:.3} per domain) — {}; {}. The full resync: {} — {}.",
            b.objects,
            b.create_secs,
            b.all_ready_secs,
            b.p50_ms,
            b.p99_ms,
            b.stats.total,
            b.per_domain(),
            b.stats.by_op(),
            b.metrics.summary(),
            sc.resync_stats.total,
            sc.resync_stats.by_op()
        );
        let _ = writeln!(
            w,
            "\nOne ClerkDomain as the API serves it: {:.0} bytes of JSON on average, {:.0} of them managedFields.",
            sc.object_bytes, sc.managed_fields_bytes
        );
    } else {
        let _ = writeln!(w, "\nNo scale run (set BENCH_SCALE=10000 for one).");
    }
    let lat = &r.latency;
    let _ = writeln!(
        w,
        "\n### 5. Single-object latency ({} sequential trials)\n",
        lat.trials
    );
    let _ = writeln!(w, "| measure | p50 | p99 | max |");
    let _ = writeln!(w, "|---|---:|---:|---:|");
    let _ = writeln!(
        w,
        "| apply → Ready | {:.0} ms | {:.0} ms | {:.0} ms |",
        pct(&lat.ready, 50.0),
        pct(&lat.ready, 99.0),
        pct(&lat.ready, 100.0)
    );
    let _ = writeln!(
        w,
        "| spec change (`isSecondary`) → status synced | {:.0} ms | {:.0} ms | {:.0} ms |\n",
        pct(&lat.update, 50.0),
        pct(&lat.update, 99.0),
        pct(&lat.update, 100.0)
    );

    let _ = writeln!(w, "### Targets\n");
    let _ = writeln!(w, "| target | measured | verdict |");
    let _ = writeln!(w, "|---|---|---|");
    let pd = r.burst.per_domain();
    let _ = writeln!(
        w,
        "| ≤ 1.01 Clerk requests per new domain (run 1) | {pd:.3} (run 1b {:.3}, run 2 {:.3}) | {} |",
        r.burst_fast.per_domain(),
        r.throttled.per_domain(),
        verdict(pd <= 1.01)
    );
    let ratio = r.throttled.all_ready_secs / bound;
    let t429 = r.throttled.stats.status("429");
    let _ = writeln!(
        w,
        "| ≤ 1.05 × the rate-limit bound, zero 429s (run 2) | {ratio:.3} × ({:.1} s / {bound:.0} s), {t429} × 429 | {} |",
        r.throttled.all_ready_secs,
        verdict(ratio <= 1.05 && t429 == 0)
    );
    let lpp = st.lists_per_period();
    let _ = writeln!(
        w,
        "| one list per instance per resync period (run 3) | {lpp:.2}; {:.0} Clerk requests per hour at 5 min | {} |",
        st.per_hour_default(),
        verdict(lpp <= 1.0 + 1e-9)
    );
    match &r.scale {
        Some(sc) => {
            let peak = sc.usage.hwm_kib.max(sc.burst.usage.hwm_kib);
            let _ = writeln!(
                w,
                "| ≤ 64 MiB RSS at 10,000 objects | {:.1} MiB peak at {} objects (creating them); {:.1} MiB peak for a fresh process on them | {} |",
                mib(peak),
                sc.burst.objects,
                mib(sc.restart.hwm_kib),
                verdict(mib(peak) <= 64.0)
            );
        }
        None => {
            let _ = writeln!(
                w,
                "| ≤ 64 MiB RSS at 10,000 objects | not run ({:.1} MiB peak at {n}) | — |",
                mib(r.burst.usage.hwm_kib)
            );
        }
    }
    let p99 = pct(&lat.ready, 99.0);
    let _ = writeln!(
        w,
        "| p99 apply→Ready ≤ 300 ms unthrottled (single object, run 5) | {p99:.0} ms (burst runs: 1 {:.0} ms, 1b {:.0} ms) | {} |",
        r.burst.p99_ms,
        r.burst_fast.p99_ms,
        verdict(p99 <= 300.0)
    );
    s
}

/// Replace the text between the bench markers of `path` (or write a new file).
fn write_between_markers(path: &Path, report: &str) -> anyhow::Result<()> {
    let block = format!("{BEGIN}\n{report}\n{END}\n");
    let text = match std::fs::read_to_string(path) {
        Ok(old) => match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if e > b => {
                let tail = &old[e + END.len()..];
                format!("{}{block}{}", &old[..b], tail.strip_prefix('\n').unwrap_or(tail))
            }
            _ => format!("{old}\n{block}"),
        },
        Err(_) => format!("# Benchmarks\n\n`make bench` writes the section below.\n\n{block}"),
    };
    std::fs::write(path, text)?;
    Ok(())
}
