//! A ClerkDomain's key through an instance object: the object must exist, select the domain's
//! namespace (ClusterClerkInstance), and be Ready for its current generation; then its Secret is
//! read through the same cache as a `secretRef`. No Clerk call is made when it is refused.

use super::kind::InstanceObject;
use super::select::{InstanceKey, selects};
use super::status::usable;
use crate::api::{ClerkDomain, IN_USE, InstanceRefKind};
use crate::clerk::SecretKey;
use crate::controller::failure::Failure;
use crate::controller::reason::Reason;
use crate::controller::{Context, credentials};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::{Api, ResourceExt};

/// Why a key is resolved. At [`Cleanup`](Purpose::Cleanup) the namespace's permission to use
/// a shared key (a ClusterClerkInstance's `namespaceSelector`, `--default-key-namespaces`) is
/// not asked again: the object created what it owns while it had it, and deleting exactly that
/// (by its ID, on the pinned instance) must not hang when the permission is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Apply,
    Cleanup,
}

/// The instance object a ClerkDomain's key came from.
#[derive(Clone, Debug)]
pub struct Via {
    pub key: InstanceKey,
    /// The Clerk instance the object is pinned to (`status.instanceId`).
    pub instance_id: String,
    /// Whether it carries the in-use finalizer already.
    pub has_finalizer: bool,
    /// Its Clerk Platform API settings, and the namespace of the token's Secret.
    pub platform: Option<(crate::api::PlatformSpec, String)>,
    /// Whether it lets the ClerkDomain's namespace manage the primary domain.
    pub primary_allowed: bool,
}

/// The key of the instance object `ik` for `obj`, with its Secret's metadata.
pub(in crate::controller) async fn key_via(
    ctx: &Context,
    obj: &ClerkDomain,
    ik: &InstanceKey,
    purpose: Purpose,
) -> Result<(SecretKey, ObjectMeta, Via), Failure> {
    match ik.kind {
        InstanceRefKind::ClerkInstance => match fetch(ctx, ik, ctx.memory.instances.namespaced(ik)).await? {
            Some(i) => usable_key(ctx, i.as_ref(), ik, "").await,
            None => Err(not_found(ik)),
        },
        InstanceRefKind::ClusterClerkInstance => {
            if let Some(ns) = &ctx.config.namespace {
                return Err(Failure::new(
                    Reason::ClusterInstancesNotServed,
                    format!(
                        "{ik} cannot be used: the operator watches only namespace {ns} (--namespace) and \
                         serves no ClusterClerkInstances; use a ClerkInstance of this namespace"
                    ),
                ));
            }
            let Some(i) = fetch(ctx, ik, ctx.memory.instances.cluster(ik)).await? else {
                return Err(not_found(ik));
            };
            let namespace = obj.namespace().unwrap_or_default();
            let labels = match purpose {
                Purpose::Apply => namespace_labels(ctx, &namespace).await?,
                Purpose::Cleanup => Default::default(),
            };
            match selects(i.namespace_selector(), &labels) {
                _ if purpose == Purpose::Cleanup => {}
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failure::new(
                        Reason::NamespaceNotAllowed,
                        format!(
                            "{ik} may not be used from namespace {namespace}: its spec.namespaceSelector \
                             does not select it (ask the platform team to label the namespace or widen \
                             the selector, or use a ClerkInstance of this namespace)"
                        ),
                    ));
                }
                Err(why) => return Err(Failure::new(Reason::NamespaceNotAllowed, format!("{ik}: {why}"))),
            }
            usable_key(ctx, i.as_ref(), ik, &namespace).await
        }
    }
}

/// The instance object `ik` from the cache, else from the API server: a cache miss is not
/// absence (the cache may not have synced yet, its watch may be failing, or
/// `--instance-label-selector` may leave the object out).
async fn fetch<K: InstanceObject>(
    ctx: &Context,
    ik: &InstanceKey,
    cached: Option<std::sync::Arc<K>>,
) -> Result<Option<std::sync::Arc<K>>, Failure> {
    if cached.is_some() {
        return Ok(cached);
    }
    K::api(ctx.client.clone(), ik)
        .get_opt(&ik.name)
        .await
        .map(|o| o.map(std::sync::Arc::new))
        .map_err(|e| Failure::new(Reason::CredentialsUnreadable, format!("reading {ik}: {e}")))
}

fn not_found(ik: &InstanceKey) -> Failure {
    Failure::new(
        Reason::InstanceNotFound,
        format!("{ik} (spec.instanceRef, or the operator's --default-instance) does not exist"),
    )
}

async fn namespace_labels(
    ctx: &Context,
    namespace: &str,
) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(ctx.client.clone());
    match api.get_metadata_opt(namespace).await {
        Ok(Some(n)) => Ok(n.labels().clone()),
        Ok(None) => Ok(Default::default()),
        Err(e) => Err(Failure::new(
            Reason::CredentialsUnreadable,
            format!("reading the labels of namespace {namespace}: {e}"),
        )),
    }
}

async fn usable_key<K: InstanceObject>(
    ctx: &Context,
    inst: &K,
    ik: &InstanceKey,
    namespace: &str,
) -> Result<(SecretKey, ObjectMeta, Via), Failure> {
    // Deleting an object bumps its generation, and a terminating object is not checked again
    // (its ClerkDomains' cleanup still needs it): judge it by the generation last checked.
    let generation = match inst.meta().deletion_timestamp {
        Some(_) => inst.instance_status().and_then(|s| s.observed_generation),
        None => inst.meta().generation,
    };
    let instance_id = usable(inst.instance_status(), generation)
        .map_err(|(reason, why)| Failure::new(reason, format!("{ik} cannot be used: {why}")))?;
    let ns = inst
        .secret_namespace(ctx.config.credentials_namespace.as_deref())
        .map_err(|why| Failure::new(Reason::CredentialsNamespaceNotSet, format!("{ik}: {why}")))?;
    let (key, meta) = credentials::read_key(ctx, &ns, inst.secret_ref())
        .await
        .map_err(|e| Failure::new(e.reason(), format!("{ik}: {e}")))?;
    let via = Via {
        key: ik.clone(),
        instance_id,
        has_finalizer: inst.finalizers().iter().any(|f| f == IN_USE),
        platform: inst.platform().map(|p| (p.clone(), ns.clone())),
        primary_allowed: inst.allows_primary(namespace),
    };
    Ok((key, meta, via))
}
