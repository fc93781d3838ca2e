//! `/metrics` behind Kubernetes auth with the chart's RBAC, and `clerk-operator check` (what the
//! chart's `helm test` Pod runs) against it.

use super::*;

/// `--metrics-secure` with the chart's RBAC: /metrics over HTTPS answers 401 without a token or
/// with one the API server rejects, 403 to a ServiceAccount without `get` on /metrics, and 200 to
/// one bound to the chart's metrics-reader ClusterRole; /readyz stays open.
pub async fn metrics_need_a_token_allowed_to_get_metrics(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp.clone(), "secmetrics", true).await?;
    let mut opts = rel.operator(&format!("{}-s", rel.name), false);
    opts.extra_args.push("--metrics-secure".into());
    let op = OperatorProcess::spawn(&opts)?;
    let (scraper, stranger) = (token_of(&cp, &rel, "scraper")?, token_of(&cp, &rel, "stranger")?);
    bind_scraper(&cp, &rel)?;
    wait_readyz(&op).await?;
    refused_without_permission(&op, &stranger).await?;
    scraper_gets_metrics(&op, &scraper).await?;
    let forbidden = op.log_lines(&["forbidden"]);
    ensure!(
        forbidden.is_empty(),
        "the operator may not review callers: {forbidden:#?}"
    );
    ensure!(!op.logs().contains(&scraper), "a token reached the log");
    check_command(&cp, &op).await
}

/// A token of a new ServiceAccount `sa` in the release namespace.
fn token_of(cp: &ControlPlane, rel: &Release, sa: &str) -> anyhow::Result<String> {
    ok(
        cp.kubectl(&["create", "serviceaccount", sa, "-n", &rel.ns]),
        "create sa",
    )?;
    Ok(ok(
        cp.kubectl(&["create", "token", sa, "-n", &rel.ns]),
        "create token",
    )?
    .trim()
    .to_string())
}

/// Bind the `scraper` ServiceAccount to the chart's metrics-reader ClusterRole.
fn bind_scraper(cp: &ControlPlane, rel: &Release) -> anyhow::Result<()> {
    let reader = format!("{}-metrics-reader", rel.name);
    let binding = format!("{}-scraper", rel.name);
    let sa = format!("{}:scraper", rel.ns);
    ok(
        cp.kubectl(&[
            "create",
            "clusterrolebinding",
            &binding,
            "--clusterrole",
            &reader,
            "--serviceaccount",
            &sa,
        ]),
        "bind the scraper",
    )?;
    Ok(())
}

/// Ready once the ClerkDomain cache is synced; /readyz answers without a token.
async fn wait_readyz(op: &OperatorProcess) -> anyhow::Result<()> {
    eventually("/readyz 200", CONVERGE, Duration::from_millis(200), || async {
        let ready = op.https_get("/readyz", None).await?.0 == 200;
        Ok(ready.then_some(()).ok_or_else(|| op.log_tail(20)))
    })
    .await
}

/// 401 without a token or with a rejected one, 403 without `get` on /metrics; no metrics.
async fn refused_without_permission(op: &OperatorProcess, stranger: &str) -> anyhow::Result<()> {
    for (who, token, want) in [
        ("no token", None, 401),
        ("a token the API server rejects", Some("not-a-token"), 401),
        ("a ServiceAccount without get /metrics", Some(stranger), 403),
    ] {
        let (status, body) = op.https_get("/metrics", token).await?;
        ensure!(
            status == want,
            "{who}: {status} {body}
{}",
            op.log_tail(20)
        );
        ensure!(!body.contains("clerk_operator_"), "{who} saw metrics");
    }
    Ok(())
}

/// The bound scraper gets the metrics. RBAC changes reach the authorizer's cache at once; retry
/// briefly anyway.
async fn scraper_gets_metrics(op: &OperatorProcess, scraper: &str) -> anyhow::Result<()> {
    let every = Duration::from_millis(200);
    let body = eventually(
        "metrics for the scraper",
        Duration::from_secs(10),
        every,
        || async {
            let (status, body) = op.https_get("/metrics", Some(scraper)).await?;
            Ok(if status == 200 {
                Ok(body)
            } else {
                Err(format!("{status} {body}"))
            })
        },
    )
    .await?;
    ensure!(body.contains("# TYPE clerk_operator_leader gauge"), "{body}");
    Ok(())
}

/// `clerk-operator check`, what the chart's `helm test` Pod runs: passes against this operator
/// (HTTPS /readyz) and the installed CRDs; fails, naming each problem, for a CRD that does not
/// exist and a URL that does not answer 200.
async fn check_command(cp: &ControlPlane, op: &OperatorProcess) -> anyhow::Result<()> {
    let port = op.http_addr().await?.port();
    let check = |url: String, crds: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clerk-operator"));
        cmd.args(["check", "--insecure-skip-tls-verify", "--url", &url])
            .arg(format!("--kubeconfig={}", cp.kubeconfig.display()))
            .env_clear();
        for c in crds {
            cmd.arg(format!("--crd={c}"));
        }
        cmd.output()
    };
    let ours = [
        "clerkdomains.clerk-operator.io",
        "clerkinstances.clerk-operator.io",
        "clusterclerkinstances.clerk-operator.io",
    ];
    let out = check(format!("https://localhost:{port}/readyz"), &ours)?;
    ensure!(out.status.success(), "check failed: {}", text(&out));
    ensure!(text(&out).contains("ok: CRD clusterclerkinstances.clerk-operator.io is established"));
    let out = check(
        format!("https://localhost:{port}/metrics"),
        &["clerkdomains.clerk-operator.io", "nothing.example.com"],
    )?;
    let said = text(&out);
    ensure!(!out.status.success(), "check passed: {said}");
    ensure!(
        said.contains("answered 401") && said.contains("CRD nothing.example.com: not found"),
        "{said}"
    );
    Ok(())
}
