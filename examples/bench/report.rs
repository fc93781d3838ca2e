//! The Markdown report and writing it between the markers of BENCHMARKS.md.

use crate::env::{Env, pct};
use crate::scenarios::Results;
use crate::{BEGIN, END, peer};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use test_kit::process::Usage;

pub(crate) fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn machine() -> (String, String, String) {
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

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "**miss**" }
}

pub(crate) fn report(env: &Env, r: &Results, load_start: &str, load_end: &str, took: Duration) -> String {
    let mut s = String::new();
    let w = &mut s;
    header(w, env, load_start, load_end, took);
    let bound = burst_section(w, r);
    steady_section(w, r);
    memory_section(w, r);
    scale_note(w, r);
    latency_and_peer(w, r);
    crate::targets::write(w, r, bound);
    s
}

/// The kube-apiserver's and kubectl's versions.
fn kube_versions(env: &Env) -> String {
    let out = env.cp.kubectl(&["version", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    format!(
        "kube-apiserver {}, kubectl {}",
        v["serverVersion"]["gitVersion"].as_str().unwrap_or("unknown"),
        v["clientVersion"]["gitVersion"].as_str().unwrap_or("unknown")
    )
}

/// The commit the bench runs at, marked when the working tree has uncommitted changes.
fn commit() -> String {
    let dirty = if cmd_out("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (working tree with uncommitted changes)"
    };
    format!("{}{dirty}", cmd_out("git", &["rev-parse", "--short=12", "HEAD"]))
}

/// The build profile of the binaries, and the command that reproduces the run.
fn profile_and_command(env: &Env) -> (String, String) {
    let a = &env.args;
    let profile = env
        .bins
        .file_name()
        .map_or("?".into(), |p| p.to_string_lossy().to_string());
    let command = a.command.clone().unwrap_or_else(|| {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let release = if profile == "release" { " --release" } else { "" };
        format!("cargo run{release} --example bench -- {}", argv.join(" "))
    });
    (profile, command)
}

/// The run's heading: date, command, machine, versions, setup.
fn header(w: &mut String, env: &Env, load_start: &str, load_end: &str, took: Duration) {
    let a = &env.args;
    let (cpus, mem, model) = machine();
    let kube = kube_versions(env);
    let commit = commit();
    let (profile, command) = profile_and_command(env);
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string();
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
}

/// Sections 1–2: new ClerkDomains at once. The rate-limit bound of run 2, in seconds.
fn burst_section(w: &mut String, r: &Results) -> f64 {
    let n = r.burst.objects;
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
    bound
}

/// Section 3: the steady state.
fn steady_section(w: &mut String, r: &Results) {
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
}

/// Section 4: memory and CPU of every run.
fn memory_section(w: &mut String, r: &Results) {
    let (n, st) = (r.burst.objects, &r.steady);
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
}

/// Section 4's note on the scale run, or that there was none.
fn scale_note(w: &mut String, r: &Results) {
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
}

/// Section 5, single-object latency, then the peer's report.
fn latency_and_peer(w: &mut String, r: &Results) {
    let st = &r.steady;
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

    let _ = writeln!(
        w,
        "{}",
        peer::report(
            &r.peer,
            Some(&peer::OperatorRow {
                per_domain: r.throttled.per_domain(),
                all_ready_secs: r.throttled.all_ready_secs,
                rate_limited: r.throttled.stats.status("429"),
                per_hour: st.per_hour_default(),
                spec_p50_ms: pct(&lat.update, 50.0),
                spec_p99_ms: pct(&lat.update, 99.0),
            })
        )
    );
}

/// Replace the text between the bench markers of `path` (or write a new file).
pub(crate) fn write_between_markers(path: &Path, report: &str) -> anyhow::Result<()> {
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
