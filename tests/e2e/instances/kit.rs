//! Helpers of the instance tests: objects, Secrets, waits.

use clerk_operator::api::{ClerkDomain, ClerkInstance, ClusterClerkInstance};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;
use std::sync::Arc;
use test_kit::*;

pub(super) const IN_USE: &str = "clerk-operator.io/in-use";

pub(super) async fn start(cp: Arc<ControlPlane>, name: &str, opts: EnvOptions) -> anyhow::Result<TestEnv> {
    TestEnv::start(
        cp,
        name,
        EnvOptions {
            cluster_wide: true,
            default_key: None,
            ..opts
        },
    )
    .await
}

/// A Secret `name` with the Clerk key under `key` in namespace `ns`.
pub(super) async fn secret_in(env: &TestEnv, ns: &str, name: &str, value: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.string_data = Some([("key".to_string(), value.to_string())].into());
    api.create(&PostParams::default(), &s).await?;
    Ok(())
}

pub(super) async fn set_key(env: &TestEnv, ns: &str, name: &str, value: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"stringData": {"key": value}})),
    )
    .await?;
    Ok(())
}

pub(super) fn labelled<K: Resource>(env: &TestEnv, mut o: K) -> K {
    o.meta_mut()
        .labels
        .get_or_insert_with(Default::default)
        .insert(ENV_LABEL.into(), env.ns.clone());
    o
}

/// A ClerkInstance `name` in `ns` reading Secret `secret`.
pub(super) async fn clerk_instance(env: &TestEnv, ns: &str, name: &str, secret: &str) -> anyhow::Result<()> {
    let o: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"secretRef": {"name": secret, "key": "key"}},
    }))?;
    Api::<ClerkInstance>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &labelled(env, o))
        .await?;
    Ok(())
}

/// A ClusterClerkInstance `name` reading Secret `secret` of the operator's namespace.
pub(super) async fn cluster_instance(
    env: &TestEnv,
    name: &str,
    secret: &str,
    selector: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let mut spec = json!({"secretRef": {"name": secret, "key": "key"}});
    if let Some(s) = selector {
        spec["namespaceSelector"] = s;
    }
    let o: ClusterClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClusterClerkInstance",
        "metadata": {"name": name}, "spec": spec,
    }))?;
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .create(&PostParams::default(), &labelled(env, o))
        .await?;
    Ok(())
}

pub(super) fn domain(name: &str, host: &str, instance: Option<(&str, &str)>) -> String {
    let r = instance
        .map(|(kind, n)| format!("  instanceRef: {{kind: {kind}, name: {n}}}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n  domain: {host}\n{r}"
    )
}

pub(super) fn cond<'a>(conditions: &'a [Condition], t: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == t)
}

pub(super) fn instance_cond<'a>(
    s: Option<&'a clerk_operator::api::ClerkInstanceStatus>,
    t: &str,
) -> Option<&'a Condition> {
    cond(&s?.conditions, t)
}

/// Wait until the instance object's `type_` condition has `reason`.
pub(super) async fn wait_instance<K>(api: &Api<K>, name: &str, reason: &str) -> anyhow::Result<K>
where
    K: clerk_operator::controller::instances::InstanceObject,
{
    wait_for(api, name, reason, CONVERGE, |o: &K| {
        instance_cond(o.instance_status(), "Ready").is_some_and(|c| c.reason == reason)
            && o.instance_status().and_then(|s| s.observed_generation) == o.meta().generation
    })
    .await
}

pub(super) async fn wait_domain_ready(env: &TestEnv, ns: &str, name: &str) -> anyhow::Result<ClerkDomain> {
    wait_for(&env.domains_in(ns), name, "Ready", CONVERGE, |o| {
        is_true(o, "Ready") && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
    })
    .await
}

pub(super) async fn wait_domain_reason(
    env: &TestEnv,
    ns: &str,
    name: &str,
    reason: &str,
) -> anyhow::Result<ClerkDomain> {
    wait_for(&env.domains_in(ns), name, reason, CONVERGE, |o| {
        condition(o, "Ready").is_some_and(|c| c.reason == reason)
    })
    .await
}

pub(super) fn fake_instance_id(env: &TestEnv, key: &str) -> String {
    env.fake.state().lock().unwrap().instances[key].id.clone()
}

pub(super) fn writes_since(env: &TestEnv, since: jiff::Timestamp) -> usize {
    env.fake
        .requests()
        .iter()
        .filter(|r| r.at >= since && r.is_write())
        .count()
}
