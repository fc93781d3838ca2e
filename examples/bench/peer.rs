//! Scenario 6: side by side with what a user would run instead of the operator.
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

use crate::env::{Env, guard_for};
use crate::processes::{Fake, FakeStats, http};
use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use test_kit::process::Proc;

mod report;
mod script;
pub use report::report;
use script::*;

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
    smoke: bool,
    /// The desired domains, and the same with the spec change.
    desired: PathBuf,
    changed: PathBuf,
    /// The fake's window must have passed between reruns, as it has after 5 minutes.
    gap: Duration,
}

pub async fn run(env: &Env, n: usize) -> anyhow::Result<Peer> {
    let smoke = env.args.smoke;
    let (limit_requests, window) = if smoke {
        (10, Duration::from_secs(2))
    } else {
        (100, Duration::from_secs(10))
    };
    let python = python()?;
    let sdk_version = sdk_version(&python);
    let ctx = Ctx {
        env,
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/bench/clerk_sync.py"),
        python,
        n,
        smoke,
        desired: write_desired(&env.dir, "peer-desired.json", n, 0)?,
        changed: write_desired(&env.dir, "peer-desired-changed.json", n, 1)?,
        gap: window + Duration::from_millis(500),
    };
    let mut out = Peer {
        objects: n,
        limit_requests,
        window,
        sdk_version,
        ..Default::default()
    };

    // a: SDK default retries, rerun (one window apart) until every domain is present.
    eprintln!(
        "  6a. sync script, SDK default retries, {n} domains at {limit_requests} req / {}s",
        window.as_secs()
    );
    default_retries(&ctx, &mut out).await?;
    // b: retries configured: one run, then steady state and a spec change on its result.
    retries_configured(&ctx, &mut out).await?;
    // c: one committed POST whose answer is lost, then the next scheduled run.
    lost_answer(&ctx, &mut out).await?;
    // d: SIGKILL after half of the requests, then the next scheduled run.
    killed_mid_run(&ctx, &mut out).await?;
    // What must hold whatever the timings (bench-smoke fails otherwise).
    must_hold(&out, n)?;
    Ok(out)
}

/// a: SDK default retries, rerun (one window apart) until every domain is present.
async fn default_retries(ctx: &Ctx<'_>, out: &mut Peer) -> anyhow::Result<()> {
    let (n, limit_requests) = (ctx.n, out.limit_requests);
    let fake = fresh_fake(ctx.env, "fake-peer-default", true, ctx.smoke).await?;
    let t = Instant::now();
    let max_runs = n / (limit_requests as usize).max(1) * 2 + 10;
    loop {
        let i = out.default_runs.len() + 1;
        let r = run_script(
            ctx,
            &fake,
            &ctx.desired,
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
        tokio::time::sleep(ctx.gap).await;
    }
    out.default_wall_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(ctx.gap).await;
    out.default_steady = run_script(ctx, &fake, &ctx.desired, "default", "peer-default-steady", None).await?;
    tokio::time::sleep(ctx.gap).await;
    out.default_spec = run_script(ctx, &fake, &ctx.changed, "default", "peer-default-spec", None).await?;
    out.default_check = check(&fake, ctx.n).await?;
    drop(fake);
    Ok(())
}

/// b: retries configured: one run, then steady state and a spec change on its result.
async fn retries_configured(ctx: &Ctx<'_>, out: &mut Peer) -> anyhow::Result<()> {
    eprintln!("  6b. sync script, retries configured (429 and 5XX)");
    let fake = fresh_fake(ctx.env, "fake-peer-configured", true, ctx.smoke).await?;
    out.configured = run_script(ctx, &fake, &ctx.desired, "configured", "peer-configured", None).await?;
    eprintln!(
        "    {} present after one run, failed {}, {} requests ({} × 429), {:.1} s",
        out.configured.present,
        out.configured.n("failed"),
        out.configured.stats.total,
        out.configured.stats.status("429"),
        out.configured.wall_secs
    );
    tokio::time::sleep(ctx.gap).await;
    out.steady = run_script(ctx, &fake, &ctx.desired, "configured", "peer-steady", None).await?;
    tokio::time::sleep(ctx.gap).await;
    out.spec = run_script(ctx, &fake, &ctx.changed, "configured", "peer-spec", None).await?;
    tokio::time::sleep(ctx.gap).await;
    out.spec_again = run_script(ctx, &fake, &ctx.changed, "configured", "peer-spec-again", None).await?;
    out.configured_check = check(&fake, ctx.n).await?;
    drop(fake);
    Ok(())
}

/// c: one committed POST whose answer is lost, then the next scheduled run.
async fn lost_answer(ctx: &Ctx<'_>, out: &mut Peer) -> anyhow::Result<()> {
    eprintln!("  6c. sync script, a lost POST answer");
    let fake = fresh_fake(ctx.env, "fake-peer-lost", false, ctx.smoke).await?;
    put_faults(
        &fake,
        json!({"scripted": [{"operation": "AddDomain", "fault": "drop-after-commit"}]}),
    )
    .await?;
    out.lost = run_script(ctx, &fake, &ctx.desired, "default", "peer-lost", None).await?;
    out.lost_rerun = run_script(ctx, &fake, &ctx.desired, "default", "peer-lost-rerun", None).await?;
    out.lost_check = check(&fake, ctx.n).await?;
    drop(fake);
    Ok(())
}

/// d: SIGKILL after half of the requests, then the next scheduled run.
async fn killed_mid_run(ctx: &Ctx<'_>, out: &mut Peer) -> anyhow::Result<()> {
    eprintln!("  6d. sync script, SIGKILL mid-run");
    let fake = fresh_fake(ctx.env, "fake-peer-kill", false, ctx.smoke).await?;
    // 5 ms per answer (after processing), so that the poller below keeps up with the script.
    put_faults(&fake, json!({"latency_ms": 5, "latency_min_ms": 5})).await?;
    let kill_at = 1 + ctx.n as u64 / 2;
    out.killed = run_script(ctx, &fake, &ctx.desired, "default", "peer-killed", Some(kill_at)).await?;
    // A POST in flight when the process died may still commit: look again a moment later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    out.killed_present_after = satellites(&fake).await?;
    out.kill_rerun = run_script(ctx, &fake, &ctx.desired, "default", "peer-kill-rerun", None).await?;
    out.kill_check = check(&fake, ctx.n).await?;
    drop(fake);
    Ok(())
}

/// What must hold whatever the timings (bench-smoke fails otherwise).
fn must_hold(out: &Peer, n: usize) -> anyhow::Result<()> {
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
    Ok(())
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
