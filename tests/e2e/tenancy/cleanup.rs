//! Nothing a tenant can store stops the operator, and cleanup never guesses or hangs: objects
//! the types cannot decode, instance objects missing from the cache, a namespace deleted after
//! its permission went, and no implicit credentials namespace.

use super::{cluster_instance, key_secret, manifest, wait_reason};
use anyhow::ensure;
use clerk_operator::api::{ClerkInstance, ClusterClerkInstance};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use std::sync::Arc;
use test_kit::*;

/// A condition whose `lastTransitionTime` the API server accepts as `date-time` (a fraction of
/// 13 digits) but the operator's time type does not.
fn odd_status() -> serde_json::Value {
    json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Odd",
        "message": "", "lastTransitionTime": "2026-01-02T03:04:05.1234567891234Z"}]}})
}

/// One ClerkDomain and one ClerkInstance whose stored status the operator's types cannot decode
/// strictly stop nobody: the operator starts, every object (these too) reconciles, and deletion
/// cleans up Clerk.
pub async fn undecodable_objects_stop_nobody(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let mut env = TestEnv::start(cp, "ten-odd", Default::default()).await?;
    env.create(&manifest("plain", "", "  domain: plain.example.com\n"))
        .await?;
    env.wait_ready("plain").await?;
    // The odd objects are stored while no operator runs; then one starts.
    env.stop_controller().await?;
    key_secret(&env, &env.ns, "inst-key", LIVE_KEY).await?;
    let inst: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": "odd"}, "spec": {"secretRef": {"name": "inst-key", "key": "key"}},
    }))?;
    let instances: Api<ClerkInstance> = Api::namespaced(env.client.clone(), &env.ns);
    instances.create(&PostParams::default(), &inst).await?;
    env.create(&manifest("odd", "", "  domain: odd.example.com\n"))
        .await?;
    // Written and read back untyped: only the operator is under test.
    let merge = Patch::Merge(odd_status());
    for kind in ["ClerkDomain", "ClerkInstance"] {
        let gvk = kube::api::GroupVersionKind::gvk("clerk-operator.io", "v1alpha1", kind);
        let ar = kube::api::ApiResource::from_gvk(&gvk);
        Api::<kube::api::DynamicObject>::namespaced_with(env.client.clone(), &env.ns, &ar)
            .patch_status("odd", &PatchParams::default(), &merge)
            .await?;
    }
    env.start_controller(Default::default());
    let via = "  domain: via.example.com\n  instanceRef: {kind: ClerkInstance, name: odd}\n";
    env.create(&manifest("via", "", via)).await?;
    for name in ["plain", "via", "odd"] {
        env.wait_ready(name).await?;
    }
    for name in ["plain", "via", "odd"] {
        env.delete_and_wait(name).await?;
    }
    let left: Vec<String> = env.fake.domains(LIVE_KEY).into_iter().map(|d| d.name).collect();
    ensure!(
        left.iter()
            .all(|n| !n.ends_with("odd.example.com") && !n.starts_with("via.") && !n.starts_with("plain.")),
        "{left:?}"
    );
    Ok(())
}

/// `--watch-label-selector` filters ClerkDomains only; and an instance object missing from the
/// cache is read from the API server before cleanup lets anything go: the domain is deleted.
pub async fn cleanup_confirms_absence_with_the_api_server(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let shard = || EnvOptions {
        selector: Some("shard=a".into()),
        ..Default::default()
    };
    let mut env = TestEnv::start(cp, "ten-cache", shard()).await?;
    key_secret(&env, &env.ns, "inst-key", LIVE_KEY).await?;
    let inst: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": "team"}, "spec": {"secretRef": {"name": "inst-key", "key": "key"}},
    }))?;
    Api::<ClerkInstance>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &inst)
        .await?;
    let yaml = "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: sharded\n  labels: {shard: a}\nspec:\n  domain: sharded.example.com\n  instanceRef: {kind: ClerkInstance, name: team}\n";
    env.create(yaml).await?;
    let id = env.ready_id("sharded").await?;
    // The instance object is left out of the cache from now on.
    env.stop_controller().await?;
    env.start_controller(EnvOptions {
        instance_selector: Some("shard=none".into()),
        ..shard()
    });
    env.delete_and_wait("sharded").await?;
    ensure!(
        env.fake.domains(LIVE_KEY).iter().all(|d| d.id != id),
        "released on a cache miss: the domain was left in Clerk"
    );
    Ok(())
}

/// Deleting a namespace whose ClusterClerkInstance no longer selects it finishes: the object's
/// own domain is deleted by its ID on the pinned instance; an object whose ClerkInstance is
/// Stalled (its key revoked) is released, its domain left in Clerk; the namespace goes.
pub async fn namespace_deletion_finishes_after_permission_is_gone(
    cp: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let opts = EnvOptions {
        cluster_wide: true,
        default_key: None,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "ten-nsdel", opts).await?;
    let tenant = env.ns_b();
    key_secret(&env, &env.ns, "shared", LIVE_KEY).await?;
    let only = |ns: &str| json!({"matchLabels": {"kubernetes.io/metadata.name": ns}});
    let spec = json!({"secretRef": {"name": "shared", "key": "key"}, "namespaceSelector": only(&tenant)});
    // Cluster-scoped: a name no other trial uses.
    cluster_instance(&env, "shared-nsdel", spec).await?;
    let yaml =
        "  domain: tenant.example.com\n  instanceRef: {kind: ClusterClerkInstance, name: shared-nsdel}\n";
    env.create_in(&tenant, &manifest("app", "", yaml)).await?;
    let o = wait_for(&env.domains_in(&tenant), "app", "Ready", CONVERGE, |o| {
        is_true(o, "Ready")
    })
    .await?;
    let id = o.status.unwrap().domain_id.unwrap();
    // A second object, through the namespace's own ClerkInstance, whose key then stops working.
    key_secret(&env, &tenant, "team-key", LIVE_KEY).await?;
    let inst: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": "team", "labels": {ENV_LABEL: env.ns}},
        "spec": {"secretRef": {"name": "team-key", "key": "key"}},
    }))?;
    Api::<ClerkInstance>::namespaced(env.client.clone(), &tenant)
        .create(&PostParams::default(), &inst)
        .await?;
    let own = "  domain: own.example.com\n  instanceRef: {kind: ClerkInstance, name: team}\n";
    env.create_in(&tenant, &manifest("own", "", own)).await?;
    let o = wait_for(&env.domains_in(&tenant), "own", "Ready", CONVERGE, |o| {
        is_true(o, "Ready")
    })
    .await?;
    let kept = o.status.unwrap().domain_id.unwrap();
    let bad = json!({"stringData": {"key": "sk_live_revoked_key_0000"}});
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), &tenant)
        .patch("team-key", &PatchParams::default(), &Patch::Merge(&bad))
        .await?;
    wait_reason(&env.domains_in(&tenant), "own", "InstanceStalled").await?;
    let narrow = json!({"spec": {"namespaceSelector": only("nowhere")}});
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .patch("shared-nsdel", &PatchParams::default(), &Patch::Merge(&narrow))
        .await?;
    wait_reason(&env.domains_in(&tenant), "app", "NamespaceNotAllowed").await?;
    let nss: Api<Namespace> = Api::all(env.client.clone());
    nss.delete(&tenant, &Default::default()).await?;
    wait_gone(&nss, &tenant, CONVERGE).await?;
    let held = env.fake.domains(LIVE_KEY);
    ensure!(
        held.iter().all(|d| d.id != id),
        "the namespace went but its domain stayed in Clerk"
    );
    // The Stalled instance's domain cannot be deleted with its key: released, left in Clerk.
    ensure!(held.iter().any(|d| d.id == kept), "deleted with a revoked key?");
    Ok(())
}

/// Without `--credentials-namespace` no ClusterClerkInstance is used: it says why
/// (`CredentialsNamespaceNotSet`, Stalled), Clerk is not asked, and its ClerkDomains wait.
pub async fn cluster_instances_need_a_credentials_namespace(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        cluster_wide: true,
        default_key: None,
        credentials_namespace: false,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "ten-creds", opts).await?;
    for ns in [env.ns.clone(), "default".to_string()] {
        key_secret(&env, &ns, &format!("{}-key", env.ns), LIVE_KEY).await?;
    }
    let secret = format!("{}-key", env.ns);
    cluster_instance(
        &env,
        &env.ns,
        json!({"secretRef": {"name": secret, "key": "key"}}),
    )
    .await?;
    let api: Api<ClusterClerkInstance> = Api::all(env.client.clone());
    let inst = wait_for(&api, &env.ns, "CredentialsNamespaceNotSet", CONVERGE, |o| {
        let st = o.status.as_ref();
        let c = |t: &str| st.and_then(|s| s.conditions.iter().find(|c| c.type_ == t).cloned());
        c("Ready").is_some_and(|c| c.reason == "CredentialsNamespaceNotSet")
            && c("Stalled").is_some_and(|c| c.status == "True")
    })
    .await?;
    ensure!(inst.status.unwrap().instance_id.is_none());
    let yaml = format!(
        "  domain: creds.example.com\n  instanceRef: {{kind: ClusterClerkInstance, name: {}}}\n",
        env.ns
    );
    env.create(&manifest("app", "", &yaml)).await?;
    wait_for(&env.domains(), "app", "Stalled", CONVERGE, |o| {
        is_true(o, "Stalled")
    })
    .await?;
    let stats = env.fake.stats();
    ensure!(
        stats.count("GetInstance") + stats.count("AddDomain") == 0,
        "{stats:?}"
    );
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), "default")
        .delete(&secret, &Default::default())
        .await?;
    Ok(())
}

/// Options of a cluster-wide operator on ClusterClerkInstances only.
fn cluster_only(credentials_namespace: bool) -> EnvOptions {
    EnvOptions {
        cluster_wide: true,
        default_key: None,
        credentials_namespace,
        ..Default::default()
    }
}

/// Two objects Ready through a ClusterClerkInstance; then the operator runs without
/// `--credentials-namespace`, and later watching one namespace only: deleting each object
/// finishes at once with a Warning `Orphaned` Event, and its domain is left in Clerk (the
/// operator no longer serves the instance object that created it: `InstanceStalled` through
/// the instance's `CredentialsNamespaceNotSet`, then `ClusterInstancesNotServed`).
pub async fn cleanup_lets_go_when_cluster_instances_are_not_served(
    cp: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let mut env = TestEnv::start(cp, "ten-unserved", cluster_only(true)).await?;
    key_secret(&env, &env.ns, "shared", LIVE_KEY).await?;
    // Cluster-scoped: a name no other trial uses.
    cluster_instance(
        &env,
        "shared-unserved",
        json!({"secretRef": {"name": "shared", "key": "key"}}),
    )
    .await?;
    let yaml = "  domain: {n}.unserved.example.com\n  instanceRef: {kind: ClusterClerkInstance, name: shared-unserved}\n";
    let mut ids = vec![];
    for name in ["creds", "scoped"] {
        env.create(&manifest(name, "", &yaml.replace("{n}", name)))
            .await?;
        let o = wait_for(&env.domains(), name, "Ready", CONVERGE, |o| is_true(o, "Ready")).await?;
        ids.push(o.status.unwrap().domain_id.unwrap());
    }
    env.stop_controller().await?;
    env.start_controller(cluster_only(false));
    released(&env, "creds").await?;
    env.stop_controller().await?;
    env.start_controller(EnvOptions {
        default_key: None,
        ..Default::default()
    });
    released(&env, "scoped").await?;
    let held = env.fake.domains(LIVE_KEY);
    ensure!(
        ids.iter().all(|id| held.iter().any(|d| &d.id == id)),
        "a domain was deleted without its instance object: {held:?}"
    );
    Ok(())
}

/// Delete `name` and see it go with a Warning `Orphaned` Event.
async fn released(env: &TestEnv, name: &str) -> anyhow::Result<()> {
    env.delete_and_wait(name).await?;
    let reasons = env.event_reasons(name).await?;
    ensure!(reasons.iter().any(|r| r == "Orphaned"), "{name}: {reasons:?}");
    Ok(())
}
