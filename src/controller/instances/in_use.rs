//! The `clerk-operator.io/in-use` finalizer on instance objects: added while ClerkDomains use
//! one, removed once the API server itself (not the cache, which may lag) lists no ClerkDomain
//! using it. As with Secrets, deleting a namespace then cannot take the key away before its
//! ClerkDomains are cleaned up, and never hangs: the ClerkDomains go first (the namespace
//! controller deletes them, their cleanup reads the key through the terminating object), then
//! the finalizer goes.

use super::kind::InstanceObject;
use super::select::{InstanceKey, KeySource, choose};
use crate::api::{ClerkDomain, IN_USE};
use crate::controller::Context;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

/// Field manager of the finalizer (server-side apply of `metadata.finalizers`, a set).
const MANAGER: &str = "clerk-operator-in-use";

/// Add the finalizer to the object `key` names (idempotent; a no-op for an object being
/// deleted, which may get no new finalizer).
pub async fn ensure<K: InstanceObject>(ctx: &Context, key: &InstanceKey) -> Result<(), kube::Error> {
    let api = K::api(ctx.client.clone(), key);
    let patch = json!({
        "apiVersion": "clerk-operator.io/v1alpha1",
        "kind": K::KIND.as_str(),
        "metadata": {"name": key.name, "finalizers": [IN_USE]},
    });
    match api
        .patch(&key.name, &PatchParams::apply(MANAGER), &Patch::Apply(&patch))
        .await
    {
        Ok(_) => {
            tracing::debug!(instance = %key, "added in-use finalizer");
            Ok(())
        }
        // Gone, or being deleted (no new finalizers then): nothing to protect any more.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 => Ok(()),
        Err(e) => Err(e),
    }
}

/// [`ensure`] for the kind `key` names.
pub async fn ensure_for(ctx: &Context, key: &InstanceKey) -> Result<(), kube::Error> {
    match key.kind {
        crate::api::InstanceRefKind::ClerkInstance => ensure::<crate::api::ClerkInstance>(ctx, key).await,
        crate::api::InstanceRefKind::ClusterClerkInstance => {
            ensure::<crate::api::ClusterClerkInstance>(ctx, key).await
        }
    }
}

/// How many ClerkDomains use `key`'s object, as the API server lists them now.
pub async fn users_in_api(ctx: &Context, key: &InstanceKey) -> Result<usize, kube::Error> {
    let api: Api<ClerkDomain> = match &key.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => match &ctx.config.namespace {
            Some(ns) => Api::namespaced(ctx.client.clone(), ns),
            None => Api::all(ctx.client.clone()),
        },
    };
    let mut lp = ListParams::default();
    if let Some(s) = &ctx.config.selector {
        lp = lp.labels(s);
    }
    let default = ctx.config.default_instance.as_deref();
    let live = api.list(&lp).await?;
    Ok(live
        .items
        .iter()
        .filter(|d| {
            let ns = d.namespace().unwrap_or_default();
            choose(&d.spec, &ns, default) == KeySource::Instance(key.clone())
        })
        .count())
}

/// Remove the finalizer from `obj` if no ClerkDomain uses it (asked of the API server).
/// Returns whether the object is done with.
pub async fn release<K: InstanceObject>(ctx: &Context, obj: &K) -> Result<bool, kube::Error> {
    let key = obj.key();
    let Some(i) = obj.finalizers().iter().position(|f| f == IN_USE) else {
        return Ok(true);
    };
    if users_in_api(ctx, &key).await? > 0 {
        return Ok(false);
    }
    let ops = json!([
        {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": IN_USE},
        {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops).expect("valid JSON patch");
    K::api(ctx.client.clone(), &key)
        .patch(&key.name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await?;
    tracing::info!(instance = %key, "removed in-use finalizer: no ClerkDomain uses it");
    // Its Secret may be free now.
    ctx.memory.secrets_changed.notify_one();
    Ok(true)
}
