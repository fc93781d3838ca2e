//! GitOps-grade health: at each stage of a ClerkDomain's life on the real apiserver,
//! what kstatus (Flux), the Argo CD Lua check and `kubectl wait --for=condition=Ready` conclude,
//! from the real libraries (`test_kit::health`). `CLERK_OPERATOR_CAPTURE_TESTDATA=1` writes
//! each captured object into the Lua check's testdata.

use anyhow::{Context as _, ensure};
use clerk_operator::api::ClerkDomain;
use fake_clerk::Faults;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use test_kit::health::{Verdict, capture, save_capture, verdicts};
use test_kit::*;

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn generation_current(o: &ClerkDomain) -> bool {
    o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
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

/// The message of condition `type_` in a captured object.
fn message_of(obj: &serde_json::Value, type_: &str) -> String {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// What a verdict's message must be.
enum Msg {
    /// The message of this condition of the same captured object.
    Of(&'static str),
    Is(&'static str),
    Any,
}

/// Capture `name` from the apiserver until the capture itself is in the stage `pred` describes,
/// keep it as testdata `file` when asked, and check both verdicts on that very capture.
async fn expect(
    env: &TestEnv,
    name: &str,
    file: &str,
    pred: impl Fn(&ClerkDomain) -> bool,
    kstatus: (&str, Msg),
    argo: (&str, Msg),
) -> anyhow::Result<serde_json::Value> {
    let start = std::time::Instant::now();
    let obj = loop {
        let obj = capture(&env.client, &env.ns, name).await?;
        if pred(&serde_json::from_value(obj.clone())?) {
            break obj;
        }
        ensure!(
            start.elapsed() < CONVERGE,
            "{file}: {name} never reached the stage; last: {obj:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    save_capture(file, &obj)?;
    let (k, a) = verdicts(&obj)?;
    for (tool, got, (status, msg)) in [("kstatus", &k, kstatus), ("Argo CD", &a, argo)] {
        let want_msg = match msg {
            Msg::Of(type_) => Some(message_of(&obj, type_)),
            Msg::Is(m) => Some(m.to_string()),
            Msg::Any => None,
        };
        ensure!(
            got.status == status && want_msg.as_ref().is_none_or(|m| &got.message == m),
            "{file}: {tool} says {got:?}, want {status} with message {want_msg:?}; object: {obj:#}"
        );
    }
    Ok(obj)
}

/// Created, converging, applied, transient failure, renamed during faults, paused, terminal
/// failures and deleting, with the verdicts the issue asks for.
pub async fn gitops_health_verdicts(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "health", Default::default()).await?;
    let api = env.domains();
    let storm = || Faults {
        error_rates: BTreeMap::from([(503, 1.0)]),
        ..Default::default()
    };

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

    // Converging: every Clerk answer takes 3 s, so the operator is at work.
    expect(
        &env,
        "marketing",
        "converging",
        |o| generation_current(o) && is_true(o, "Reconciling") && !is_true(o, "Ready"),
        ("InProgress", Msg::Of("Reconciling")),
        ("Progressing", Msg::Of("Reconciling")),
    )
    .await?;
    ensure!(
        !kubectl_wait_ready(&env, "marketing", "1s"),
        "kubectl wait returned while converging"
    );
    env.fake.set_faults(Faults::default());

    // Applied.
    let applied = env.wait_ready("marketing").await?;
    expect(
        &env,
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
        kubectl_wait_ready(&env, "marketing", "10s"),
        "kubectl wait on an applied object"
    );
    let id = applied.status.clone().unwrap().domain_id.unwrap();

    // Transient failure: Clerk answers 503 to everything; the operator backs off and retries.
    env.fake.set_faults(storm());
    env.create(&manifest("flaky", "  domain: flaky.example.com\n"))
        .await?;
    expect(
        &env,
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
        !kubectl_wait_ready(&env, "flaky", "1s"),
        "kubectl wait returned during backoff"
    );
    env.fake.set_faults(Faults::default());
    env.wait_ready_within("flaky", Duration::from_secs(120)).await?;

    // Renamed during a 503 storm: the new generation is observed but not realized, so Ready is
    // False, and the status still shows the registered domain.
    env.fake.set_faults(storm());
    api.patch(
        "marketing",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"domain": "www.example.com"}})),
    )
    .await?;
    let renamed = expect(
        &env,
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
    ensure!(st["domainId"] == id.as_str(), "domainId kept: {st:#}");
    ensure!(
        st["cnameTargets"].as_array().is_some_and(|t| !t.is_empty()),
        "cnameTargets kept: {st:#}"
    );
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
        &env,
        "marketing",
        "paused",
        |o| paused_reason(o) && is_true(o, "Ready"),
        ("Current", Msg::Is("Resource is Ready")),
        ("Suspended", Msg::Any),
    )
    .await?;
    set_paused(serde_json::Value::Null).await?;
    wait_for(&api, "marketing", "unpaused", CONVERGE, |o| !paused_reason(o)).await?;

    // Terminal failures: Clerk rejects the domain for good (422: a proxy URL on a development
    // instance), and a Secret without the key.
    env.secret("dev", "key", TEST_KEY).await?;
    env.create(&manifest(
        "rejected",
        "  domain: rejected.example.com\n  proxyUrl: https://rejected.example.com/__clerk\n  secretRef: {name: dev, key: key}\n",
    ))
    .await?;
    expect(
        &env,
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
        &env,
        "nokey",
        "missing-secret-key",
        |o| generation_current(o) && is_true(o, "Stalled") && !is_true(o, "Reconciling"),
        ("Failed", Msg::Of("Stalled")),
        ("Degraded", Msg::Of("Stalled")),
    )
    .await?;
    let msg = message_of(&nokey, "Stalled");
    ensure!(msg.contains("secretKey"), "the message names the key: {msg}");

    // Deleting: Clerk refuses the DELETE for a while, so the finalizer holds the object.
    env.fake.set_faults(storm());
    env.delete("marketing").await?;
    expect(
        &env,
        "marketing",
        "deleting",
        |o| o.metadata.deletion_timestamp.is_some(),
        ("Terminating", Msg::Is("Resource scheduled for deletion")),
        ("Progressing", Msg::Is("Pending deletion")),
    )
    .await?;
    env.fake.set_faults(Faults::default());
    wait_gone(&api, "marketing", Duration::from_secs(120))
        .await
        .context("deleted once Clerk answers")?;
    Ok(())
}

/// A new object says at once that work has begun (`Reconciling=True`, reason `Progressing`,
/// `observedGeneration` set), before Clerk has answered anything: kstatus would otherwise read
/// an object without status as Current.
pub async fn new_object_is_reconciling_before_clerk_answers(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "first-status", Default::default()).await?;
    env.fake.set_faults(Faults {
        latency_ms: 3000,
        latency_min_ms: 3000,
        ..Default::default()
    });
    env.create(&manifest("slow", "  domain: slow.example.com\n"))
        .await?;
    let o = wait_for(
        &env.domains(),
        "slow",
        "Reconciling/Progressing",
        Duration::from_secs(2),
        |o| condition(o, "Reconciling").is_some_and(|c| c.status == "True" && c.reason == "Progressing"),
    )
    .await?;
    ensure!(
        generation_current(&o),
        "observedGeneration not set: {:?}",
        o.status
    );
    ensure!(
        condition(&o, "Ready").is_none(),
        "Ready before Clerk answered: {:?}",
        o.status
    );
    let (kstatus, argo) = verdicts(&capture(&env.client, &env.ns, "slow").await?)?;
    ensure!(
        kstatus.status == "InProgress" && argo.status == "Progressing",
        "{kstatus:?} {argo:?}"
    );
    env.fake.set_faults(Faults::default());
    env.wait_ready("slow").await?;
    Ok(())
}
