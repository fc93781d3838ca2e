//! What the controller's cache keeps of each ClerkDomain. The cache holds every object for the
//! life of the process, so it keeps a [`CachedDomain`]: the metadata the operator reads, and
//! spec and status as their compact JSON, one allocation each instead of a tree of strings
//! and lists (a Ready object's status alone is about 20 of them). A reconcile, the ownership
//! index and the instance registry read the whole [`ClerkDomain`] ([`CachedDomain::expand`]);
//! scans over every object (the condition metric, the Ready gauge, Secrets in use) read only
//! what they need from the JSON.

use crate::api::{ClerkDomain, ClerkDomainSpec, ClerkDomainStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::marker::PhantomData;

/// `kubectl apply`'s record of the last applied object (read only by kubectl).
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A value held as its compact JSON. Deserialized as `T` (so a value `T` refuses is refused
/// here too) and written back out; read again with [`Packed::get`].
pub(crate) struct Packed<T> {
    json: Box<str>,
    of: PhantomData<fn() -> T>,
}

impl<T> Clone for Packed<T> {
    fn clone(&self) -> Self {
        Self {
            json: self.json.clone(),
            of: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Packed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json)
    }
}

impl<T: Serialize + DeserializeOwned> Packed<T> {
    pub(crate) fn new(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self {
            json: serde_json::to_string(value)?.into_boxed_str(),
            of: PhantomData,
        })
    }

    /// The value again.
    pub(crate) fn get(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.json)
    }

    /// Part of the value, read with `P` (which may borrow from the JSON).
    pub(crate) fn view<'a, P: Deserialize<'a>>(&'a self) -> Result<P, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for Packed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&T::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A ClerkDomain as the controller's cache holds it: its metadata, and spec and status packed.
/// Same API group, kind and plural as [`ClerkDomain`], so it is watched and listed as one.
#[derive(Clone, Debug, Deserialize)]
pub struct CachedDomain {
    metadata: ObjectMeta,
    spec: Packed<ClerkDomainSpec>,
    #[serde(default)]
    status: Option<Packed<ClerkDomainStatus>>,
}

impl kube::Resource for CachedDomain {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        ClerkDomain::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        ClerkDomain::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        ClerkDomain::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        ClerkDomain::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A condition as a scan over the cache reads it, borrowed from the packed status.
#[derive(Debug, Deserialize, PartialEq)]
pub struct ConditionView<'a> {
    #[serde(rename = "type", borrow)]
    pub type_: Cow<'a, str>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    #[serde(borrow, default)]
    pub reason: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ConditionsView<'a> {
    #[serde(borrow, default)]
    conditions: Vec<ConditionView<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretRefView<'a> {
    #[serde(borrow, default)]
    secret_ref: Option<NameView<'a>>,
}

#[derive(Deserialize)]
struct NameView<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

impl CachedDomain {
    /// `obj` as the cache would hold it.
    pub fn pack(obj: &ClerkDomain) -> Result<Self, serde_json::Error> {
        let mut cached = Self {
            metadata: obj.metadata.clone(),
            spec: Packed::new(&obj.spec)?,
            status: obj.status.as_ref().map(Packed::new).transpose()?,
        };
        slim(&mut cached);
        Ok(cached)
    }

    /// The whole object, as the API server served it (less what [`slim`] dropped).
    pub fn expand(&self) -> Result<ClerkDomain, serde_json::Error> {
        let mut obj = ClerkDomain::new("", self.spec.get()?);
        obj.metadata = self.metadata.clone();
        obj.status = self.status.as_ref().map(Packed::get).transpose()?;
        Ok(obj)
    }

    /// The status's conditions (none if it has no status, or none that can be read).
    pub fn conditions(&self) -> Vec<ConditionView<'_>> {
        let view = self.status.as_ref().map(|s| s.view::<ConditionsView<'_>>());
        view.and_then(Result::ok)
            .map(|v| v.conditions)
            .unwrap_or_default()
    }

    /// The name in `spec.secretRef`, if any.
    pub fn secret_name(&self) -> Option<Cow<'_, str>> {
        let view = self.spec.view::<SecretRefView<'_>>().ok()?;
        view.secret_ref.map(|r| r.name)
    }
}

/// `event` with its object expanded; `None` (logged) for an object that cannot be read back.
pub(crate) fn expand_event(event: &watcher::Event<CachedDomain>) -> Option<watcher::Event<ClerkDomain>> {
    let expand = |o: &CachedDomain| match o.expand() {
        Ok(o) => Some(o),
        Err(e) => {
            let key = super::steps::key(o);
            tracing::warn!(object = %key, error = %e, "cached ClerkDomain cannot be read back");
            None
        }
    };
    Some(match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(expand(o)?),
        watcher::Event::InitApply(o) => watcher::Event::InitApply(expand(o)?),
        watcher::Event::Delete(o) => watcher::Event::Delete(expand(o)?),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    })
}

/// Trim `o`'s metadata for the cache:
/// - `managedFields` go, allocation and all (one entry per field manager, each a tree of small
///   maps; nothing here reads them, as status is written by server-side apply). Clearing the
///   list would keep room for every entry it held.
/// - `kubectl apply`'s copy of the whole object in an annotation goes, and so does the map
///   once it is empty.
/// - The finalizer list is cut to its length (a JSON list is read without a size hint, so one
///   finalizer takes room for four).
pub(crate) fn slim(o: &mut CachedDomain) {
    let meta = &mut o.metadata;
    meta.managed_fields = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
    if let Some(f) = &mut meta.finalizers {
        f.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    /// An object as the API serves it: with managedFields, kubectl's annotation, a Secret
    /// reference and a Ready status.
    fn served() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "clerk-operator.io/v1alpha1",
            "kind": "ClerkDomain",
            "metadata": {
                "name": "a", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["clerk-operator.io/cleanup"],
                "annotations": {LAST_APPLIED: "{\"spec\":{}}"},
                "labels": {"team": "web"},
                "managedFields": [
                    {"manager": "kubectl", "operation": "Apply", "apiVersion": "clerk-operator.io/v1alpha1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:domain": {}}}},
                    {"manager": "clerk-operator", "operation": "Apply", "subresource": "status",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:domainId": {}}}}
                ]
            },
            "spec": {"domain": "a.example.com", "isSatellite": true, "deletionPolicy": "Delete",
                     "secretRef": {"name": "clerk \"prod\"", "key": "secretKey"}},
            "status": {
                "observedGeneration": 2,
                "domainId": "dmn_1",
                "instanceId": "ins_1",
                "cnameTargets": [
                    {"host": "clerk.a.example.com", "value": "frontend-api.clerk.services", "required": true},
                    {"host": "accounts.a.example.com", "value": "accounts.clerk.services", "required": true}
                ],
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Registered", "message": "",
                     "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2},
                    {"type": "Stalled", "status": "False", "reason": "Registered", "message": "ok",
                     "lastTransitionTime": "2026-01-01T00:00:01Z", "observedGeneration": 2}
                ]
            }
        })
    }

    #[test]
    fn the_cache_gives_back_the_object_without_what_it_drops() {
        let line = served().to_string();
        let cached: CachedDomain = serde_json::from_str(&line).unwrap();
        let mut cached = cached;
        slim(&mut cached);
        let mut want: ClerkDomain = serde_json::from_str(&line).unwrap();
        want.metadata.managed_fields = None;
        want.metadata.annotations = None;
        assert_eq!(cached.expand().unwrap(), want);
        assert_eq!(cached.meta().managed_fields, None);
        assert_eq!(cached.meta().finalizers.as_ref().unwrap().capacity(), 1);
        // Packing a whole object gives the same.
        let repacked = CachedDomain::pack(&want).unwrap();
        assert_eq!(repacked.expand().unwrap(), want);
    }

    #[test]
    fn other_annotations_stay() {
        let mut json = served();
        json["metadata"]["annotations"]["clerk-operator.io/reconcile"] = "1".into();
        let mut cached: CachedDomain = serde_json::from_value(json).unwrap();
        slim(&mut cached);
        let a = cached.meta().annotations.clone().unwrap();
        assert_eq!(a.keys().collect::<Vec<_>>(), ["clerk-operator.io/reconcile"]);
    }

    #[test]
    fn scans_read_conditions_and_the_secret_from_the_packed_json() {
        let cached: CachedDomain = serde_json::from_value(served()).unwrap();
        let conditions = cached.conditions();
        let seen: Vec<(&str, &str, &str)> = conditions
            .iter()
            .map(|c| (c.type_.as_ref(), c.status.as_ref(), c.reason.as_ref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("Ready", "True", "Registered"),
                ("Stalled", "False", "Registered")
            ]
        );
        assert_eq!(cached.secret_name().as_deref(), Some("clerk \"prod\""));
        let mut bare = served();
        bare["status"] = serde_json::Value::Null;
        bare["spec"] = serde_json::json!({"domain": "b.example.com"});
        let bare: CachedDomain = serde_json::from_value(bare).unwrap();
        assert!(bare.conditions().is_empty());
        assert_eq!(bare.secret_name(), None);
        assert_eq!(bare.expand().unwrap().status, None);
    }

    /// Watch events and list pages are read by kube's own types (an adjacently tagged enum, a
    /// list with a flattened field): the packed form must come out of both.
    #[test]
    fn watch_events_and_lists_carry_the_packed_form() {
        let event = serde_json::json!({"type": "MODIFIED", "object": served()}).to_string();
        let event: kube::core::WatchEvent<CachedDomain> = serde_json::from_str(&event).unwrap();
        let kube::core::WatchEvent::Modified(o) = event else {
            panic!("{event:?}")
        };
        assert_eq!(o.expand().unwrap().spec.domain, "a.example.com");
        let list = serde_json::json!({
            "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkDomainList",
            "metadata": {"resourceVersion": "9"}, "items": [served(), served()]
        })
        .to_string();
        let list: kube::core::ObjectList<CachedDomain> = serde_json::from_str(&list).unwrap();
        assert_eq!(list.items.len(), 2);
        assert_eq!(
            list.items[1]
                .expand()
                .unwrap()
                .status
                .unwrap()
                .domain_id
                .as_deref(),
            Some("dmn_1")
        );
    }

    /// A spec the operator's own type refuses is refused by the cache too (the watch reports it),
    /// rather than kept and failing later.
    #[test]
    fn a_spec_the_type_refuses_is_refused() {
        let mut json = served();
        json["spec"]["deletionPolicy"] = "Sometimes".into();
        assert!(serde_json::from_value::<CachedDomain>(json).is_err());
    }

    /// The cache's per-object cost: the packed form is a fraction of the parsed one.
    #[test]
    fn a_cached_object_is_small() {
        assert!(std::mem::size_of::<CachedDomain>() < std::mem::size_of::<ClerkDomain>() / 2);
        assert!(
            std::mem::size_of::<CachedDomain>() <= 400,
            "{}",
            std::mem::size_of::<CachedDomain>()
        );
    }

    #[test]
    fn it_is_watched_as_a_clerk_domain() {
        assert_eq!(CachedDomain::kind(&()), ClerkDomain::kind(&()));
        assert_eq!(CachedDomain::api_version(&()), ClerkDomain::api_version(&()));
        assert_eq!(CachedDomain::plural(&()), ClerkDomain::plural(&()));
    }
}
