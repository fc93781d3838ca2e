//! Scenario 6 (issue #16): side by side with what a user would run instead of the operator.
//!
//! No Kubernetes operator, Crossplane or Pulumi provider for Clerk exists, and the Terraform
//! providers cannot be built here, so the realistic alternative is a sync script with Clerk's
//! official Python SDK (`hack/bench/clerk_sync.py`, `clerk-backend-api` from the venv that
//! `hack/pysdk.sh` builds) run by CI or a CronJob. It runs here as a real process against a fresh
//! `fake-clerk` with the development key and the same `--rate-limit` as run 2, for the same
//! `--objects` desired domains:
//!
//! - a. SDK default retries (5XX and connection errors, not 429): rerun until all are present,
//!   one rate-limit window apart (the 5-minute schedule is modelled, the reruns are run);
//! - b. retries configured (429 and 5XX, `Retry-After` honoured): one run; then on its converged
//!   state a steady run (×12 per hour) and a spec change (`is_secondary` of one domain);
//! - c. a lost POST answer (the fake commits one `POST /domains` and drops the response), rerun;
//! - d. a SIGKILL of the script after half of its requests, rerun.
//!
//! c and d run against an unthrottled fake (the limit does not change what they show). The
//! Terraform provider pattern is a modelled row, computed from the formulas printed with it.

use crate::{Env, Fake, FakeStats, Proc, guard_for, http};
use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PEER_KEY: &str = "sk_test_bench_peer_0004";
/// The schedule a CronJob would run the script on.
const SCHEDULE: Duration = Duration::from_secs(300);

/// What the operator's runs of the same bench measured, for its row of the table.
pub struct OperatorRow {
    /// Run 2: Clerk requests per new domain and time to all Ready at the development limit.
    pub per_domain: f64,
    pub all_ready_secs: f64,
    pub rate_limited: u64,
    /// Run 3: Clerk requests per hour at the default 5-minute resync.
    pub per_hour: f64,
    /// Run 5: spec change → status synced, p50 and p99.
    pub spec_p50_ms: f64,
    pub spec_p99_ms: f64,
}

/// One run of the sync script.
#[derive(Clone, Debug, Default)]
pub struct ScriptRun {
    /// Its JSON summary (Null when it was killed).
    pub summary: Value,
    /// Process start → exit (includes the interpreter's start and the SDK's import).
    pub wall_secs: f64,
    /// What the fake counted during the run.
    pub stats: FakeStats,
    /// Satellites in Clerk after the run.
    pub present: usize,
    /// Requests the fake had counted when the script was SIGKILLed.
    pub killed_at: Option<u64>,
}

impl ScriptRun {
    fn n(&self, field: &str) -> u64 {
        self.summary[field].as_u64().unwrap_or(0)
    }

    fn error_kinds(&self) -> String {
        let kinds: Vec<String> = self.summary["error_kinds"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k} ×{}", v.as_u64().unwrap_or(0)))
            .collect();
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        }
    }
}

/// Clerk's domains as the script's instance holds them, checked against the desired names.
#[derive(Clone, Debug, Default)]
pub struct Check {
    pub satellites: usize,
    pub missing: usize,
    pub extra: usize,
    /// Names held by more than one domain.
    pub duplicates: usize,
}

impl Check {
    fn exact(&self) -> bool {
        self.missing == 0 && self.extra == 0 && self.duplicates == 0
    }

    fn describe(&self) -> String {
        format!(
            "{} satellites, {} missing, {} extra, {} duplicated names",
            self.satellites, self.missing, self.extra, self.duplicates
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct Peer {
    pub objects: usize,
    pub limit_requests: u32,
    pub window: Duration,
    pub sdk_version: String,
    /// a: SDK default retries, every run until all were present.
    pub default_runs: Vec<ScriptRun>,
    pub default_wall_secs: f64,
    pub default_check: Check,
    pub default_steady: ScriptRun,
    pub default_spec: ScriptRun,
    /// b: retries configured.
    pub configured: ScriptRun,
    pub configured_check: Check,
    pub steady: ScriptRun,
    pub spec: ScriptRun,
    /// The run after the spec change: `is_secondary` is sent again (Clerk does not report it).
    pub spec_again: ScriptRun,
    /// c: a lost POST answer, and the rerun.
    pub lost: ScriptRun,
    pub lost_rerun: ScriptRun,
    pub lost_check: Check,
    /// d: SIGKILL after half of the requests, and the rerun.
    pub killed: ScriptRun,
    pub killed_present_after: usize,
    pub kill_rerun: ScriptRun,
    pub kill_check: Check,
}

struct Ctx<'a> {
    env: &'a Env,
    python: PathBuf,
    script: PathBuf,
    n: usize,
}

fn python() -> anyhow::Result<PathBuf> {
    let p = match std::env::var_os("BENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("CLERK_OPERATOR_CACHE")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/clerk-operator")))
                .context("neither BENCH_PYTHON, CLERK_OPERATOR_CACHE nor HOME is set")?;
            cache.join("venv-sdk/bin/python")
        }
    };
    ensure!(
        p.exists(),
        "{} missing: the sync script needs the venv of `bash hack/pysdk.sh --print-python` (make bench does it)",
        p.display()
    );
    Ok(p)
}

fn sdk_version(python: &Path) -> String {
    std::process::Command::new(python)
        .args([
            "-c",
            "from importlib.metadata import version; print(version('clerk-backend-api'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn name(i: usize) -> String {
    format!("d{i:05}.bench-peer.example.com")
}

/// The desired-state file: `n` satellites, `secondary` of them with `is_secondary: true`.
fn write_desired(dir: &Path, file: &str, n: usize, secondary: usize) -> anyhow::Result<PathBuf> {
    let domains: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": name(i),
                "is_satellite": true,
                "proxy_url": null,
                "is_secondary": if i < secondary { json!(true) } else { Value::Null },
            })
        })
        .collect();
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(&json!({ "domains": domains }))?)?;
    Ok(path)
}

async fn put_faults(fake: &Fake, faults: Value) -> anyhow::Result<()> {
    let r = http()
        .put(format!("{}/__fake/faults", fake.base))
        .json(&faults)
        .send()
        .await?;
    ensure!(r.status().is_success(), "PUT /__fake/faults: {}", r.status());
    Ok(())
}

/// Satellites the fake holds (from `/__fake/stats`, which is not a Clerk request).
async fn satellites(fake: &Fake) -> anyhow::Result<usize> {
    let v: Value = http()
        .get(format!("{}/__fake/stats", fake.base))
        .send()
        .await?
        .json()
        .await?;
    let domains: u64 = v["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["domains"].as_u64().unwrap_or(0))
        .sum();
    Ok(domains.saturating_sub(1) as usize) // every instance has its primary
}

/// List the domains as Clerk serves them (one request; waits out a 429) and compare.
async fn check(fake: &Fake, n: usize) -> anyhow::Result<Check> {
    let mut tries = 0;
    let body: Value = loop {
        let r = http()
            .get(format!("{}/domains", fake.api_url()))
            .bearer_auth(PEER_KEY)
            .send()
            .await?;
        if r.status().as_u16() == 429 && tries < 20 {
            let after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(after)).await;
            tries += 1;
            continue;
        }
        ensure!(r.status().is_success(), "GET /domains: {}", r.status());
        break r.json().await?;
    };
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for d in body["data"].as_array().into_iter().flatten() {
        if d["is_satellite"].as_bool() == Some(true) {
            *names
                .entry(d["name"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    let desired: std::collections::BTreeSet<String> = (0..n).map(name).collect();
    Ok(Check {
        satellites: names.values().sum(),
        missing: desired.iter().filter(|d| !names.contains_key(*d)).count(),
        extra: names.keys().filter(|k| !desired.contains(*k)).count(),
        duplicates: names.values().filter(|c| **c > 1).count(),
    })
}

/// Run the sync script once against `fake` (stats reset first); SIGKILL it once the fake has
/// counted `kill_at` requests.
async fn run_script(
    ctx: &Ctx<'_>,
    fake: &Fake,
    desired: &Path,
    retries: &str,
    label: &str,
    kill_at: Option<u64>,
) -> anyhow::Result<ScriptRun> {
    fake.reset().await?;
    let api = fake.api_url();
    let args = vec![
        ctx.script.display().to_string(),
        format!("--desired={}", desired.display()),
        format!("--retries={retries}"),
    ];
    let log = ctx.env.dir.join(format!("{label}.log"));
    let t0 = Instant::now();
    let mut proc = Proc::spawn(
        label,
        &ctx.python,
        &args,
        &[
            ("CLERK_SECRET_KEY", PEER_KEY),
            ("CLERK_API_URL", &api),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("PYTHONUNBUFFERED", "1"),
        ],
        log.clone(),
    )?;
    let guard = guard_for(ctx.n) * 2;
    let mut killed_at = None;
    while proc.running() {
        if t0.elapsed() > guard {
            bail!(
                "{label} still running after {guard:?} (a guard, not a timing target)\n{}",
                proc.log_tail(20)
            );
        }
        if let Some(k) = kill_at
            && killed_at.is_none()
        {
            let total = fake.stats().await?.total;
            if total >= k {
                unsafe {
                    libc::kill(proc.pid() as i32, libc::SIGKILL);
                }
                killed_at = Some(total);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall_secs = t0.elapsed().as_secs_f64();
    let summary = match killed_at {
        Some(_) => Value::Null,
        None => {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let line = text.lines().rev().find(|l| l.starts_with('{'));
            match line.and_then(|l| serde_json::from_str::<Value>(l).ok()) {
                Some(v) => v,
                None => bail!("{label} printed no summary\n{}", proc.log_tail(30)),
            }
        }
    };
    if kill_at.is_some() && killed_at.is_none() {
        bail!("{label} finished before it could be killed at {kill_at:?} requests");
    }
    Ok(ScriptRun {
        summary,
        wall_secs,
        stats: fake.stats().await?,
        present: satellites(fake).await?,
        killed_at,
    })
}

/// A fresh fake with the development key; `limited`: the development limit as in run 2 (in
/// smoke mode a short one, set through the fault API).
async fn fresh_fake(env: &Env, name: &str, limited: bool, smoke: bool) -> anyhow::Result<Fake> {
    let fake = Fake::start(&env.bins, &env.dir, name, &[PEER_KEY], limited).await?;
    if limited && smoke {
        put_faults(
            &fake,
            json!({"rate_limit": true, "rate_limit_requests": 10, "rate_limit_window_secs": 2}),
        )
        .await?;
    }
    Ok(fake)
}

pub async fn run(env: &Env, n: usize) -> anyhow::Result<Peer> {
    let smoke = env.args.smoke;
    let (limit_requests, window) = if smoke {
        (10, Duration::from_secs(2))
    } else {
        (100, Duration::from_secs(10))
    };
    let python = python()?;
    let ctx = Ctx {
        env,
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/bench/clerk_sync.py"),
        python,
        n,
    };
    let mut out = Peer {
        objects: n,
        limit_requests,
        window,
        sdk_version: sdk_version(&ctx.python),
        ..Default::default()
    };
    let desired = write_desired(&env.dir, "peer-desired.json", n, 0)?;
    let changed = write_desired(&env.dir, "peer-desired-changed.json", n, 1)?;
    // The fake's window must have passed between reruns, as it has after 5 minutes.
    let gap = window + Duration::from_millis(500);

    // a: SDK default retries, rerun (one window apart) until every domain is present.
    eprintln!(
        "  6a. sync script, SDK default retries, {n} domains at {limit_requests} req / {}s",
        window.as_secs()
    );
    let fake = fresh_fake(env, "fake-peer-default", true, smoke).await?;
    let t = Instant::now();
    let max_runs = n / (limit_requests as usize).max(1) * 2 + 10;
    loop {
        let i = out.default_runs.len() + 1;
        let r = run_script(
            &ctx,
            &fake,
            &desired,
            "default",
            &format!("peer-default-{i}"),
            None,
        )
        .await?;
        eprintln!(
            "    run {i}: {} present, created {}, failed {} ({}), {:.1} s",
            r.present,
            r.n("created"),
            r.n("failed"),
            r.error_kinds(),
            r.wall_secs
        );
        let present = r.present;
        out.default_runs.push(r);
        if present >= n {
            break;
        }
        ensure!(
            out.default_runs.len() < max_runs,
            "not all present after {max_runs} runs"
        );
        tokio::time::sleep(gap).await;
    }
    out.default_wall_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(gap).await;
    out.default_steady = run_script(&ctx, &fake, &desired, "default", "peer-default-steady", None).await?;
    tokio::time::sleep(gap).await;
    out.default_spec = run_script(&ctx, &fake, &changed, "default", "peer-default-spec", None).await?;
    out.default_check = check(&fake, n).await?;
    drop(fake);

    // b: retries configured: one run, then steady state and a spec change on its result.
    eprintln!("  6b. sync script, retries configured (429 and 5XX)");
    let fake = fresh_fake(env, "fake-peer-configured", true, smoke).await?;
    out.configured = run_script(&ctx, &fake, &desired, "configured", "peer-configured", None).await?;
    eprintln!(
        "    {} present after one run, failed {}, {} requests ({} × 429), {:.1} s",
        out.configured.present,
        out.configured.n("failed"),
        out.configured.stats.total,
        out.configured.stats.status("429"),
        out.configured.wall_secs
    );
    tokio::time::sleep(gap).await;
    out.steady = run_script(&ctx, &fake, &desired, "configured", "peer-steady", None).await?;
    tokio::time::sleep(gap).await;
    out.spec = run_script(&ctx, &fake, &changed, "configured", "peer-spec", None).await?;
    tokio::time::sleep(gap).await;
    out.spec_again = run_script(&ctx, &fake, &changed, "configured", "peer-spec-again", None).await?;
    out.configured_check = check(&fake, n).await?;
    drop(fake);

    // c: one committed POST whose answer is lost, then the next scheduled run.
    eprintln!("  6c. sync script, a lost POST answer");
    let fake = fresh_fake(env, "fake-peer-lost", false, smoke).await?;
    put_faults(
        &fake,
        json!({"scripted": [{"operation": "AddDomain", "fault": "drop-after-commit"}]}),
    )
    .await?;
    out.lost = run_script(&ctx, &fake, &desired, "default", "peer-lost", None).await?;
    out.lost_rerun = run_script(&ctx, &fake, &desired, "default", "peer-lost-rerun", None).await?;
    out.lost_check = check(&fake, n).await?;
    drop(fake);

    // d: SIGKILL after half of the requests, then the next scheduled run.
    eprintln!("  6d. sync script, SIGKILL mid-run");
    let fake = fresh_fake(env, "fake-peer-kill", false, smoke).await?;
    // 5 ms per answer (after processing), so that the poller below keeps up with the script.
    put_faults(&fake, json!({"latency_ms": 5, "latency_min_ms": 5})).await?;
    let kill_at = 1 + n as u64 / 2;
    out.killed = run_script(&ctx, &fake, &desired, "default", "peer-killed", Some(kill_at)).await?;
    // A POST in flight when the process died may still commit: look again a moment later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    out.killed_present_after = satellites(&fake).await?;
    out.kill_rerun = run_script(&ctx, &fake, &desired, "default", "peer-kill-rerun", None).await?;
    out.kill_check = check(&fake, n).await?;
    drop(fake);

    // What must hold whatever the timings (bench-smoke fails otherwise).
    for (what, c) in [
        ("default retries", &out.default_check),
        ("retries configured", &out.configured_check),
        ("lost POST answer + rerun", &out.lost_check),
        ("SIGKILL + rerun", &out.kill_check),
    ] {
        ensure!(
            c.exact(),
            "peer {what}: Clerk does not hold the desired domains: {}",
            c.describe()
        );
    }
    ensure!(
        out.configured.n("failed") == 0 && out.configured.present == n,
        "peer: retries configured did not converge in one run: {}",
        out.configured.summary
    );
    for (what, r) in [("steady", &out.steady), ("default steady", &out.default_steady)] {
        ensure!(
            r.stats.op("AddDomain") + r.stats.op("UpdateDomain") + r.stats.op("DeleteDomain") == 0,
            "peer {what} run wrote to Clerk: {}",
            r.stats.by_op()
        );
    }
    ensure!(
        out.spec.n("updated") == 1 && out.spec.stats.op("UpdateDomain") == 1,
        "peer: the spec change was not applied by one PATCH: {}",
        out.spec.summary
    );
    ensure!(
        out.lost_rerun.n("failed") == 0 && out.kill_rerun.n("failed") == 0,
        "peer: a rerun failed: {} / {}",
        out.lost_rerun.summary,
        out.kill_rerun.summary
    );
    Ok(out)
}

/// `BENCH_ONLY=peer`: only scenario 6, printed (the operator's row needs the other runs).
pub async fn only(env: &Env, n: usize) -> anyhow::Result<()> {
    ensure!(
        env.args.out.is_none(),
        "BENCH_ONLY=peer writes nothing: drop --out"
    );
    eprintln!("bench: 6. side by side (BENCH_ONLY=peer: the operator's runs are skipped)");
    let p = run(env, n).await?;
    println!("{}", report(&p, None));
    Ok(())
}

fn mins(secs: f64) -> String {
    if secs >= 120.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{secs:.1} s")
    }
}

/// The "Side by side" section of the report.
pub fn report(p: &Peer, op: Option<&OperatorRow>) -> String {
    let n = p.objects;
    let mut s = String::new();
    let w = &mut s;
    let sched = SCHEDULE.as_secs_f64();
    let win = p.window.as_secs();
    let _ = writeln!(
        w,
        "### 6. Side by side: a sync script with Clerk's Python SDK, and the Terraform provider pattern\n"
    );
    let _ = writeln!(
        w,
        "{n} desired satellites, development key, each script series against a fresh fake at {} requests / {win} s ({}); the script is `hack/bench/clerk_sync.py` with `clerk-backend-api` {}, one process per run (interpreter start included), the CronJob's 5-minute schedule modelled: the bench waits one rate-limit window between reruns instead of 5 minutes. Lost answer and SIGKILL: an unthrottled fake.\n",
        p.limit_requests,
        if p.limit_requests == 100 && win == 10 {
            "`--rate-limit`, as run 2"
        } else {
            "`--rate-limit` with the smoke run's shorter limit; the operator's row is at 100 / 10 s"
        },
        p.sdk_version
    );
    // a: totals over the runs until all were present.
    let runs = p.default_runs.len();
    let total_requests: u64 = p.default_runs.iter().map(|r| r.stats.total).sum();
    let total_429: u64 = p.default_runs.iter().map(|r| r.stats.status("429")).sum();
    let first = p.default_runs.first().cloned().unwrap_or_default();
    let last_wall = p.default_runs.last().map_or(0.0, |r| r.wall_secs);
    let default_time = (runs.saturating_sub(1)) as f64 * sched + last_wall;
    let c = &p.configured;
    let per_hour = |r: &ScriptRun| r.stats.total as f64 * 3600.0 / sched;
    let spec = |r: &ScriptRun| {
        format!(
            "{:.1} s run (measured; {} requests) + 2.5 min expected wait for the schedule (modelled; up to 5 min) ≈ {}",
            r.wall_secs,
            r.stats.total,
            mins(r.wall_secs + sched / 2.0)
        )
    };
    let lost = format!(
        "run: {} failed ({}), {} duplicates; next run: {} created, {} failed; Clerk after it: {}",
        p.lost.n("failed"),
        p.lost.error_kinds(),
        p.lost_check.duplicates,
        p.lost_rerun.n("created"),
        p.lost_rerun.n("failed"),
        p.lost_check.describe()
    );
    let killed = format!(
        "killed after {} requests: {} of {n} present; next run: {} created, {} failed; Clerk after it: {}",
        p.killed.killed_at.unwrap_or(0),
        p.killed_present_after,
        p.kill_rerun.n("created"),
        p.kill_rerun.n("failed"),
        p.kill_check.describe()
    );
    let _ = writeln!(
        w,
        "| | requests per domain (creating {n}) | time to all {n} present at the development limit | steady-state requests per hour (5-minute schedule) | spec change → Clerk updated | lost POST answer | killed mid-run |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    match op {
        Some(o) => {
            let _ = writeln!(
                w,
                "| **clerk-operator** (runs 2, 3, 5 above) | {:.3} ({} × 429) | {:.1} s, one pass | {:.0} | p50 {:.0} ms, p99 {:.0} ms (watch event → status synced) | no duplicate, no failure: `status.pendingDomain` finds its own create (e2e `pending_create_is_cleared_and_never_adopted`, `lost_create_then_rename_leaks_nothing`; not measured here) | no duplicate, exact domain set after ≥ 10 SIGKILLs of the operator with answers dropped after commit (`make chaos`; not measured here) |",
                o.per_domain, o.rate_limited, o.all_ready_secs, o.per_hour, o.spec_p50_ms, o.spec_p99_ms
            );
        }
        None => {
            let _ = writeln!(
                w,
                "| **clerk-operator** | not run (`BENCH_ONLY=peer`) | | | | | |"
            );
        }
    }
    let _ = writeln!(
        w,
        "| **sync script, SDK default retries** (5XX, not 429) | {:.3} over {runs} runs ({total_429} × 429) | run 1: {} of {n} present, {} failed ({}); all present after {runs} runs ≈ {} at a 5-minute schedule ((runs − 1) × 5 min modelled + {:.1} s last run measured) | {:.0} (one run on the converged state: {}) | {} | {lost} | {killed} |",
        total_requests as f64 / n as f64,
        first.present,
        first.n("failed"),
        first.error_kinds(),
        mins(default_time),
        last_wall,
        per_hour(&p.default_steady),
        p.default_steady.stats.by_op(),
        spec(&p.default_spec),
    );
    let _ = writeln!(
        w,
        "| **sync script, retries configured** (429 and 5XX, `Retry-After`) | {:.3} ({} × 429) | {:.1} s, one run ({} failed) | {:.0} (one run: {}) | {} | as above: the lost answer arrives as a reset connection (`httpx.RemoteProtocolError`), which neither configuration retries | as above |",
        c.stats.total as f64 / n as f64,
        c.stats.status("429"),
        c.wall_secs,
        c.n("failed"),
        per_hour(&p.steady),
        p.steady.stats.by_op(),
        spec(&p.spec),
    );
    // Terraform: modelled from the provider's source.
    let rate = p.limit_requests as f64 / p.window.as_secs_f64().max(1.0);
    let tf_bound = n as f64 / rate;
    let _ = writeln!(
        w,
        "| **Terraform provider pattern** (*modelled, not run*) | 1.000 on the first apply (N POSTs, nothing in state to refresh); every later plan/apply reads N times | ≥ {tf_bound:.0} s (N / {rate:.0} requests/s) and only if 429s were retried: clerk-sdk-go does not retry, so creates past the limit fail and wait for the next apply | {:.0} (12 plans × N reads, one `GET /domains` per resource) | schedule wait + a refresh of N reads (≥ {tf_bound:.0} s at the development limit) + 1 PATCH | the create fails, nothing is written to state; the next apply POSTs again and gets 422 `form_identifier_exists` until `terraform import` | creates not yet persisted to state are orphaned: 422 on the next apply until imported |",
        12.0 * n as f64
    );
    let _ = writeln!(
        w,
        "\nDefault-retry runs (created / failed per run): {}. Measured wall time of the series with the gaps compressed to {:.1} s: {:.1} s.",
        p.default_runs
            .iter()
            .map(|r| format!("{}/{}", r.n("created"), r.n("failed")))
            .collect::<Vec<_>>()
            .join(", "),
        win as f64 + 0.5,
        p.default_wall_secs
    );
    let _ = writeln!(
        w,
        "\nRetries configured: {} — {}. After the spec change every run sends `is_secondary` again (Clerk does not report it, so the script cannot compare): the next run made {} requests ({}), {:.0} per hour.",
        c.stats.total,
        c.stats.by_op(),
        p.spec_again.stats.total,
        p.spec_again.stats.by_op(),
        per_hour(&p.spec_again)
    );
    let _ = writeln!(
        w,
        "\nTerraform model (vanillauys/terraform-provider-clerk `internal/resources/domainres/resource.go`, Backend API through clerk-sdk-go v2): `Read` calls `Domains.List` (no limit/offset: `GET /domains` is not paginated) and matches by ID, so requests per plan = N resources × 1 list page; `Create` POSTs without looking for the name first; clerk-sdk-go's `defaultBackend.do` returns a 429 as an error, no retry. N = {n}."
    );
    s
}
