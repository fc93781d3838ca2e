//! The stages of a ClerkDomain's life that the health trial captures, each with the verdicts
//! kstatus, the Argo CD check and `kubectl wait` must give.

use super::*;
use kube::Api;

/// Clerk answers 503 to everything.
fn storm() -> Faults {
    Faults {
        error_rates: BTreeMap::from([(503, 1.0)]),
        ..Default::default()
    }
}

/// Created: the apiserver's answer to the create, before the operator wrote any status.
/// kstatus cannot tell it from a kind without status (Current); Argo CD waits.
pub(super) async fn created(env: &TestEnv) -> anyhow::Result<()> {
    env.fake.set_faults(Faults {
        latency_ms: 3000,
        latency_min_ms: 3000,
        ..Default::default()
    });
    let created = env
        .create(&manifest("marketing", "  domain: marketing.example.com\n"))
        .await?;
    let created = serde_json::to_value(&created)?;
    ensure!(
        created.get("status").is_none(),
        "the create answer has a status: {created:#}"
    );
    save_capture("created", &created)?;
    let (k, a) = verdicts(&created)?;
    ensure!(
        k == Verdict::new("Current", "Resource is current") && a.status == "Progressing",
        "created: {k:?} {a:?}"
    );
    Ok(())
}

/// Converging: every Clerk answer takes 3 s, so the operator is at work.
pub(super) async fn converging(env: &TestEnv) -> anyhow::Result<()> {
    expect(
        env,
        "marketing",
        "converging",
        |o| generation_current(o) && is_true(o, "Reconciling") && !is_true(o, "Ready"),
        ("InProgress", Msg::Of("Reconciling")),
        ("Progressing", Msg::Of("Reconciling")),
    )
    .await?;
    ensure!(
        !kubectl_wait_ready(env, "marketing", "1s"),
        "kubectl wait returned while converging"
    );
    env.fake.set_faults(Faults::default());
    Ok(())
}

/// Applied. The domain ID.
pub(super) async fn applied(env: &TestEnv) -> anyhow::Result<String> {
    let applied = env.wait_ready("marketing").await?;
    expect(
        env,
        "marketing",
        "applied",
        |o| {
            generation_current(o)
                && is_true(o, "Ready")
                && !is_true(o, "Reconciling")
                && !is_true(o, "Stalled")
        },
        ("Current", Msg::Is("Resource is Ready")),
        ("Healthy", Msg::Of("Ready")),
    )
    .await?;
    ensure!(
        kubectl_wait_ready(env, "marketing", "10s"),
        "kubectl wait on an applied object"
    );
    let id = applied.status.clone().unwrap().domain_id.unwrap();
    Ok(id)
}

/// Transient failure: Clerk answers 503 to everything; the operator backs off and retries.
pub(super) async fn transient_failure(env: &TestEnv) -> anyhow::Result<()> {
    env.fake.set_faults(storm());
    env.create(&manifest("flaky", "  domain: flaky.example.com\n"))
        .await?;
    expect(
        env,
        "flaky",
        "transient-failure",
        |o| {
            generation_current(o)
                && is_true(o, "Reconciling")
                && !is_true(o, "Ready")
                && !is_true(o, "Stalled")
                && condition(o, "Synced").is_some_and(|c| c.status == "False")
        },
        ("InProgress", Msg::Of("Reconciling")),
        ("Progressing", Msg::Of("Reconciling")),
    )
    .await?;
    ensure!(
        !kubectl_wait_ready(env, "flaky", "1s"),
        "kubectl wait returned during backoff"
    );
    env.fake.set_faults(Faults::default());
    env.wait_ready_within("flaky", Duration::from_secs(120)).await?;
    Ok(())
}

/// Renamed during a 503 storm: the new generation is observed but not realized, so Ready is
/// False, and the status still shows the registered domain.
pub(super) async fn renamed_during_faults(
    env: &TestEnv,
    api: &Api<ClerkDomain>,
    id: &str,
) -> anyhow::Result<()> {
    env.fake.set_faults(storm());
    api.patch(
        "marketing",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"domain": "www.example.com"}})),
    )
    .await?;
    let renamed = expect(
        env,
        "marketing",
        "renamed-during-faults",
        |o| {
            o.metadata.generation == Some(2)
                && generation_current(o)
                && condition(o, "Ready")
                    .is_some_and(|c| c.status != "True" && c.observed_generation == Some(2))
                && is_true(o, "Reconciling")
        },
        ("InProgress", Msg::Of("Reconciling")),
        ("Progressing", Msg::Of("Reconciling")),
    )
    .await?;
    let st = &renamed["status"];
    ensure!(st["domainId"] == id, "domainId kept: {st:#}");
    ensure!(
        st["cnameTargets"].as_array().is_some_and(|t| !t.is_empty()),
        "cnameTargets kept: {st:#}"
    );
    ensure!(
        !kubectl_wait_ready(env, "marketing", "2s"),
        "kubectl wait says Ready for an unapplied rename"
    );
    env.fake.set_faults(Faults::default());
    env.wait_ready_within("marketing", Duration::from_secs(120))
        .await?;
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.id == *id && d.name == "www.example.com"),
        "the rename reached Clerk"
    );
    Ok(())
}

/// Paused: Ready keeps its state, Argo CD shows Suspended.
pub(super) async fn paused(env: &TestEnv, api: &Api<ClerkDomain>) -> anyhow::Result<()> {
    let set_paused = |value: serde_json::Value| {
        let api = api.clone();
        async move {
            let patch = json!({"metadata": {"annotations": {"clerk-operator.io/paused": value}}});
            api.patch("marketing", &PatchParams::default(), &Patch::Merge(patch))
                .await
        }
    };
    set_paused(json!("true")).await?;
    let paused_reason = |o: &ClerkDomain| {
        o.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.reason == "Paused"))
    };
    expect(
        env,
        "marketing",
        "paused",
        |o| paused_reason(o) && is_true(o, "Ready"),
        ("Current", Msg::Is("Resource is Ready")),
        ("Suspended", Msg::Any),
    )
    .await?;
    set_paused(serde_json::Value::Null).await?;
    wait_for(api, "marketing", "unpaused", CONVERGE, |o| !paused_reason(o)).await?;
    Ok(())
}

/// Terminal failures: Clerk rejects the domain for good (422: a proxy URL on a development
/// instance), and a Secret without the key.
pub(super) async fn terminal_failures(env: &TestEnv) -> anyhow::Result<()> {
    env.secret("dev", "key", TEST_KEY).await?;
    env.create(&manifest(
        "rejected",
        "  domain: rejected.example.com\n  proxyUrl: https://rejected.example.com/__clerk\n  secretRef: {name: dev, key: key}\n",
    ))
    .await?;
    expect(
        env,
        "rejected",
        "terminal-failure",
        |o| {
            generation_current(o)
                && is_true(o, "Stalled")
                && !is_true(o, "Reconciling")
                && !is_true(o, "Ready")
        },
        ("Failed", Msg::Of("Stalled")),
        ("Degraded", Msg::Of("Stalled")),
    )
    .await?;

    env.secret("keys", "other", LIVE_KEY).await?;
    env.create(&manifest(
        "nokey",
        "  domain: nokey.example.com\n  secretRef: {name: keys, key: secretKey}\n",
    ))
    .await?;
    let nokey = expect(
        env,
        "nokey",
        "missing-secret-key",
        |o| generation_current(o) && is_true(o, "Stalled") && !is_true(o, "Reconciling"),
        ("Failed", Msg::Of("Stalled")),
        ("Degraded", Msg::Of("Stalled")),
    )
    .await?;
    let msg = message_of(&nokey, "Stalled");
    ensure!(msg.contains("secretKey"), "the message names the key: {msg}");
    Ok(())
}

/// Deleting: Clerk refuses the DELETE for a while, so the finalizer holds the object.
pub(super) async fn deleting(env: &TestEnv, api: &Api<ClerkDomain>) -> anyhow::Result<()> {
    env.fake.set_faults(storm());
    env.delete("marketing").await?;
    expect(
        env,
        "marketing",
        "deleting",
        |o| o.metadata.deletion_timestamp.is_some(),
        ("Terminating", Msg::Is("Resource scheduled for deletion")),
        ("Progressing", Msg::Is("Pending deletion")),
    )
    .await?;
    env.fake.set_faults(Faults::default());
    wait_gone(api, "marketing", Duration::from_secs(120))
        .await
        .context("deleted once Clerk answers")?;
    Ok(())
}
