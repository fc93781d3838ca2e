//! GitOps-grade health (issue #12): at each stage of a ClerkDomain's life on the real apiserver,
//! what kstatus (Flux), the Argo CD Lua check and `kubectl wait --for=condition=Ready` conclude,
//! from the real libraries (`tests/support/health.rs`). `CLERK_OPERATOR_CAPTURE_TESTDATA=1` writes
//! each captured object into the Lua check's testdata.

use crate::support::health::{Verdict, capture, save_capture, verdicts};
use crate::support::*;
use anyhow::{Context as _, ensure};
use clerk_operator::api::ClerkDomain;
use clerk_operator::fake::{Faults, Scripted, ScriptedFault};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn generation_current(o: &ClerkDomain) -> bool {
    o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

fn cond_message(o: &ClerkDomain, type_: &str) -> String {
    condition(o, type_).map(|c| c.message.clone()).unwrap_or_default()
}

/// `kubectl wait --for=condition=Ready` on `name`: whether it returned success within `timeout`.
fn kubectl_wait_ready(env: &TestEnv, name: &str, timeout: &str) -> bool {
    let out = env.cp.kubectl(&[
        "wait",
        "-n",
        &env.ns,
        "--for=condition=Ready",
        &format!("--timeout={timeout}"),
        &format!("cdom/{name}"),
    ]);
    out.status.success()
}

/// Capture `name`, keep it as testdata `file` when asked, and check both verdicts.
async fn expect(
    env: &TestEnv,
    name: &str,
    file: &str,
    kstatus: Verdict,
    argo: (&str, Option<String>),
) -> anyhow::Result<serde_json::Value> {
    let obj = capture(&env.client, &env.ns, name).await?;
    save_capture(file, &obj)?;
    let (k, a) = verdicts(&obj)?;
    ensure!(
        k == kstatus,
        "{file}: kstatus says {k:?}, want {kstatus:?}; object: {obj:#}"
    );
    ensure!(
        a.status == argo.0,
        "{file}: Argo CD says {a:?}, want {}; object: {obj:#}",
        argo.0
    );
    if let Some(message) = argo.1 {
        ensure!(
            a.message == message,
            "{file}: Argo CD message {:?}, want {message:?}",
            a.message
        );
    }
    Ok(obj)
}

fn scripted(operation: &str, fault: ScriptedFault) -> Scripted {
    Scripted {
        operation: operation.into(),
        fault,
    }
}

/// Created, converging, applied, transient failure, renamed during faults, paused, terminal
/// failures and deleting, with the verdicts the issue asks for.
pub async fn gitops_health_verdicts(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "health", Default::default()).await?;
    let api = env.domains();

    // Created: the apiserver's answer to the create, before the operator wrote any status.
    // kstatus cannot tell it from a kind without status (Current); Argo CD waits.
    env.fake.set_faults(Faults {
        latency_ms: 3000,
        latency_min_ms: 3000,
        ..Default::default()
    });
    let created = env
        .create(&manifest("marketing", "  domain: marketing.example.com\n"))
        .await?;
    let created = serde_json::to_value(&created)?;
    save_capture("created", &created)?;
    let (k, a) = verdicts(&created)?;
    ensure!(
        k.status == "Current" && a.status == "Progressing",
        "created: {k:?} {a:?}"
    );

    // Converging: every Clerk answer takes 3 s, so the operator is at work.
    let converging = wait_for(&api, "marketing", "Reconciling", CONVERGE, |o| {
        generation_current(o) && is_true(o, "Reconciling") && !is_true(o, "Ready")
    })
    .await?;
    let msg = cond_message(&converging, "Reconciling");
    expect(
        &env,
        "marketing",
        "converging",
        Verdict::new("InProgress", &msg),
        ("Progressing", Some(msg.clone())),
    )
    .await?;
    ensure!(
        !kubectl_wait_ready(&env, "marketing", "1s"),
        "kubectl wait returned while converging"
    );
    env.fake.set_faults(Faults::default());

    // Applied.
    let applied = env.wait_ready("marketing").await?;
    ensure!(!is_true(&applied, "Reconciling") && !is_true(&applied, "Stalled"));
    expect(
        &env,
        "marketing",
        "applied",
        Verdict::new("Current", "Resource is Ready"),
        ("Healthy", Some(cond_message(&applied, "Ready"))),
    )
    .await?;
    ensure!(
        kubectl_wait_ready(&env, "marketing", "10s"),
        "kubectl wait on an applied object"
    );
    let id = applied.status.clone().unwrap().domain_id.unwrap();

    // Transient failure: Clerk answers 503 to the first creates; the operator backs off.
    env.fake.set_faults(Faults {
        scripted: (0..3)
            .map(|_| scripted("AddDomain", ScriptedFault::Status(503)))
            .collect(),
        ..Default::default()
    });
    env.create(&manifest("flaky", "  domain: flaky.example.com\n"))
        .await?;
    let flaky = wait_for(&api, "flaky", "retrying after a 503", CONVERGE, |o| {
        generation_current(o) && is_true(o, "Reconciling") && !is_true(o, "Ready") && !is_true(o, "Stalled")
    })
    .await?;
    let msg = cond_message(&flaky, "Reconciling");
    expect(
        &env,
        "flaky",
        "transient-failure",
        Verdict::new("InProgress", &msg),
        ("Progressing", Some(msg.clone())),
    )
    .await?;
    ensure!(
        !kubectl_wait_ready(&env, "flaky", "1s"),
        "kubectl wait returned during backoff"
    );
    env.wait_ready_within("flaky", Duration::from_secs(120)).await?;

    // Renamed during a 503 storm: the new generation is observed but not realized, so Ready is
    // False, and the status still shows the registered domain.
    env.fake.set_faults(Faults {
        error_rates: BTreeMap::from([(503, 1.0)]),
        ..Default::default()
    });
    api.patch(
        "marketing",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"domain": "www.example.com"}})),
    )
    .await?;
    let renamed = wait_for(&api, "marketing", "rename pending", CONVERGE, |o| {
        o.metadata.generation == Some(2) && generation_current(o) && !is_true(o, "Ready")
    })
    .await?;
    let st = renamed.status.clone().unwrap();
    ensure!(
        st.domain_id.as_deref() == Some(id.as_str()),
        "domainId kept: {st:?}"
    );
    ensure!(!st.cname_targets.is_empty(), "cnameTargets kept: {st:?}");
    ensure!(condition(&renamed, "Ready").is_some_and(|c| c.observed_generation == Some(2)));
    expect(
        &env,
        "marketing",
        "renamed-during-faults",
        Verdict::new("InProgress", &cond_message(&renamed, "Reconciling")),
        ("Progressing", None),
    )
    .await?;
    ensure!(
        !kubectl_wait_ready(&env, "marketing", "2s"),
        "kubectl wait says Ready for an unapplied rename"
    );
    env.fake.set_faults(Faults::default());
    env.wait_ready_within("marketing", Duration::from_secs(120))
        .await?;
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.id == id && d.name == "www.example.com"),
        "the rename reached Clerk"
    );

    // Paused: Ready keeps its state, Argo CD shows Suspended.
    api.patch(
        "marketing",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"clerk-operator.io/paused": "true"}}})),
    )
    .await?;
    let paused = wait_for(&api, "marketing", "Paused", CONVERGE, |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.reason == "Paused"))
    })
    .await?;
    ensure!(is_true(&paused, "Ready"), "pausing keeps Ready");
    expect(
        &env,
        "marketing",
        "paused",
        Verdict::new("Current", "Resource is Ready"),
        ("Suspended", None),
    )
    .await?;
    api.patch(
        "marketing",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"clerk-operator.io/paused": null}}})),
    )
    .await?;
    wait_for(&api, "marketing", "unpaused", CONVERGE, |o| {
        o.status
            .as_ref()
            .is_some_and(|s| !s.conditions.iter().any(|c| c.reason == "Paused"))
    })
    .await?;

    // Terminal failures: Clerk rejects the domain (422), and a Secret without the key.
    env.fake.set_faults(Faults {
        scripted: vec![scripted("AddDomain", ScriptedFault::Status(422))],
        ..Default::default()
    });
    env.create(&manifest("rejected", "  domain: rejected.example.com\n"))
        .await?;
    let rejected = wait_for(&api, "rejected", "Stalled", CONVERGE, |o| {
        generation_current(o) && is_true(o, "Stalled")
    })
    .await?;
    let msg = cond_message(&rejected, "Stalled");
    ensure!(!is_true(&rejected, "Reconciling") && !is_true(&rejected, "Ready"));
    expect(
        &env,
        "rejected",
        "terminal-failure",
        Verdict::new("Failed", &msg),
        ("Degraded", Some(msg.clone())),
    )
    .await?;
    env.fake.set_faults(Faults::default());

    env.secret("keys", "other", LIVE_KEY).await?;
    env.create(&manifest(
        "nokey",
        "  domain: nokey.example.com\n  secretRef: {name: keys, key: secretKey}\n",
    ))
    .await?;
    let nokey = wait_for(&api, "nokey", "Stalled", CONVERGE, |o| {
        generation_current(o) && is_true(o, "Stalled")
    })
    .await?;
    let msg = cond_message(&nokey, "Stalled");
    ensure!(msg.contains("secretKey"), "the message names the key: {msg}");
    expect(
        &env,
        "nokey",
        "missing-secret-key",
        Verdict::new("Failed", &msg),
        ("Degraded", Some(msg.clone())),
    )
    .await?;

    // Deleting: Clerk refuses the DELETE for a while, so the finalizer holds the object.
    env.fake.set_faults(Faults {
        error_rates: BTreeMap::from([(503, 1.0)]),
        ..Default::default()
    });
    env.delete("marketing").await?;
    wait_for(&api, "marketing", "deleting", CONVERGE, |o| {
        o.metadata.deletion_timestamp.is_some()
    })
    .await?;
    expect(
        &env,
        "marketing",
        "deleting",
        Verdict::new("Terminating", "Resource scheduled for deletion"),
        ("Progressing", Some("Pending deletion".into())),
    )
    .await?;
    env.fake.set_faults(Faults::default());
    wait_gone(&api, "marketing", Duration::from_secs(120))
        .await
        .context("deleted once Clerk answers")?;
    Ok(())
}
