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

/// A value held as its JSON, compressed (LZ4) against [`dictionary`]. Deserialized as `T` (so a
/// value `T` refuses is refused here too) and written back out; read again with [`Packed::get`].
///
/// A Ready satellite's status is about 720 bytes of JSON, mostly field names, condition texts
/// and its domain name repeated in its records and URLs; packed it is about 150 (spec 90 → 20).
/// At 10,000 objects that is most of what the cache holds.
pub(crate) struct Packed<T> {
    lz4: Box<[u8]>,
    of: PhantomData<fn() -> T>,
}

impl<T> Clone for Packed<T> {
    fn clone(&self) -> Self {
        Self {
            lz4: self.lz4.clone(),
            of: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Packed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.json() {
            Ok(json) => f.write_str(&String::from_utf8_lossy(&json)),
            Err(e) => write!(f, "<{e}>"),
        }
    }
}

impl<T> Packed<T> {
    fn pack_json(json: &[u8]) -> Self {
        Self {
            lz4: lz4_flex::block::compress_prepend_size_with_dict(json, dictionary()).into_boxed_slice(),
            of: PhantomData,
        }
    }

    /// The JSON again.
    fn json(&self) -> Result<Vec<u8>, serde_json::Error> {
        lz4_flex::block::decompress_size_prepended_with_dict(&self.lz4, dictionary())
            .map_err(serde::de::Error::custom)
    }

    /// The packed size in bytes.
    #[cfg(test)]
    fn packed_len(&self) -> usize {
        self.lz4.len()
    }
}

impl<T: Serialize + DeserializeOwned> Packed<T> {
    pub(crate) fn new(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::pack_json(&serde_json::to_vec(value)?))
    }

    /// The value again.
    pub(crate) fn get(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.json()?)
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for Packed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&T::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What packed values are compressed against: the spec and status JSON of a few objects as this
/// operator writes them (a Ready satellite, a Ready primary with its mail records, a development
/// domain, a proxied one, one whose create is rate limited), made by [`next_status`] itself, so
/// that field names, condition texts and Clerk's record patterns are found here rather than
/// repeated in every object. LZ4 refers back into it (at most 64 KiB). Made once per process
/// (packed values never leave it), with today's date, as the transition times of new objects.
///
/// [`next_status`]: super::status::next_status
fn dictionary() -> &'static [u8] {
    static DICTIONARY: std::sync::LazyLock<Vec<u8>> =
        std::sync::LazyLock::new(|| samples(jiff::Timestamp::now()).concat());
    &DICTIONARY
}

/// The JSON of the sample specs and statuses of [`dictionary`].
fn samples(now: jiff::Timestamp) -> Vec<Vec<u8>> {
    use super::reason::Reason;
    use super::status::{Extras, Outcome, next_status};
    use crate::clerk::Domain;
    use clerk_model::CnameTarget;
    let target = |host: String, value: &str| CnameTarget {
        host,
        value: value.to_string(),
        required: true,
    };
    let domain = |name: &str, satellite: bool, proxy: Option<&str>, dev: bool| {
        let mut cname_targets = vec![];
        if !dev && proxy.is_none() {
            cname_targets.push(target(format!("clerk.{name}"), "frontend-api.clerk.services"));
        }
        if !dev && !satellite {
            cname_targets.push(target(format!("accounts.{name}"), "accounts.clerk.services"));
            for (host, value) in [
                ("clkmail", "mail"),
                ("clk._domainkey", "dkim1"),
                ("clk2._domainkey", "dkim2"),
            ] {
                cname_targets.push(target(
                    format!("{host}.{name}"),
                    &format!("{value}.abcdefgh.clerk.services"),
                ));
            }
        }
        Domain {
            object: "domain".into(),
            id: "dmn_2abcdefghijklmnopqrstuvwxyz".into(),
            name: name.into(),
            is_satellite: satellite,
            frontend_api_url: match (proxy, dev) {
                (Some(p), _) => p.into(),
                (None, true) => "https://example-app-00.clerk.accounts.dev".into(),
                (None, false) => format!("https://clerk.{name}"),
            },
            accounts_portal_url: (!satellite).then(|| format!("https://accounts.{name}")),
            proxy_url: proxy.map(Into::into),
            development_origin: if dev {
                format!("http://{name}")
            } else {
                String::new()
            },
            cname_targets: (!dev).then_some(cname_targets),
        }
    };
    let object = |spec: serde_json::Value| {
        let spec = serde_json::from_value(spec).expect("a sample spec");
        let mut o = ClerkDomain::new("sample", spec);
        o.metadata.generation = Some(1);
        o
    };
    let extras = Extras {
        instance_id: Some("ins_2abcdefghijklmnopqrstuvwxyz"),
        ..Extras::default()
    };
    fn synced(domain: &Domain, applied_is_secondary: Option<bool>) -> Outcome<'_> {
        Outcome::Synced {
            domain,
            adopted: false,
            applied_is_secondary,
        }
    }
    let mut out = vec![];
    let mut add = |o: &ClerkDomain, outcome: Outcome<'_>| {
        out.push(serde_json::to_vec(&o.spec).expect("a sample spec"));
        let status = next_status(o, &outcome, &extras, now);
        out.push(serde_json::to_vec(&status).expect("a sample status"));
    };
    let failed = object(serde_json::json!({"domain": "app.example.com", "isSatellite": false}));
    add(
        &failed,
        Outcome::Failed {
            reason: Reason::ClerkRateLimited,
            message: "Clerk answered 429 Too Many Requests: retrying",
            domain: None,
        },
    );
    let dev = object(serde_json::json!({"domain": "dev.example.com", "isSatellite": true}));
    add(&dev, synced(&domain("dev.example.com", true, None, true), None));
    let proxied = object(serde_json::json!({
        "domain": "proxied.example.com", "isSatellite": true, "proxyUrl": "https://proxied.example.com/__clerk"
    }));
    let proxied_domain = domain(
        "proxied.example.com",
        true,
        Some("https://proxied.example.com/__clerk"),
        false,
    );
    add(&proxied, synced(&proxied_domain, None));
    let primary = object(serde_json::json!({
        "domain": "example.com", "isSatellite": false, "deletionPolicy": "Orphan",
        "secretRef": {"name": "clerk", "key": "secretKey"}
    }));
    add(
        &primary,
        synced(&domain("example.com", false, None, false), Some(false)),
    );
    let satellite = object(serde_json::json!({
        "domain": "satellite.example.com", "isSatellite": true, "deletionPolicy": "Delete",
        "secretRef": {"name": "clerk", "key": "secretKey"}
    }));
    add(
        &satellite,
        synced(&domain("satellite.example.com", true, None, false), None),
    );
    out
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

    /// `f` of the status's conditions (none if it has no status, or none that can be read),
    /// borrowed from the status's JSON while `f` runs.
    pub fn with_conditions<R>(&self, f: impl FnOnce(&[ConditionView<'_>]) -> R) -> R {
        let json = self.status.as_ref().and_then(|s| s.json().ok());
        let view = json
            .as_deref()
            .and_then(|j| serde_json::from_slice::<ConditionsView<'_>>(j).ok());
        f(view.as_ref().map_or(&[], |v| &v.conditions))
    }

    /// Whether `spec.secretRef` names Secret `name`.
    pub fn names_secret(&self, name: &str) -> bool {
        let Ok(json) = self.spec.json() else { return false };
        let view = serde_json::from_slice::<SecretRefView<'_>>(&json);
        view.is_ok_and(|v| v.secret_ref.is_some_and(|r| r.name == name))
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
        let seen: Vec<(String, String, String)> = cached.with_conditions(|conditions| {
            conditions
                .iter()
                .map(|c| (c.type_.to_string(), c.status.to_string(), c.reason.to_string()))
                .collect()
        });
        let seen: Vec<(&str, &str, &str)> = seen
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("Ready", "True", "Registered"),
                ("Stalled", "False", "Registered")
            ]
        );
        assert!(cached.names_secret("clerk \"prod\""));
        assert!(!cached.names_secret("clerk"));
        let mut bare = served();
        bare["status"] = serde_json::Value::Null;
        bare["spec"] = serde_json::json!({"domain": "b.example.com"});
        let bare: CachedDomain = serde_json::from_value(bare).unwrap();
        assert!(bare.with_conditions(|c| c.is_empty()));
        assert!(!bare.names_secret("clerk \"prod\""));
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

    /// What packing saves on the objects the scale benchmark holds (a Ready production
    /// satellite): the status and spec against the dictionary, and without it.
    #[test]
    fn a_ready_status_packs_to_a_fraction_of_its_json() {
        let status = serde_json::json!({
            "observedGeneration": 1,
            "domainId": "dmn_36Yq0Hc1p9fE2ZBpWd7KHLPxUaJ",
            "domain": "bench-04711.scale.example.com",
            "cnameTargets": [{"host": "clerk.bench-04711.scale.example.com",
                              "value": "frontend-api.clerk.services", "required": true}],
            "frontendApiUrl": "https://clerk.bench-04711.scale.example.com",
            "instanceId": "ins_36Yq0Ftn8xWc4R2mJdK1bsPz9QG",
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Registered",
                 "message": "Domain dmn_36Yq0Hc1p9fE2ZBpWd7KHLPxUaJ is registered in Clerk and matches the spec",
                 "lastTransitionTime": "2026-03-04T05:06:07Z", "observedGeneration": 1},
                {"type": "Synced", "status": "True", "reason": "InSync", "message": "Clerk matches the spec",
                 "lastTransitionTime": "2026-03-04T05:06:07Z", "observedGeneration": 1}
            ]
        });
        let status: ClerkDomainStatus = serde_json::from_value(status).unwrap();
        let json = serde_json::to_vec(&status).unwrap();
        let packed = Packed::new(&status).unwrap();
        assert_eq!(packed.get().unwrap(), status);
        let plain = lz4_flex::block::compress_prepend_size(&json).len();
        assert!(
            packed.packed_len() * 4 < json.len() && packed.packed_len() * 2 < plain,
            "{} bytes of JSON packed to {} (LZ4 alone {plain})",
            json.len(),
            packed.packed_len()
        );
        let spec: ClerkDomainSpec =
            serde_json::from_value(serde_json::json!({"domain": "bench-04711.scale.example.com"})).unwrap();
        let packed = Packed::new(&spec).unwrap();
        assert_eq!(packed.get().unwrap(), spec);
        assert!(packed.packed_len() * 2 < serde_json::to_vec(&spec).unwrap().len());
    }

    /// The dictionary is made of what the operator writes: every sample reads back as its type.
    #[test]
    fn the_dictionary_is_the_operators_own_json() {
        let samples = samples(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        assert_eq!(samples.len(), 10);
        for pair in samples.chunks(2) {
            serde_json::from_slice::<ClerkDomainSpec>(&pair[0]).unwrap();
            let status: ClerkDomainStatus = serde_json::from_slice(&pair[1]).unwrap();
            assert!(!status.conditions.is_empty());
        }
        assert!(dictionary().len() < 64 * 1024, "LZ4 refers back at most 64 KiB");
    }

    #[test]
    fn it_is_watched_as_a_clerk_domain() {
        assert_eq!(CachedDomain::kind(&()), ClerkDomain::kind(&()));
        assert_eq!(CachedDomain::api_version(&()), ClerkDomain::api_version(&()));
        assert_eq!(CachedDomain::plural(&()), ClerkDomain::plural(&()));
    }
}
