//! What the instance controller needs of either kind: [`InstanceObject`], implemented by
//! `ClerkInstance` (namespaced, key in its own namespace) and `ClusterClerkInstance`
//! (cluster-scoped, key in the operator's namespace).

use super::select::InstanceKey;
use crate::api::{
    ClerkInstance, ClerkInstanceStatus, ClusterClerkInstance, InstanceRefKind, PlatformSpec, SecretKeyRef,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{Api, Client, Resource, ResourceExt};
use serde::{Serialize, de::DeserializeOwned};

/// A ClerkInstance or a ClusterClerkInstance.
pub trait InstanceObject:
    Resource<DynamicType = ()> + Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The kind, as `spec.instanceRef.kind` names it.
    const KIND: InstanceRefKind;
    /// The Secret with the key.
    fn secret_ref(&self) -> &SecretKeyRef;
    /// Clerk's Platform API settings, if any.
    fn platform(&self) -> Option<&PlatformSpec>;
    /// The recorded status.
    fn instance_status(&self) -> Option<&ClerkInstanceStatus>;
    /// Which namespaces may use it (cluster kind only; `None` = all).
    fn namespace_selector(&self) -> Option<&LabelSelector>;
    /// The API of this kind holding `key`'s object.
    fn api(client: Client, key: &InstanceKey) -> Api<Self>;
    /// Whether ClerkDomains of `namespace` may manage the primary domain through it.
    fn allows_primary(&self, namespace: &str) -> bool;

    /// The object's key.
    fn key(&self) -> InstanceKey {
        InstanceKey {
            kind: Self::KIND,
            namespace: self.namespace(),
            name: self.name_any(),
        }
    }

    /// The namespace of its Secret: its own, or (cluster kind) `credentials_namespace`.
    /// `Err` with the reason's words when that is not set.
    fn secret_namespace(&self, credentials_namespace: Option<&str>) -> Result<String, String> {
        match (self.namespace(), credentials_namespace) {
            (Some(ns), _) => Ok(ns),
            (None, Some(ns)) => Ok(ns.to_string()),
            (None, None) => Err(
                "the operator runs without --credentials-namespace, so it does not know where \
                 ClusterClerkInstances' Secrets are and uses none (no namespace is assumed: \
                 ordinary users can often create a Secret there first); start it with \
                 --credentials-namespace (the chart sets the release namespace)"
                    .into(),
            ),
        }
    }
}

impl InstanceObject for ClerkInstance {
    const KIND: InstanceRefKind = InstanceRefKind::ClerkInstance;
    fn secret_ref(&self) -> &SecretKeyRef {
        &self.spec.secret_ref
    }
    fn platform(&self) -> Option<&PlatformSpec> {
        self.spec.platform.as_ref()
    }
    fn instance_status(&self) -> Option<&ClerkInstanceStatus> {
        self.status.as_ref()
    }
    fn namespace_selector(&self) -> Option<&LabelSelector> {
        None
    }
    fn allows_primary(&self, _namespace: &str) -> bool {
        self.spec.allow_primary_domain
    }
    fn api(client: Client, key: &InstanceKey) -> Api<Self> {
        Api::namespaced(client, key.namespace.as_deref().unwrap_or_default())
    }
}

impl InstanceObject for ClusterClerkInstance {
    const KIND: InstanceRefKind = InstanceRefKind::ClusterClerkInstance;
    fn secret_ref(&self) -> &SecretKeyRef {
        &self.spec.secret_ref
    }
    fn platform(&self) -> Option<&PlatformSpec> {
        self.spec.platform.as_ref()
    }
    fn instance_status(&self) -> Option<&ClerkInstanceStatus> {
        self.status.as_ref()
    }
    fn namespace_selector(&self) -> Option<&LabelSelector> {
        self.spec.namespace_selector.as_ref()
    }
    fn allows_primary(&self, namespace: &str) -> bool {
        self.spec.primary_domain_namespaces.iter().any(|n| n == namespace)
    }
    fn api(client: Client, _key: &InstanceKey) -> Api<Self> {
        Api::all(client)
    }
}
