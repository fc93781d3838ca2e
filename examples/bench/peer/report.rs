//! The "Side by side" section of the report.

use super::*;

pub(super) fn mins(secs: f64) -> String {
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
    intro(w, p);
    let _ = writeln!(
        w,
        "| | requests per domain (creating {n}) | time to all {n} present at the development limit | steady-state requests per hour (5-minute schedule) | spec change → Clerk updated | lost POST answer | killed mid-run |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    operator_row(w, op);
    script_rows(w, p);
    terraform_and_notes(w, p);
    s
}

/// Steady-state requests per hour of `r` at the 5-minute schedule.
fn per_hour(r: &ScriptRun) -> f64 {
    r.stats.total as f64 * 3600.0 / SCHEDULE.as_secs_f64()
}

/// The spec-change cell of a script run.
fn spec(r: &ScriptRun) -> String {
    let sched = SCHEDULE.as_secs_f64();
    format!(
        "{:.1} s run (measured; {} requests) + 2.5 min expected wait for the schedule (modelled; up to 5 min) ≈ {}",
        r.wall_secs,
        r.stats.total,
        mins(r.wall_secs + sched / 2.0)
    )
}

/// The section's heading and the setup it measured.
fn intro(w: &mut String, p: &Peer) {
    let n = p.objects;
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
}

/// The operator's row, from runs 2, 3 and 5.
fn operator_row(w: &mut String, op: Option<&OperatorRow>) {
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
}

/// The lost-answer and killed-mid-run cells of the script rows.
fn failure_cells(p: &Peer) -> (String, String) {
    let n = p.objects;
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
    (lost, killed)
}

/// The sync script's rows: SDK default retries, and retries configured.
fn script_rows(w: &mut String, p: &Peer) {
    let n = p.objects;
    let sched = SCHEDULE.as_secs_f64();
    // a: totals over the runs until all were present.
    let runs = p.default_runs.len();
    let total_requests: u64 = p.default_runs.iter().map(|r| r.stats.total).sum();
    let total_429: u64 = p.default_runs.iter().map(|r| r.stats.status("429")).sum();
    let first = p.default_runs.first().cloned().unwrap_or_default();
    let last_wall = p.default_runs.last().map_or(0.0, |r| r.wall_secs);
    let default_time = (runs.saturating_sub(1)) as f64 * sched + last_wall;
    let c = &p.configured;
    let (lost, killed) = failure_cells(p);
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
}

/// The Terraform provider pattern's modelled row, and the notes under the table.
fn terraform_and_notes(w: &mut String, p: &Peer) {
    let n = p.objects;
    let win = p.window.as_secs();
    let c = &p.configured;
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
}
