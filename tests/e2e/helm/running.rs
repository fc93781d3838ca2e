//! The operator of a release at work: /metrics, and leader election failing over.

use super::*;

/// The operator process's /metrics after reconciles: every family the dashboards use.
pub async fn metrics_endpoint_exports_operator_metrics(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp, "metrics", true).await?;
    let op = OperatorProcess::spawn(&rel.operator(&format!("{}-m", rel.name), true))?;
    rel.create_domain("one", json!({"domain": "one.example.com"}))
        .await?;
    rel.create_domain("two", json!({"domain": "two.example.com"}))
        .await?;
    rel.wait_ready("one", &op).await?;
    rel.wait_ready("two", &op).await?;
    let (status, body) = op.http_get("/healthz").await?;
    ensure!(status == 200, "/healthz {status} {body}");
    let (status, body) = op.http_get("/readyz").await?;
    ensure!(status == 200, "/readyz {status} {body}");
    let (text, samples) = scrape_when_ready(&op).await?;
    check_families(&text)?;
    check_counts(&text, &samples)?;
    scrape_matches_alerts_and_dashboard(&text)?;
    let sum = |name: &str, labels: &[&str]| sum_samples(&samples, name, labels);
    ensure!(sum("clerk_operator_leader", &[]) == 1.0, "{text}");
    // What the fake saw matches what the operator counted.
    let fake = rel.fake.stats().count_status("AddDomain", 200) as f64;
    ensure!(
        sum(
            "clerk_operator_clerk_requests_total",
            &["operation=\"AddDomain\""]
        ) == fake
    );
    condition_series_follow_objects(&rel, &op, &text, &samples).await?;
    Ok(())
}

/// Two operator processes with leader election: only the Lease holder reconciles; after the
/// holder is SIGKILLed the standby takes over within the lease duration and reconciles.
pub async fn leader_election_failover(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp, "failover", false).await?;
    let lease = Duration::from_secs(4);
    let (a_opts, b_opts) = rel.pair((lease, Duration::from_secs(1)));
    let (a, b) = rel.start_pair(&a_opts, &b_opts).await?;

    rel.create_domain("first", json!({"domain": "first.example.com"}))
        .await?;
    rel.wait_ready("first", &a).await?;
    // Several lease periods: a keeps renewing, b stays a quiet standby.
    tokio::time::sleep(lease * 2).await;
    rel.wait_lease_holder(&a.identity, Duration::ZERO).await?;
    ensure!(
        b.log_lines(&["acquired leadership"]).is_empty(),
        "{}",
        b.log_tail(20)
    );
    ensure!(a.metric_sum("clerk_operator_leader", &[]).await? == 1.0);
    ensure!(b.metric_sum("clerk_operator_leader", &[]).await? == 0.0);
    ensure!(b.metric_sum("clerk_operator_reconciles_total", &[]).await? == 0.0);
    ensure!(b.metric_sum("clerk_operator_clerk_requests_total", &[]).await? == 0.0);
    ensure!(b.http_get("/readyz").await?.0 == 200, "a standby is ready");
    ensure!(a.metric_sum("clerk_operator_reconciles_total", &[]).await? >= 1.0);
    let created = rel.wait_event("first", "Created").await?;
    ensure!(created.reporting_instance.as_deref() == Some(a.identity.as_str()));

    // The leader dies without releasing the Lease.
    let mut a = a;
    a.kill();
    let took = rel
        .wait_lease_holder(&b.identity, lease + Duration::from_secs(10))
        .await
        .with_context(|| b.log_tail(30))?;
    b.wait_log(&["acquired leadership"], Duration::from_secs(5))
        .await?;
    ensure!(took <= lease + Duration::from_secs(6), "takeover took {took:?}");
    rel.create_domain("second", json!({"domain": "second.example.com"}))
        .await?;
    rel.wait_ready("second", &b).await?;
    let created = rel.wait_event("second", "Created").await?;
    ensure!(created.reporting_instance.as_deref() == Some(b.identity.as_str()));
    ensure!(b.metric_sum("clerk_operator_leader", &[]).await? == 1.0);
    // The new leader adopts the first object's domain as is: still one of each in Clerk.
    rel.wait_ready("first", &b).await?;
    let names: Vec<String> = rel.fake.domains(LIVE_KEY).into_iter().map(|d| d.name).collect();
    for n in ["first.example.com", "second.example.com"] {
        ensure!(names.iter().filter(|x| *x == n).count() == 1, "{names:?}");
    }
    Ok(())
}

/// Every metric name the chart's alerts and Grafana dashboard use is in the list of exposed
/// names, and every name this real scrape shows is in that list (hack/monitoring-check.py).
fn scrape_matches_alerts_and_dashboard(text: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let scrape = dir.path().join("metrics.txt");
    std::fs::write(&scrape, text)?;
    let out = std::process::Command::new("python3")
        .arg("hack/monitoring-check.py")
        .arg("--scrape")
        .arg(&scrape)
        .current_dir(test_kit::repo_root())
        .output()?;
    ensure!(
        out.status.success(),
        "monitoring-check against a real scrape failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// /metrics once the ready gauge (refreshed every 5 s) counts both objects: the text and its
/// samples.
async fn scrape_when_ready(op: &OperatorProcess) -> anyhow::Result<(String, Vec<(String, f64)>)> {
    let every = Duration::from_millis(500);
    eventually(
        "both objects Ready in the gauge",
        Duration::from_secs(20),
        every,
        || async {
            let (status, text) = op.http_get("/metrics").await?;
            ensure!(status == 200, "/metrics {status}");
            let samples = parse_metrics(&text);
            let ready = sum_samples(&samples, "clerk_operator_clerkdomains", &["ready=\"True\""]);
            Ok(if ready == 2.0 {
                Ok((text, samples))
            } else {
                Err(text)
            })
        },
    )
    .await
}

/// Every family the dashboards use is exposed.
fn check_families(text: &str) -> anyhow::Result<()> {
    for family in [
        "# TYPE clerk_operator_reconciles counter",
        "# TYPE clerk_operator_reconcile_duration_seconds histogram",
        "# TYPE clerk_operator_clerk_requests counter",
        "# TYPE clerk_operator_clerk_rate_limiter_wait_seconds counter",
        "# TYPE clerk_operator_clerkdomains gauge",
        "# TYPE clerk_operator_leader gauge",
    ] {
        ensure!(text.contains(family), "no `{family}` in:\n{text}");
    }
    Ok(())
}

/// The counts of the two reconciles, their Clerk requests, and the ready gauge.
fn check_counts(text: &str, samples: &[(String, f64)]) -> anyhow::Result<()> {
    let sum = |name: &str, labels: &[&str]| sum_samples(samples, name, labels);
    ensure!(
        sum("clerk_operator_reconciles_total", &["result=\"success\""]) >= 2.0,
        "{text}"
    );
    ensure!(
        sum("clerk_operator_reconcile_duration_seconds_count", &[]) >= 2.0,
        "{text}"
    );
    ensure!(
        sum(
            "clerk_operator_reconcile_duration_seconds_bucket",
            &["le=\"+Inf\""]
        ) >= 2.0,
        "{text}"
    );
    ensure!(
        sum(
            "clerk_operator_clerk_requests_total",
            &["operation=\"AddDomain\"", "status=\"200\""]
        ) == 2.0,
        "{text}"
    );
    ensure!(
        sum(
            "clerk_operator_clerk_requests_total",
            &["operation=\"ListDomains\"", "status=\"200\""]
        ) >= 1.0,
        "{text}"
    );
    ensure!(
        samples
            .iter()
            .any(|(s, _)| s.starts_with("clerk_operator_clerk_rate_limiter_wait_seconds_total")),
        "{text}"
    );
    ensure!(sum("clerk_operator_clerkdomains", &["ready=\"False\""]) == 0.0);
    Ok(())
}

/// Per-object conditions, computed at scrape time: a deleted object leaves no series.
async fn condition_series_follow_objects(
    rel: &Release,
    op: &OperatorProcess,
    text: &str,
    samples: &[(String, f64)],
) -> anyhow::Result<()> {
    let sum = |name: &str, labels: &[&str]| sum_samples(samples, name, labels);
    let ready_one = ["name=\"one\"", "type=\"Ready\"", "status=\"True\""];
    ensure!(
        sum("clerk_operator_clerkdomain_condition", &ready_one) == 1.0,
        "{text}"
    );
    ensure!(
        text.contains("# TYPE clerk_operator_clerkdomain_condition gauge"),
        "{text}"
    );
    let api = rel.domains();
    api.delete("one", &Default::default()).await?;
    wait_gone(&api, "one", CONVERGE).await?;
    let every = Duration::from_millis(200);
    eventually(
        "only the live object's series",
        Duration::from_secs(10),
        every,
        || async {
            let (_, text) = op.http_get("/metrics").await?;
            let samples = parse_metrics(&text);
            let of = |name: &str| sum_samples(&samples, "clerk_operator_clerkdomain_condition", &[name]);
            let gone = of("name=\"one\"") == 0.0 && of("name=\"two\"") >= 1.0;
            Ok(gone.then_some(()).ok_or(text))
        },
    )
    .await
}
