//! Owned children (the DNSEndpoint of `spec.dns.externalDNS`, the ConfigMap of `spec.export`):
//! the one way they are written ([`apply_owned`]) and deleted ([`delete_owned`]).
//!
//! Contract: an object is written or deleted only when it does not exist or carries this
//! ClerkDomain's controller ownerReference (its UID). The check is a precondition the API server
//! enforces, not only a read before the write:
//! - an existing object is applied with the `resourceVersion` at which it was seen to be ours, so
//!   that a change in between (a new owner, a new object of the same name) fails with a conflict
//!   instead of being overwritten; only then is the apply forced (to take back fields a user edited);
//! - a missing object is applied without force and without a `resourceVersion`: if another writer
//!   created it meanwhile, every field it set conflicts and nothing is taken from it;
//! - a delete carries the UID and `resourceVersion` seen to be ours.
//!
//! An object of another owner is never written or deleted: [`apply_owned`] reports
//! [`Applied::NotOwned`] and [`delete_owned`] leaves it alone.

use crate::dns::endpoint::controlled_by;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// What [`apply_owned`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Created, or updated to the desired state (a no-op apply included).
    Written,
    /// Already as desired: nothing was sent.
    Unchanged,
    /// It exists and is not this ClerkDomain's: left alone.
    NotOwned,
}

/// Server-side apply `desired` (named, with this ClerkDomain's controller ownerReference) as
/// `manager`, under the ownership precondition of this module. `unchanged` says whether an
/// existing object (ours) already holds what `desired` says, so no request is needed.
pub(crate) async fn apply_owned<K>(
    api: &Api<K>,
    owner_uid: &str,
    manager: &str,
    mut desired: K,
    unchanged: impl Fn(&K) -> bool,
) -> Result<Applied, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = desired.name_any();
    let pp = match api.get_opt(&name).await? {
        Some(existing) if !controlled_by(existing.meta(), owner_uid) => return Ok(Applied::NotOwned),
        Some(existing) if unchanged(&existing) => return Ok(Applied::Unchanged),
        Some(existing) => {
            desired.meta_mut().resource_version = existing.resource_version();
            PatchParams::apply(manager).force()
        }
        None => PatchParams::apply(manager),
    };
    api.patch(&name, &pp, &Patch::Apply(&desired)).await?;
    Ok(Applied::Written)
}

/// Delete `name` if it carries this ClerkDomain's controller ownerReference (`owner_uid`), with
/// the UID and resourceVersion it was seen at as preconditions. Gone already, or another
/// owner's: `Ok` (nothing to do).
pub(crate) async fn delete_owned<K>(api: &Api<K>, name: &str, owner_uid: &str) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let Some(existing) = api.get_opt(name).await? else {
        return Ok(());
    };
    if !controlled_by(existing.meta(), owner_uid) {
        return Ok(());
    }
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: existing.uid(),
            resource_version: existing.resource_version(),
        }),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `e` is the API server's answer for a resource type it does not serve (or an object
/// that is gone): 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
