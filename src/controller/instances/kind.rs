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

    /// The object's key.
    fn key(&self) -> InstanceKey {
        InstanceKey {
            kind: Self::KIND,
            namespace: self.namespace(),
            name: self.name_any(),
        }
    }

    /// The namespace of its Secret.
    fn secret_namespace(&self, operator_namespace: &str) -> String {
        self.namespace().unwrap_or_else(|| operator_namespace.to_string())
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
    fn api(client: Client, _key: &InstanceKey) -> Api<Self> {
        Api::all(client)
    }
}
