//! The `clerk-operator.io/in-use` finalizer on Secrets that ClerkDomains and instance objects
//! use: added when one reads its key, removed once no ClerkDomain (`secretRef`) and no
//! ClerkInstance or ClusterClerkInstance refers to the Secret any more, so that deleting a
//! namespace cannot take the key away before the ClerkDomains are cleaned up. Opt-in
//! (`--secret-protection`): it needs `list`, `watch` and `patch` on Secrets.

use super::Context;
use crate::api::annotations::SECRET_IN_USE;
use crate::api::{ClerkDomain, ClerkInstance, ClusterClerkInstance};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub use super::memory::SecretKeyName;

/// Add the finalizer to `secret` unless it has it; nothing without Secret protection
/// (`--secret-protection`).
pub async fn ensure_in_use(ctx: &Context, secret: &ObjectMeta) -> Result<(), kube::Error> {
    if !ctx.config.secret_protection {
        return Ok(());
    }
    let finalizers = secret.finalizers.clone().unwrap_or_default();
    let ns = secret.namespace.clone().unwrap_or_default();
    let name = secret.name.clone().unwrap_or_default();
    ctx.memory.track_secret((ns.clone(), name.clone()));
    // A Secret being deleted may get no new finalizer (and one that has it is kept anyway).
    if finalizers.iter().any(|f| f == SECRET_IN_USE) || secret.deletion_timestamp.is_some() {
        return Ok(());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let ops = if secret.finalizers.is_none() {
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": secret.resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": [SECRET_IN_USE]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": secret.resource_version},
            {"op": "add", "path": "/metadata/finalizers/-", "value": SECRET_IN_USE},
        ])
    };
    let patch: json_patch::Patch = serde_json::from_value(ops).expect("valid JSON patch");
    api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await?;
    tracing::debug!(secret = %format!("{ns}/{name}"), "added in-use finalizer");
    Ok(())
}

/// Whether any ClerkDomain in `objects` (the controller's cache) still refers to the Secret.
pub fn in_use(objects: &[Arc<ClerkDomain>], secret: &SecretKeyName) -> bool {
    objects.iter().any(|o| uses_secret(o, &secret.0, &secret.1))
}

/// Whether `obj` reads its key from Secret `namespace/name` (only its own namespace counts).
pub fn uses_secret(obj: &ClerkDomain, namespace: &str, name: &str) -> bool {
    obj.namespace().as_deref() == Some(namespace)
        && obj.spec.secret_ref.as_ref().is_some_and(|r| r.name == name)
}

/// Remove the finalizer from `secret` if present and, asked of the API server itself (not the
/// cache, which may lag), no ClerkDomain of its namespace refers to it.
/// Returns whether the Secret is done with (released, or gone); `false` while it is in use.
async fn release(ctx: &Context, secret: &SecretKeyName) -> Result<bool, kube::Error> {
    let domains: Api<ClerkDomain> = Api::namespaced(ctx.client.clone(), &secret.0);
    let live = domains.list(&Default::default()).await?;
    if live.items.iter().any(|o| uses_secret(o, &secret.0, &secret.1)) {
        return Ok(false);
    }
    if instance_uses_secret(ctx, secret).await? {
        return Ok(false);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &secret.0);
    let Some(s) = api.get_metadata_opt(&secret.1).await? else {
        return Ok(true);
    };
    let Some(i) = s.finalizers().iter().position(|f| f == SECRET_IN_USE) else {
        return Ok(true);
    };
    let ops = json!([
        {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": SECRET_IN_USE},
        {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops).expect("valid JSON patch");
    api.patch(&secret.1, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await?;
    tracing::info!(secret = %format!("{}/{}", secret.0, secret.1), "removed in-use finalizer: no ClerkDomain uses it");
    Ok(true)
}

/// Whether a ClerkInstance of the Secret's namespace, or (in the operator's namespace) a
/// ClusterClerkInstance, refers to it, as the API server lists them now.
async fn instance_uses_secret(ctx: &Context, secret: &SecretKeyName) -> Result<bool, kube::Error> {
    let (ns, name) = secret;
    let namespaced: Api<ClerkInstance> = Api::namespaced(ctx.client.clone(), ns);
    if namespaced
        .list(&Default::default())
        .await?
        .items
        .iter()
        .any(|i| &i.spec.secret_ref.name == name)
    {
        return Ok(true);
    }
    if ctx.config.namespace.is_some() || ctx.config.credentials_namespace.as_deref() != Some(ns.as_str()) {
        return Ok(false);
    }
    let cluster: Api<ClusterClerkInstance> = Api::all(ctx.client.clone());
    Ok(cluster
        .list(&Default::default())
        .await?
        .items
        .iter()
        .any(|i| &i.spec.secret_ref.name == name))
}

/// Every few seconds, release tracked Secrets that no ClerkDomain refers to any more, and forget
/// keys of Secrets that are gone. Call it once the ClerkDomain cache is synced.
pub async fn release_unused(ctx: Arc<Context>) {
    loop {
        ctx.prune_keys();
        let objects = ctx.stores.domains.state();
        let tracked = ctx.memory.tracked_secrets();
        tracing::trace!(
            tracked = tracked.len(),
            objects = objects.len(),
            "checking Secrets in use"
        );
        for secret in tracked {
            let instances = ctx.memory.instances.using_secret(
                &secret.0,
                &secret.1,
                ctx.config.credentials_namespace.as_deref(),
            );
            if in_use(&objects, &secret) || !instances.is_empty() {
                continue;
            }
            match release(&ctx, &secret).await {
                Ok(true) => ctx.memory.untrack_secret(&secret),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, secret = %format!("{}/{}", secret.0, secret.1), "could not release Secret")
                }
            }
        }
        tokio::select! {
            _ = ctx.memory.secrets_changed.notified() => {},
            _ = tokio::time::sleep(Duration::from_secs(5)) => {},
        }
    }
}
