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

mod stages;

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
    let stage = format!("{file}: {name} in the stage");
    let obj = eventually(&stage, CONVERGE, Duration::from_millis(100), || async {
        let obj = capture(&env.client, &env.ns, name).await?;
        let reached = pred(&serde_json::from_value(obj.clone())?);
        Ok(if reached { Ok(obj) } else { Err(format!("{obj:#}")) })
    })
    .await?;
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
    stages::created(&env).await?;
    stages::converging(&env).await?;
    let id = stages::applied(&env).await?;
    stages::transient_failure(&env).await?;
    stages::renamed_during_faults(&env, &api, &id).await?;
    stages::paused(&env, &api).await?;
    stages::terminal_failures(&env).await?;
    stages::deleting(&env, &api).await?;
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
