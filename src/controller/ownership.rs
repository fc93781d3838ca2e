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

mod owners;
use owners::Owners;
pub(crate) use owners::Uid;

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
    pub(crate) uid: Uid,
}

impl Owner {
    pub(crate) fn of(obj: &ClerkDomain) -> Self {
        let object: Arc<str> = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()).into();
        Owner {
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            uid: obj
                .metadata
                .uid
                .as_deref()
                .map_or_else(|| Uid::Other(object.clone()), Uid::new),
            object,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.object)
    }
}

/// One object of the index, by its uid.
#[derive(Debug)]
struct Entry {
    created: Option<Timestamp>,
    /// `namespace/name`.
    object: Arc<str>,
    /// From the object's status.
    recorded: Option<DomainKey>,
    /// Claimed by a reconcile in this process, not yet seen in status (rare and short-lived:
    /// boxed, so that it costs the other entries one pointer).
    claimed: Option<Box<DomainKey>>,
}

impl Entry {
    fn owner(&self, uid: &Uid) -> Owner {
        Owner {
            created: self.created,
            object: self.object.clone(),
            uid: uid.clone(),
        }
    }

    fn keys(&self) -> impl Iterator<Item = &DomainKey> {
        self.recorded.iter().chain(self.claimed.as_deref())
    }
}

#[derive(Default, Debug)]
struct Inner {
    objects: HashMap<Uid, Entry>,
    /// The instance IDs in use, each held once.
    instance_ids: HashSet<Arc<str>>,
    /// Who records or claims each domain, oldest first (by the entries' creation time, then
    /// `namespace/name`). Almost always one owner, held in place.
    domains: HashMap<DomainKey, Owners>,
    /// During a relist: the uids seen so far.
    relisting: Option<HashSet<Uid>>,
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

    /// Add `uid` (which has an entry) to the owners of `key`.
    fn link(&mut self, key: &DomainKey, uid: &Uid) {
        let Self { objects, domains, .. } = self;
        let rank = |u: &Uid| objects.get(u).map(|e| (e.created, e.object.clone(), u.clone()));
        match domains.get_mut(key) {
            Some(owners) => owners.insert(uid, rank),
            None => {
                domains.insert(key.clone(), Owners::One(uid.clone()));
            }
        }
    }

    fn unlink(&mut self, key: &DomainKey, uid: &Uid) {
        if let Some(owners) = self.domains.get_mut(key)
            && !owners.remove(uid)
        {
            self.domains.remove(key);
        }
    }

    /// The owners of `key`, oldest first.
    fn owners(&self, key: &DomainKey) -> impl Iterator<Item = Owner> + '_ {
        let uids = self.domains.get(key).map_or(&[][..], Owners::as_slice);
        uids.iter()
            .filter_map(|u| self.objects.get(u).map(|e| e.owner(u)))
    }

    /// Replace `owner`'s entry. `claimed: None` keeps the claim it had.
    fn set(&mut self, owner: Owner, recorded: Option<DomainKey>, claimed: Option<Option<DomainKey>>) {
        let old_claim = self.take(&owner.uid).and_then(|e| e.claimed.map(|c| *c));
        let recorded = recorded.map(|k| self.interned(k));
        let mut claimed = claimed.unwrap_or(old_claim).map(|k| self.interned(k));
        // A claim is done once the status records it.
        if claimed.is_some() && claimed == recorded {
            claimed = None;
        }
        let Owner { created, object, uid } = owner;
        let entry = Entry {
            created,
            object,
            recorded,
            claimed: claimed.map(Box::new),
        };
        // Linked once the entry is in (the owners are ordered by their entries).
        let keys = [entry.recorded.clone(), entry.claimed.as_deref().cloned()];
        self.objects.insert(uid.clone(), entry);
        for k in keys.iter().flatten() {
            self.link(k, &uid);
        }
    }

    /// Let go of instance IDs no key holds any more (after objects went).
    fn forget_unused_instance_ids(&mut self) {
        self.instance_ids.retain(|id| Arc::strong_count(id) > 1);
    }

    /// Remove `uid`'s entry, and it from the owners of its domains; the owner it was.
    fn take(&mut self, uid: &Uid) -> Option<Entry> {
        let e = self.objects.remove(uid)?;
        for k in e.keys() {
            self.unlink(k, uid);
        }
        Some(e)
    }

    fn take_owner(&mut self, uid: &Uid) -> Option<Owner> {
        self.take(uid).map(|e| e.owner(uid))
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
                out.gone = inner.take_owner(&Owner::of(o).uid).into_iter().collect();
            }
            watcher::Event::Init => inner.relisting = Some(HashSet::new()),
            watcher::Event::InitDone => {
                if let Some(seen) = inner.relisting.take() {
                    let gone: Vec<Uid> = inner
                        .objects
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    out.gone = gone.iter().filter_map(|uid| inner.take_owner(uid)).collect();
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
        self.0.lock().unwrap().owners(key).next()
    }

    /// The owner of `key` when it is not `obj` itself.
    pub(crate) fn other_owner(&self, obj: &ClerkDomain, key: &DomainKey) -> Option<Owner> {
        let me = Owner::of(obj);
        let inner = self.0.lock().unwrap();
        inner.owners(key).find(|o| o.uid != me.uid)
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
        if let Some(other) = inner.owners(key).find(|o| o.uid != me.uid) {
            return Err(other);
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
        self.0.lock().unwrap().objects.contains_key(&Uid::new(uid))
    }
}

#[cfg(test)]
mod tests;
