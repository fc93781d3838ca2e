//! Who owns which Clerk domain. A domain is identified by its instance ID and domain ID, and is
//! owned by at most one live ClerkDomain: the one whose own confirmed create made it, or that
//! adopted it while nobody owned it. The index is fed by the controller's watch
//! (`status.instanceId` + `status.domainId` of every object) and by this process's claims,
//! which it makes before the status that records them is written.
//!
//! Should two objects record the same domain (state written before this index existed), the
//! oldest (creation time, then `namespace/name`) owns it; the other neither writes nor deletes.

use crate::api::ClerkDomain;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::watcher;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// A Clerk domain's identity. Shared strings: the index holds each key twice (the object's
/// entry and the domain's), and a few instance IDs for all of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DomainKey {
    pub(crate) instance_id: Arc<str>,
    pub(crate) domain_id: Arc<str>,
}

impl DomainKey {
    pub(crate) fn new(instance_id: &str, domain_id: &str) -> Self {
        Self {
            instance_id: instance_id.into(),
            domain_id: domain_id.into(),
        }
    }

    /// The domain `obj`'s status records, if it records both IDs.
    pub(crate) fn of_status(obj: &ClerkDomain) -> Option<Self> {
        let st = obj.status.as_ref()?;
        Some(Self::new(st.instance_id.as_deref()?, st.domain_id.as_deref()?))
    }
}

/// A ClerkDomain as an owner; ordered oldest first. Cheap to clone (shared strings).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Owner {
    pub(crate) created: Option<Timestamp>,
    /// `namespace/name`.
    pub(crate) object: Arc<str>,
    pub(crate) uid: Arc<str>,
}

impl Owner {
    pub(crate) fn of(obj: &ClerkDomain) -> Self {
        let object: Arc<str> = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()).into();
        Owner {
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            uid: obj.uid().map_or_else(|| object.clone(), Into::into),
            object,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.object)
    }
}

#[derive(Debug)]
struct Entry {
    owner: Owner,
    /// From the object's status.
    recorded: Option<DomainKey>,
    /// Claimed by a reconcile in this process, not yet seen in status.
    claimed: Option<DomainKey>,
}

#[derive(Default, Debug)]
struct Inner {
    /// By uid (the owner's own string).
    objects: HashMap<Arc<str>, Entry>,
    /// The instance IDs in use, each held once.
    instance_ids: HashSet<Arc<str>>,
    /// Who records or claims each domain, oldest first. Almost always one owner: a sorted `Vec`
    /// holds it in one small allocation, where a `BTreeSet` took a node of eleven (about 800
    /// bytes per domain, a third of the fresh process's heap at 10,000 objects).
    domains: HashMap<DomainKey, Vec<Owner>>,
    /// During a relist: the uids seen so far.
    relisting: Option<HashSet<Arc<str>>>,
    /// Objects refused because of an owner (`namespace/name`), woken when that owner changes
    /// or goes: `owner -> {(namespace, name)}`.
    waiters: HashMap<String, HashSet<(String, String)>>,
}

impl Inner {
    /// `key` with the instance ID this index already holds, if it holds it.
    fn interned(&mut self, mut key: DomainKey) -> DomainKey {
        match self.instance_ids.get(&key.instance_id) {
            Some(id) => key.instance_id = id.clone(),
            None => {
                self.instance_ids.insert(key.instance_id.clone());
            }
        }
        key
    }

    fn link(&mut self, key: &DomainKey, owner: &Owner) {
        let owners = self.domains.entry(key.clone()).or_default();
        if let Err(at) = owners.binary_search(owner) {
            // Room for exactly this one (a first push would make room for four).
            owners.reserve_exact(1);
            owners.insert(at, owner.clone());
        }
    }

    fn unlink(&mut self, key: &DomainKey, owner: &Owner) {
        if let Some(set) = self.domains.get_mut(key) {
            if let Ok(at) = set.binary_search(owner) {
                set.remove(at);
            }
            if set.is_empty() {
                self.domains.remove(key);
            }
        }
    }

    /// Replace `owner`'s entry. `claimed: None` keeps the claim it had.
    fn set(&mut self, owner: Owner, recorded: Option<DomainKey>, claimed: Option<Option<DomainKey>>) {
        let old_claim = self.take(&owner.uid).and_then(|e| e.claimed);
        let recorded = recorded.map(|k| self.interned(k));
        let mut claimed = claimed.unwrap_or(old_claim).map(|k| self.interned(k));
        // A claim is done once the status records it.
        if claimed.is_some() && claimed == recorded {
            claimed = None;
        }
        for k in [&recorded, &claimed].into_iter().flatten() {
            self.link(k, &owner);
        }
        let entry = Entry {
            owner,
            recorded,
            claimed,
        };
        self.objects.insert(entry.owner.uid.clone(), entry);
    }

    /// Let go of instance IDs no key holds any more (after objects went).
    fn forget_unused_instance_ids(&mut self) {
        self.instance_ids.retain(|id| Arc::strong_count(id) > 1);
    }

    fn take(&mut self, uid: &str) -> Option<Entry> {
        let e = self.objects.remove(uid)?;
        for k in [&e.recorded, &e.claimed].into_iter().flatten() {
            self.unlink(k, &e.owner);
        }
        Some(e)
    }
}

/// What one watch event changed.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Objects that are gone (deleted, or missing from a relist).
    pub(crate) gone: Vec<Owner>,
    /// Objects waiting on an owner that changed or went: reconcile them again.
    pub(crate) wake: Vec<(String, String)>,
}

/// The ownership index of one operator process.
#[derive(Default, Debug)]
pub struct Ownership(Mutex<Inner>);

impl Ownership {
    /// Follow the controller's watch.
    pub(crate) fn observe(&self, event: &watcher::Event<ClerkDomain>) -> Observed {
        let mut inner = self.0.lock().unwrap();
        let mut out = Observed::default();
        let mut touched = vec![];
        match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let owner = Owner::of(o);
                if let (watcher::Event::InitApply(_), Some(seen)) = (event, inner.relisting.as_mut()) {
                    seen.insert(owner.uid.clone());
                }
                touched.push(owner.object.clone());
                inner.set(owner, DomainKey::of_status(o), None);
            }
            watcher::Event::Delete(o) => {
                out.gone = inner
                    .take(&Owner::of(o).uid)
                    .map(|e| e.owner)
                    .into_iter()
                    .collect();
            }
            watcher::Event::Init => inner.relisting = Some(HashSet::new()),
            watcher::Event::InitDone => {
                if let Some(seen) = inner.relisting.take() {
                    let gone: Vec<Arc<str>> = inner
                        .objects
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    out.gone = gone
                        .iter()
                        .filter_map(|uid| inner.take(uid))
                        .map(|e| e.owner)
                        .collect();
                }
            }
        }
        if !out.gone.is_empty() {
            inner.forget_unused_instance_ids();
        }
        touched.extend(out.gone.iter().map(|o| o.object.clone()));
        for object in touched {
            if let Some(w) = inner.waiters.remove(&*object) {
                out.wake.extend(w);
            }
        }
        if !out.gone.is_empty() {
            let gone: HashSet<&str> = out.gone.iter().map(|o| &*o.object).collect();
            for set in inner.waiters.values_mut() {
                set.retain(|(ns, name)| !gone.contains(format!("{ns}/{name}").as_str()));
            }
            inner.waiters.retain(|_, set| !set.is_empty());
        }
        out
    }

    /// Wake `obj` when `owner` (`namespace/name`) changes or goes.
    pub(crate) fn wait_for(&self, owner: &str, obj: &ClerkDomain) {
        let me = (obj.namespace().unwrap_or_default(), obj.name_any());
        let mut inner = self.0.lock().unwrap();
        inner.waiters.entry(owner.to_string()).or_default().insert(me);
    }

    /// The owner of `key`: the oldest object that records or claims it.
    pub(crate) fn owner(&self, key: &DomainKey) -> Option<Owner> {
        let inner = self.0.lock().unwrap();
        inner.domains.get(key).and_then(|s| s.first().cloned())
    }

    /// The owner of `key` when it is not `obj` itself.
    pub(crate) fn other_owner(&self, obj: &ClerkDomain, key: &DomainKey) -> Option<Owner> {
        let me = Owner::of(obj);
        let inner = self.0.lock().unwrap();
        inner
            .domains
            .get(key)
            .and_then(|s| s.iter().find(|o| o.uid != me.uid).cloned())
    }

    /// Whether `obj` owns `key`: it records or claims it, and no older object does.
    pub(crate) fn owns(&self, obj: &ClerkDomain, key: &DomainKey) -> Result<(), Owner> {
        let me = Owner::of(obj);
        match self.owner(key) {
            Some(first) if first.uid != me.uid => Err(first),
            _ => Ok(()),
        }
    }

    /// Claim `key` for `obj` (a confirmed create, or an adoption). Refused, naming the owner,
    /// when any other object records or claims it. Atomic: of two concurrent claims, one wins.
    pub(crate) fn claim(&self, obj: &ClerkDomain, key: &DomainKey) -> Result<(), Owner> {
        let me = Owner::of(obj);
        let mut inner = self.0.lock().unwrap();
        if let Some(other) = inner
            .domains
            .get(key)
            .and_then(|s| s.iter().find(|o| o.uid != me.uid))
        {
            return Err(other.clone());
        }
        let recorded = inner
            .objects
            .get(&me.uid)
            .and_then(|e| e.recorded.clone())
            .or_else(|| DomainKey::of_status(obj));
        inner.set(me, recorded, Some(Some(key.clone())));
        Ok(())
    }

    /// Number of domains with an owner (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().domains.len()
    }

    /// Whether no domain has an owner.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the index knows `obj` (for tests of pruning).
    #[cfg(test)]
    pub(crate) fn knows(&self, uid: &str) -> bool {
        self.0.lock().unwrap().objects.contains_key(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClerkDomainSpec, ClerkDomainStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn obj(name: &str, created: i64, status: Option<(&str, &str)>) -> ClerkDomain {
        let mut o = ClerkDomain::new(name, ClerkDomainSpec::for_domain(&format!("{name}.example.com")));
        o.metadata.namespace = Some("ns".into());
        o.metadata.uid = Some(format!("uid-{name}"));
        o.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
        o.status = status.map(|(i, d)| ClerkDomainStatus {
            instance_id: Some(i.into()),
            domain_id: Some(d.into()),
            ..Default::default()
        });
        o
    }

    fn key(i: &str, d: &str) -> DomainKey {
        DomainKey::new(i, d)
    }

    #[test]
    fn ownership_table() {
        let idx = Ownership::default();
        let a = obj("a", 10, Some(("ins_1", "dmn_a")));
        let b = obj("b", 20, None);
        idx.observe(&watcher::Event::Apply(a.clone()));
        idx.observe(&watcher::Event::Apply(b.clone()));
        // (case, result)
        let cases: Vec<(&str, Result<(), String>)> = vec![
            (
                "a owns what its status records",
                idx.owns(&a, &key("ins_1", "dmn_a"))
                    .map_err(|o| o.object.to_string()),
            ),
            (
                "b may not claim a's domain",
                idx.claim(&b, &key("ins_1", "dmn_a"))
                    .map_err(|o| o.object.to_string()),
            ),
            (
                "same domain ID on another instance is free",
                idx.claim(&b, &key("ins_2", "dmn_a"))
                    .map_err(|o| o.object.to_string()),
            ),
            (
                "a may not claim b's claim",
                idx.claim(&a, &key("ins_2", "dmn_a"))
                    .map_err(|o| o.object.to_string()),
            ),
        ];
        let want: Vec<Result<(), String>> = vec![Ok(()), Err("ns/a".into()), Ok(()), Err("ns/b".into())];
        for ((case, got), want) in cases.into_iter().zip(want) {
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn the_oldest_of_two_recorders_owns() {
        let idx = Ownership::default();
        let young = obj("young", 20, Some(("ins_1", "dmn_x")));
        let old = obj("old", 10, Some(("ins_1", "dmn_x")));
        idx.observe(&watcher::Event::Apply(young.clone()));
        idx.observe(&watcher::Event::Apply(old.clone()));
        assert_eq!(
            &*idx.owns(&young, &key("ins_1", "dmn_x")).unwrap_err().object,
            "ns/old"
        );
        assert!(idx.owns(&old, &key("ins_1", "dmn_x")).is_ok());
    }

    #[test]
    fn a_claim_lasts_until_status_records_it_and_deletion_frees_it() {
        let idx = Ownership::default();
        let a = obj("a", 10, None);
        let b = obj("b", 20, None);
        idx.claim(&a, &key("ins_1", "dmn_new")).unwrap();
        // An older status of `a` (without the ID) does not drop the claim.
        idx.observe(&watcher::Event::Apply(a.clone()));
        assert!(idx.claim(&b, &key("ins_1", "dmn_new")).is_err());
        let recorded = obj("a", 10, Some(("ins_1", "dmn_new")));
        idx.observe(&watcher::Event::Apply(recorded.clone()));
        assert_eq!(idx.len(), 1);
        let gone = idx.observe(&watcher::Event::Delete(recorded)).gone;
        assert_eq!(gone.len(), 1);
        assert!(idx.is_empty() && !idx.knows("uid-a"));
        idx.claim(&b, &key("ins_1", "dmn_new")).unwrap();
    }

    #[test]
    fn a_relist_drops_objects_that_went_unseen() {
        let idx = Ownership::default();
        idx.observe(&watcher::Event::Apply(obj("a", 1, Some(("i", "d1")))));
        idx.observe(&watcher::Event::Apply(obj("b", 2, Some(("i", "d2")))));
        idx.observe(&watcher::Event::Init);
        idx.observe(&watcher::Event::InitApply(obj("b", 2, Some(("i", "d2")))));
        let gone = idx.observe(&watcher::Event::InitDone).gone;
        assert_eq!(gone.iter().map(|o| &*o.object).collect::<Vec<_>>(), ["ns/a"]);
        assert!(idx.owner(&key("i", "d1")).is_none());
        assert_eq!(&*idx.owner(&key("i", "d2")).unwrap().object, "ns/b");
    }

    #[test]
    fn refused_objects_wake_when_their_owner_changes_or_goes() {
        let idx = Ownership::default();
        let owner = obj("a", 1, Some(("i", "d")));
        let refused = obj("b", 2, None);
        idx.observe(&watcher::Event::Apply(owner.clone()));
        idx.wait_for("ns/a", &refused);
        assert!(
            idx.observe(&watcher::Event::Apply(refused.clone()))
                .wake
                .is_empty()
        );
        let woken = idx.observe(&watcher::Event::Delete(owner.clone())).wake;
        assert_eq!(woken, [("ns".to_string(), "b".to_string())]);
        // Woken once; a gone waiter is forgotten.
        idx.wait_for("ns/a", &refused);
        idx.observe(&watcher::Event::Delete(refused));
        assert!(idx.observe(&watcher::Event::Apply(owner)).wake.is_empty());
    }

    #[test]
    fn an_instance_id_is_held_once_and_owners_share_their_strings() {
        let idx = Ownership::default();
        for n in 0..3 {
            let o = obj(&format!("o{n}"), n, Some(("ins_1", &format!("dmn_{n}"))));
            idx.observe(&watcher::Event::Apply(o));
        }
        idx.claim(&obj("o9", 9, None), &key("ins_1", "dmn_9")).unwrap();
        let inner = idx.0.lock().unwrap();
        let ids: Vec<&Arc<str>> = inner.domains.keys().map(|k| &k.instance_id).collect();
        assert_eq!(ids.len(), 4);
        assert!(ids.iter().all(|id| Arc::ptr_eq(id, ids[0])), "one copy of ins_1");
        for (uid, e) in &inner.objects {
            let key = e.recorded.as_ref().or(e.claimed.as_ref()).unwrap();
            let owners = &inner.domains[key];
            assert!(
                Arc::ptr_eq(&owners[0].uid, &e.owner.uid),
                "{uid}: one copy of the owner"
            );
        }
    }

    #[test]
    fn an_instance_id_is_let_go_with_its_last_object() {
        let idx = Ownership::default();
        let a = obj("a", 1, Some(("ins_1", "d1")));
        let b = obj("b", 2, Some(("ins_2", "d2")));
        idx.observe(&watcher::Event::Apply(a.clone()));
        idx.observe(&watcher::Event::Apply(b.clone()));
        idx.observe(&watcher::Event::Delete(a));
        let ids = |idx: &Ownership| {
            let inner = idx.0.lock().unwrap();
            let mut ids: Vec<String> = inner.instance_ids.iter().map(|i| i.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&idx), ["ins_2"]);
        idx.observe(&watcher::Event::Init);
        idx.observe(&watcher::Event::InitDone);
        assert!(ids(&idx).is_empty(), "a relist without b lets go of ins_2");
    }

    #[test]
    fn concurrent_claims_have_one_winner() {
        let idx = std::sync::Arc::new(Ownership::default());
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|n| {
                    let idx = idx.clone();
                    s.spawn(move || idx.claim(&obj(&format!("o{n}"), n, None), &key("i", "d")).is_ok())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap() as usize).sum()
        });
        assert_eq!(wins, 1);
    }
}
