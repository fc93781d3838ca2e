//! Lifecycle semantics against the real apiserver: adoption, deletion policy, pause, drift,
//! conflicts, credentials safety.

use anyhow::{Context as _, ensure};
use clerk_operator::api::ClerkDomain;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

mod safety;
pub use safety::*;

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

async fn annotate(env: &TestEnv, name: &str, key: &str, value: Option<&str>) -> anyhow::Result<()> {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    env.domains()
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

async fn set_spec(env: &TestEnv, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
    env.domains()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await?;
    Ok(())
}

async fn wait_reason(env: &TestEnv, name: &str, type_: &str, reason: &str) -> anyhow::Result<ClerkDomain> {
    wait_for(&env.domains(), name, reason, CONVERGE, |o| {
        condition(o, type_).is_some_and(|c| c.reason == reason)
    })
    .await
}

/// Annotation `clerk-operator.io/domain-id` adopts that domain (renaming it to the spec) without a POST.
pub async fn adopt_by_annotation(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "adopt-id", Default::default()).await?;
    let legacy = env.fake.insert_domain(LIVE_KEY, "legacy.example.com", None);
    let yaml = format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: adopted\n  annotations:\n    clerk-operator.io/domain-id: {}\nspec:\n  domain: renamed.example.com\n",
        legacy.id
    );
    env.create(&yaml).await?;
    let st = env.wait_ready("adopted").await?.status.unwrap();
    ensure!(
        st.domain_id.as_deref() == Some(legacy.id.as_str()) && st.adopted == Some(true),
        "{st:?}"
    );
    let d = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .find(|d| d.id == legacy.id)
        .context("still in Clerk")?;
    ensure!(d.name == "renamed.example.com", "renamed in Clerk: {}", d.name);
    ensure!(env.fake.stats().count("AddDomain") == 0);
    env.wait_event("adopted", "Adopted").await?;
    // Deleting the object keeps what it adopted.
    env.delete_and_wait("adopted").await?;
    ensure!(
        env.fake.domains(LIVE_KEY).iter().any(|d| d.id == legacy.id),
        "an adopted domain was deleted"
    );
    ensure!(env.fake.stats().count("DeleteDomain") == 0);
    env.wait_event("adopted", "AdoptedKept").await?;
    // A target that does not exist is reported, and nothing is created in its place.
    let bad = "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: ghost\n  annotations:\n    clerk-operator.io/domain-id: dmn_doesnotexist\nspec:\n  domain: ghost.example.com\n";
    env.create(bad).await?;
    let obj = wait_reason(&env, "ghost", "Synced", "AdoptionTargetNotFound").await?;
    ensure!(
        condition(&obj, "Synced")
            .unwrap()
            .message
            .contains("dmn_doesnotexist")
    );
    ensure!(
        env.fake.stats().count("AddDomain") == 0,
        "created instead of adopting"
    );
    Ok(())
}

/// `deletionPolicy: Orphan` releases the finalizer without calling Clerk.
pub async fn orphan_policy_keeps_domain(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "orphan", Default::default()).await?;
    env.create(&manifest(
        "keep",
        "  domain: keep.example.com\n  deletionPolicy: Orphan\n",
    ))
    .await?;
    let id = env.ready_id("keep").await?;
    env.delete_and_wait("keep").await?;
    ensure!(
        env.fake.domains(LIVE_KEY).iter().any(|d| d.id == id),
        "orphaned domain was deleted"
    );
    ensure!(env.fake.stats().count("DeleteDomain") == 0);
    env.wait_event("keep", "Orphaned").await?;
    Ok(())
}

/// `clerk-operator.io/paused: "true"` stops Clerk writes; deleting a paused object never hangs.
pub async fn pause_stops_writes_and_deletes_orphan(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "pause", Default::default()).await?;
    env.create(&manifest("p", "  domain: paused.example.com\n"))
        .await?;
    let id = env.ready_id("p").await?;
    annotate(&env, "p", "clerk-operator.io/paused", Some("true")).await?;
    let obj = wait_reason(&env, "p", "Synced", "Paused").await?;
    ensure!(is_true(&obj, "Ready"), "pausing keeps Ready");
    let before = env.fake.stats().total;
    set_spec(&env, "p", json!({"domain": "paused2.example.com"})).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(env.fake.stats().total == before, "Clerk was called while paused");
    let name = |env: &TestEnv| {
        env.fake
            .domains(LIVE_KEY)
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| d.name)
    };
    ensure!(name(&env).as_deref() == Some("paused.example.com"));
    // Unpausing carries out the change.
    annotate(&env, "p", "clerk-operator.io/paused", None).await?;
    env.wait_ready("p").await?;
    ensure!(name(&env).as_deref() == Some("paused2.example.com"));
    // Deleting while paused: released as Orphan, promptly.
    annotate(&env, "p", "clerk-operator.io/paused", Some("true")).await?;
    wait_reason(&env, "p", "Synced", "Paused").await?;
    env.delete_and_wait("p").await?;
    ensure!(name(&env).is_some(), "paused object's domain was deleted");
    env.wait_event("p", "Orphaned").await?;
    Ok(())
}

/// The periodic resync recreates a domain deleted outside the cluster and reverts fields changed
/// outside it.
pub async fn drift_is_repaired_on_resync(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        resync: Duration::from_secs(1),
        list_ttl: Duration::from_millis(200),
        ..Default::default()
    };
    let env = TestEnv::start(cp, "drift", opts).await?;
    env.create(&manifest(
        "d",
        "  domain: drift.example.com\n  proxyUrl: https://drift.example.com/__clerk\n",
    ))
    .await?;
    let id = env.ready_id("d").await?;
    // Changed outside: name and proxy are put back.
    env.fake.modify_domain(LIVE_KEY, &id, |d| {
        d.name = "hijacked.example.com".into();
        d.proxy_url = None;
    });
    eventually("drift reverted", CONVERGE, Duration::from_millis(200), || async {
        let d = env.fake.domains(LIVE_KEY).into_iter().find(|d| d.id == id);
        let d = d.context("domain gone")?;
        let reverted = d.name == "drift.example.com"
            && d.proxy_url.as_deref() == Some("https://drift.example.com/__clerk");
        Ok(reverted.then_some(()).ok_or_else(|| format!("{d:?}")))
    })
    .await?;
    // Deleted outside: recreated, with a new ID and an Event.
    ensure!(env.fake.remove_domain(LIVE_KEY, &id));
    let obj = wait_for(&env.domains(), "d", "recreated", CONVERGE, |o| {
        is_true(o, "Ready")
            && o.status
                .as_ref()
                .and_then(|s| s.domain_id.as_deref())
                .is_some_and(|i| i != id)
    })
    .await?;
    let new_id = obj.status.unwrap().domain_id.unwrap();
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .filter(|d| d.name == "drift.example.com")
            .count()
            == 1
    );
    ensure!(env.fake.domains(LIVE_KEY).iter().any(|d| d.id == new_id));
    env.wait_event("d", "Recreated").await?;
    Ok(())
}

/// `clerk-operator.io/reconcile-requested-at` forces a fresh look at Clerk at once, and
/// `clerk-operator.io/resync-period` overrides the resync period per object.
pub async fn forced_and_per_object_resync(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "resync", Default::default()).await?; // resync 5 min, cache 5 s
    env.create(&manifest("r", "  domain: resync.example.com\n"))
        .await?;
    let id = env.ready_id("r").await?;
    ensure!(env.fake.remove_domain(LIVE_KEY, &id));
    annotate(
        &env,
        "r",
        "clerk-operator.io/reconcile-requested-at",
        Some("first"),
    )
    .await?;
    let obj = wait_for(&env.domains(), "r", "handled", CONVERGE, |o| {
        o.status.as_ref().is_some_and(|s| {
            s.last_handled_reconcile_at.as_deref() == Some("first")
                && s.domain_id.as_deref() != Some(id.as_str())
        }) && is_true(o, "Ready")
    })
    .await?;
    let new_id = obj.status.unwrap().domain_id.unwrap();
    // Per-object period: 10 s (the shortest allowed) instead of 5 min, so drift is seen
    // without any trigger.
    annotate(&env, "r", "clerk-operator.io/resync-period", Some("10s")).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.fake
        .modify_domain(LIVE_KEY, &new_id, |d| d.name = "elsewhere.example.com".into());
    let every = Duration::from_millis(200);
    eventually(
        "the rename reverted by the per-object resync",
        Duration::from_secs(35),
        every,
        || async {
            let held = env.fake.domains(LIVE_KEY);
            let name = held.into_iter().find(|d| d.id == new_id).map(|d| d.name);
            let reverted = name.as_deref() == Some("resync.example.com");
            Ok(reverted.then_some(()).ok_or_else(|| format!("{name:?}")))
        },
    )
    .await
}
