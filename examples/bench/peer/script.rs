//! Running the sync script and looking at what Clerk holds afterwards.

use super::*;

pub(super) fn python() -> anyhow::Result<PathBuf> {
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

pub(super) fn sdk_version(python: &Path) -> String {
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

pub(super) fn name(i: usize) -> String {
    format!("d{i:05}.bench-peer.example.com")
}

/// The desired-state file: `n` satellites, `secondary` of them with `is_secondary: true`.
pub(super) fn write_desired(dir: &Path, file: &str, n: usize, secondary: usize) -> anyhow::Result<PathBuf> {
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

pub(super) async fn put_faults(fake: &Fake, faults: Value) -> anyhow::Result<()> {
    let r = http()
        .put(format!("{}/__fake/faults", fake.base))
        .json(&faults)
        .send()
        .await?;
    ensure!(r.status().is_success(), "PUT /__fake/faults: {}", r.status());
    Ok(())
}

/// Satellites the fake holds (from `/__fake/stats`, which is not a Clerk request).
pub(super) async fn satellites(fake: &Fake) -> anyhow::Result<usize> {
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
pub(super) async fn check(fake: &Fake, n: usize) -> anyhow::Result<Check> {
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

/// Wait for the script to end (or `guard` to pass: an error); SIGKILL it once the fake has
/// counted `kill_at` requests. The requests counted when it was killed.
async fn supervise(
    proc: &mut Proc,
    fake: &Fake,
    label: &str,
    guard: Duration,
    t0: Instant,
    kill_at: Option<u64>,
) -> anyhow::Result<Option<u64>> {
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
    Ok(killed_at)
}

/// The JSON summary the script printed last in `log`.
fn summary_of(log: &Path, label: &str, proc: &Proc) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text.lines().rev().find(|l| l.starts_with('{'));
    match line.and_then(|l| serde_json::from_str::<Value>(l).ok()) {
        Some(v) => Ok(v),
        None => bail!("{label} printed no summary\n{}", proc.log_tail(30)),
    }
}

/// Run the sync script once against `fake` (stats reset first); SIGKILL it once the fake has
/// counted `kill_at` requests.
pub(super) async fn run_script(
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
    let killed_at = supervise(&mut proc, fake, label, guard, t0, kill_at).await?;
    let wall_secs = t0.elapsed().as_secs_f64();
    let summary = match killed_at {
        Some(_) => Value::Null,
        None => summary_of(&log, label, &proc)?,
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
pub(super) async fn fresh_fake(env: &Env, name: &str, limited: bool, smoke: bool) -> anyhow::Result<Fake> {
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
