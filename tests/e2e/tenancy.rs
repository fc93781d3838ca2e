//! Tenancy against the real apiserver: the primary domain stays the platform's, adoption is
//! explicit across operators sharing one Clerk, an object the operator cannot decode stops
//! nobody, Ready tells the truth, and an object that owns nothing is not pinned.

use anyhow::{Context as _, ensure};
use clerk_operator::api::{ClerkDomain, ClusterClerkInstance};
use fake_clerk::{Faults, Scripted, ScriptedFault};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

mod cleanup;
pub use cleanup::*;

pub(crate) fn manifest(name: &str, annotations: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n{spec}"
    )
}

pub(crate) async fn wait_reason(
    api: &Api<ClerkDomain>,
    name: &str,
    reason: &str,
) -> anyhow::Result<ClerkDomain> {
    wait_for(api, name, reason, CONVERGE, |o| {
        condition(o, "Ready").is_some_and(|c| c.reason == reason)
    })
    .await
}

pub(crate) async fn key_secret(env: &TestEnv, ns: &str, name: &str, value: &str) -> anyhow::Result<()> {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.string_data = Some([("key".to_string(), value.to_string())].into());
    Api::<Secret>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &s)
        .await?;
    Ok(())
}

/// A ClusterClerkInstance of this test (labelled), reading Secret `secret` of the test's
/// namespace (its credentials namespace).
pub(crate) async fn cluster_instance(
    env: &TestEnv,
    name: &str,
    spec: serde_json::Value,
) -> anyhow::Result<()> {
    let o: ClusterClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClusterClerkInstance",
        "metadata": {"name": name, "labels": {ENV_LABEL: env.ns}}, "spec": spec,
    }))?;
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .create(&PostParams::default(), &o)
        .await?;
    Ok(())
}

fn primary(env: &TestEnv) -> anyhow::Result<clerk_operator::clerk::Domain> {
    env.fake
        .domains(LIVE_KEY)
        .into_iter()
        .find(|d| !d.is_satellite)
        .context("the fake has a primary")
}

/// The primary domain is changed only from namespaces an instance object (or the flag, for
/// the default key) allows: elsewhere a ClerkDomain for it is refused before any Clerk call,
/// with the default key and with a ClusterClerkInstance, and gets no export.
pub async fn primary_is_changed_only_from_allowed_namespaces(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        cluster_wide: true,
        primary_domains: true,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "ten-primary", opts).await?;
    let (own, tenant) = (env.ns.clone(), env.ns_b());
    let evil = "  domain: example.com\n  isSatellite: false\n  proxyUrl: https://evil.example.net/__clerk\n  export: {configMapName: stolen}\n";
    env.create_in(&tenant, &manifest("take", "", evil)).await?;
    let o = wait_reason(&env.domains_in(&tenant), "take", "PrimaryDomainNotAllowed").await?;
    ensure!(
        is_true(&o, "Stalled") && o.status.as_ref().unwrap().domain_id.is_none(),
        "{o:?}"
    );
    // Through a ClusterClerkInstance that selects every namespace but allows none.
    key_secret(&env, &own, "shared", LIVE_KEY).await?;
    cluster_instance(
        &env,
        "shared",
        json!({"secretRef": {"name": "shared", "key": "key"}}),
    )
    .await?;
    let via = format!("{evil}  instanceRef: {{kind: ClusterClerkInstance, name: shared}}\n");
    env.create_in(&tenant, &manifest("via", "", &via)).await?;
    wait_reason(&env.domains_in(&tenant), "via", "PrimaryDomainNotAllowed").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let p = primary(&env)?;
    ensure!(p.proxy_url.is_none(), "a tenant set the primary's proxy: {p:?}");
    let stats = env.fake.stats();
    ensure!(stats.count("UpdateDomain") == 0, "{stats:?}");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(env.client.clone(), &tenant);
    ensure!(
        cms.get_opt("stolen").await?.is_none(),
        "a tenant got the primary's export"
    );
    // The allowed namespace manages it; the instance object allows the tenant once listed.
    env.create(&manifest(
        "root",
        "",
        "  domain: example.com\n  isSatellite: false\n",
    ))
    .await?;
    env.wait_ready("root").await?;
    env.delete_and_wait("root").await?;
    let allow = json!({"spec": {"primaryDomainNamespaces": [tenant]}});
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .patch("shared", &PatchParams::default(), &Patch::Merge(&allow))
        .await?;
    wait_for(&env.domains_in(&tenant), "via", "Ready", CONVERGE, |o| {
        is_true(o, "Ready")
    })
    .await?;
    ensure!(primary(&env)?.proxy_url.as_deref() == Some("https://evil.example.net/__clerk"));
    Ok(())
}

/// Two operators, each watching its own namespace, on one Clerk instance: the second never
/// takes the domain the first created by its name, and deleting its objects (refused, or
/// explicitly adopting) never deletes that domain.
pub async fn two_operators_never_take_each_others_domains(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let first = TestEnv::start(cp.clone(), "ten-op1", Default::default()).await?;
    let opts = EnvOptions {
        clerk_url: Some(first.fake.base_url()),
        ..Default::default()
    };
    let second = TestEnv::start(cp, "ten-op2", opts).await?;
    first
        .create(&manifest("site", "", "  domain: site.example.com\n"))
        .await?;
    let id = first.ready_id("site").await?;
    second
        .create(&manifest("same", "", "  domain: site.example.com\n"))
        .await?;
    let o = wait_reason(&second.domains(), "same", "NameTakenInClerk").await?;
    ensure!(condition(&o, "Ready").unwrap().message.contains(&id));
    second.delete_and_wait("same").await?;
    let held = |env: &TestEnv| env.fake.domains(LIVE_KEY).iter().any(|d| d.id == id);
    ensure!(held(&first), "the second operator deleted the first's domain");
    // Explicit adoption: Ready, but kept when the adopter goes.
    let note = format!("clerk-operator.io/domain-id: {id}");
    second
        .create(&manifest("adopter", &note, "  domain: site.example.com\n"))
        .await?;
    let st = second.wait_ready("adopter").await?.status.unwrap();
    ensure!(st.adopted == Some(true) && st.domain_id.as_deref() == Some(id.as_str()));
    second.delete_and_wait("adopter").await?;
    second.wait_event("adopter", "AdoptedKept").await?;
    ensure!(held(&first), "deleting an adopter deleted the domain");
    ensure!(first.fake.stats().count("DeleteDomain") == 0);
    first.wait_ready("site").await?;
    Ok(())
}

/// Ready is True only while Clerk holds the object's domain: after an out-of-band delete whose
/// re-create keeps failing transiently, Ready goes False.
pub async fn ready_goes_false_when_the_domain_is_gone(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "ten-gone", Default::default()).await?;
    env.create(&manifest("gone", "", "  domain: gone.example.com\n"))
        .await?;
    let id = env.ready_id("gone").await?;
    let failing = Scripted {
        operation: "AddDomain".into(),
        key: None,
        fault: ScriptedFault::Status(503),
    };
    env.fake.set_faults(Faults {
        scripted: vec![failing; 200],
        ..Default::default()
    });
    ensure!(env.fake.remove_domain(LIVE_KEY, &id));
    let at = json!({"metadata": {"annotations": {"clerk-operator.io/reconcile-requested-at": "now"}}});
    env.domains()
        .patch("gone", &PatchParams::default(), &Patch::Merge(&at))
        .await?;
    let o = wait_for(&env.domains(), "gone", "Ready=False", CONVERGE, |o| {
        condition(o, "Ready").is_some_and(|c| c.status == "False")
    })
    .await?;
    let ready = condition(&o, "Ready").unwrap();
    ensure!(
        ready.message.contains(&id) && ready.reason == "ClerkUnavailable",
        "{ready:?}"
    );
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .all(|d| d.name != "gone.example.com")
    );
    Ok(())
}

/// An object that owns nothing is not pinned: refused on the default (production) key, it
/// moves to the development key its new secretRef names and becomes Ready there.
pub async fn an_object_that_owns_nothing_may_move(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "ten-move", Default::default()).await?;
    env.create(&manifest("dev", "", "  domain: localhost:3000\n"))
        .await?;
    let o = wait_reason(&env.domains(), "dev", "PortNotAllowed").await?;
    ensure!(o.status.as_ref().unwrap().domain_id.is_none());
    key_secret(&env, &env.ns, "dev-key", TEST_KEY).await?;
    let spec = json!({"spec": {"secretRef": {"name": "dev-key", "key": "key"}}});
    env.domains()
        .patch("dev", &PatchParams::default(), &Patch::Merge(&spec))
        .await?;
    let st = env.wait_ready("dev").await?.status.unwrap();
    let dev = env.fake.domains(TEST_KEY);
    ensure!(
        dev.iter()
            .any(|d| Some(&d.id) == st.domain_id.as_ref() && d.name == "localhost:3000"),
        "{st:?}"
    );
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .all(|d| d.name != "localhost:3000")
    );
    Ok(())
}
