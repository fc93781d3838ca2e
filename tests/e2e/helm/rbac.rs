//! A missing RBAC rule is reported, not a crash: the operator as a process with one rule fewer
//! than the chart grants.

use super::*;

/// Whether `r` grants anything on `res`.
fn has(r: &PolicyRule, res: &str) -> bool {
    r.resources.as_ref().is_some_and(|v| v.iter().any(|x| x == res))
}

/// One rule fewer than the chart grants: the operator keeps running and says which permission
/// is missing (log, condition or exit message), and recovers when the rule is back.
pub async fn missing_rbac_rule_is_reported_not_a_crash(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp.clone(), "rbac", true).await?;
    let roles: Api<Role> = Api::namespaced(rel.client.clone(), &rel.app_ns);
    let original = roles.get(&rel.name).await?.rules.unwrap_or_default();
    no_status_patch(&rel, &original).await?;
    no_secrets(&rel).await?;
    no_list(&rel, &original).await
}

/// Step 1, no `patch` on clerkdomains/status: logged with the identity and the refusal, and
/// recovered from once the rule is back.
async fn no_status_patch(rel: &Release, original: &[PolicyRule]) -> anyhow::Result<()> {
    rel.edit_role(|rules| rules.retain(|r| !has(r, "clerkdomains/status")))
        .await?;
    let mut op = OperatorProcess::spawn(&rel.operator(&format!("{}-a", rel.name), true))?;
    rel.create_domain("blocked", json!({"domain": "blocked.example.com"}))
        .await?;
    let line = op
        .wait_log(&["cannot patch resource", "clerkdomains/status"], CONVERGE)
        .await?;
    ensure!(line["level"] == "WARN" || line["level"] == "ERROR", "{line}");
    ensure!(
        line.to_string().contains(&rel.user()) && line.to_string().contains("forbidden"),
        "the log line names neither the identity nor the refusal: {line}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure!(op.is_running(), "operator exited: {}", op.log_tail(40));
    ensure!(op.http_get("/healthz").await?.0 == 200);
    ensure!(
        op.metric_sum("clerk_operator_reconciles_total", &["result=\"error\""])
            .await?
            >= 1.0
    );
    // Back: the next retry reports status, without a second domain in Clerk.
    rel.edit_role(|rules| *rules = original.to_vec()).await?;
    rel.wait_ready("blocked", &op).await?;
    let same_name = rel
        .fake
        .domains(LIVE_KEY)
        .iter()
        .filter(|d| d.name == "blocked.example.com")
        .count();
    ensure!(same_name == 1, "{same_name} domains named blocked.example.com");
    op.terminate();
    op.wait_exit(Duration::from_secs(30)).await?;
    Ok(())
}

/// Step 2, no access to Secrets (and none to ConfigMaps): the secretRef ClerkDomain says so in its
/// status, the others work.
async fn no_secrets(rel: &Release) -> anyhow::Result<()> {
    rel.edit_role(|rules| rules.retain(|r| !has(r, "secrets") && !has(r, "configmaps")))
        .await?;
    let secrets: Api<Secret> = Api::namespaced(rel.client.clone(), &rel.app_ns);
    let mut s = Secret::default();
    s.metadata.name = Some("tenant-key".into());
    s.string_data = Some([("CLERK_SECRET_KEY".to_string(), TEST_KEY.to_string())].into());
    secrets.create(&PostParams::default(), &s).await?;
    let op = OperatorProcess::spawn(&rel.operator(&format!("{}-b", rel.name), true))?;
    rel.create_domain(
        "tenant",
        json!({"domain": "tenant.example.com", "secretRef": {"name": "tenant-key", "key": "CLERK_SECRET_KEY"}}),
    )
    .await?;
    rel.create_domain("plain", json!({"domain": "plain.example.com"}))
        .await?;
    let obj = wait_for(
        &rel.domains(),
        "tenant",
        "CredentialsUnreadable",
        CONVERGE,
        |o: &ClerkDomain| {
            condition(o, "Ready").is_some_and(|c| c.status == "False" && c.reason == "CredentialsUnreadable")
        },
    )
    .await
    .with_context(|| op.log_tail(40))?;
    let message = &condition(&obj, "Ready").unwrap().message;
    ensure!(
        message.contains("tenant-key") && message.contains("forbidden") && message.contains("secrets"),
        "condition message: {message}"
    );
    rel.wait_event("tenant", "CredentialsUnreadable").await?;
    rel.wait_ready("plain", &op).await?;
    // The watch of owned ConfigMaps (a trigger) is refused too; that is logged, not fatal.
    let line = op
        .wait_log(&["cannot list resource", "configmaps"], CONVERGE)
        .await?;
    ensure!(line["level"] == "WARN" || line["level"] == "ERROR", "{line}");
    let mut op = op;
    ensure!(op.is_running(), "operator exited: {}", op.log_tail(40));
    op.terminate();
    op.wait_exit(Duration::from_secs(30)).await?;
    Ok(())
}

/// Step 3, cannot list ClerkDomains: nothing to do at all, so it exits non-zero and says why.
async fn no_list(rel: &Release, original: &[PolicyRule]) -> anyhow::Result<()> {
    rel.edit_role(|rules| *rules = original.to_vec()).await?;
    rel.edit_role(|rules| rules.retain(|r| !has(r, "clerkdomains")))
        .await?;
    let mut op = OperatorProcess::spawn(&rel.operator(&format!("{}-c", rel.name), true))?;
    let status = op.wait_exit(CONVERGE).await?;
    ensure!(!status.success(), "exit status {status}");
    let logs = op.logs();
    ensure!(
        logs.contains("cannot list ClerkDomains") && logs.contains("forbidden"),
        "no clear message: {}",
        op.log_tail(20)
    );
    Ok(())
}
