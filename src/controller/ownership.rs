//! Who owns which Clerk domain. A domain is identified by its instance ID and domain ID, and is
//! owned by at most one live ClerkDomain: the one whose own confirmed create made it, or that
//! adopted it while nobody owned it. Ownership is read from the controller's cache
//! (`status.instanceId` + `status.domainId` of every object) plus the claims this process made
//! and whose status write the cache does not show yet.
//!
//! Should two objects record the same domain, the oldest (creation time, then
//! `namespace/name`, then uid) owns it; the other neither writes nor deletes.

use crate::api::ClerkDomain;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// A Clerk domain's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DomainKey {
    pub(crate) instance_id: String,
    pub(crate) domain_id: String,
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

    /// Whether `obj`'s status records this domain (as [`of_status`](Self::of_status), without
    /// allocating: it runs over every cached object).
    pub(crate) fn is_recorded_by(&self, obj: &ClerkDomain) -> bool {
        obj.status.as_ref().is_some_and(|st| {
            st.domain_id.as_deref() == Some(self.domain_id.as_str())
                && st.instance_id.as_deref() == Some(self.instance_id.as_str())
        })
    }
}

/// A ClerkDomain as an owner; ordered oldest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Owner {
    pub(crate) created: Option<Timestamp>,
    /// `namespace/name`.
    pub(crate) object: String,
    pub(crate) uid: String,
}

impl Owner {
    pub(crate) fn of(obj: &ClerkDomain) -> Self {
        let object = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
        Owner {
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            uid: obj.metadata.uid.clone().unwrap_or_else(|| object.clone()),
            object,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.object)
    }
}

/// What one watch event changed.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Objects that are gone (`namespace/name`).
    pub(crate) gone: Vec<String>,
    /// Objects waiting on an owner that changed or went: reconcile them again.
    pub(crate) wake: Vec<(String, String)>,
}

#[derive(Default, Debug)]
struct Inner {
    /// Claims made by reconciles in this process, by the claiming object's uid, until its
    /// status (as the cache shows it) records them or the object goes.
    claims: HashMap<String, (Owner, DomainKey)>,
    /// Objects refused because of an owner (`namespace/name`), woken when that owner changes
    /// or goes: `owner -> {(namespace, name)}`.
    waiters: HashMap<String, HashSet<(String, String)>>,
}

/// The ownership rule of one operator process, over the controller's cache.
pub struct Ownership {
    store: Store<ClerkDomain>,
    inner: Mutex<Inner>,
}

impl Ownership {
    pub fn new(store: Store<ClerkDomain>) -> Self {
        Self {
            store,
            inner: Mutex::default(),
        }
    }

    /// Whether the cache holds `owner` (the same object, not a new one of the same name).
    fn alive(&self, owner: &Owner) -> bool {
        let Some((ns, name)) = owner.object.split_once('/') else {
            return false;
        };
        let found = self.store.get(&ObjectRef::new(name).within(ns));
        found.is_some_and(|o| Owner::of(&o).uid == owner.uid)
    }

    /// Every object that records or claims `key`, oldest first.
    fn owners(&self, inner: &Inner, key: &DomainKey) -> Vec<Owner> {
        let mut owners: Vec<Owner> = self
            .store
            .state_filter(|o| key.is_recorded_by(o))
            .iter()
            .map(|o| Owner::of(o))
            .collect();
        for (owner, claimed) in inner.claims.values() {
            if claimed == key && !owners.iter().any(|o| o.uid == owner.uid) && self.alive(owner) {
                owners.push(owner.clone());
            }
        }
        owners.sort();
        owners
    }

    /// Follow the controller's watch (the cache already holds the event's state): a claim is
    /// done once the status records it or its object goes; objects waiting on one that
    /// changed or went are woken.
    pub(crate) fn observe(&self, event: &watcher::Event<ClerkDomain>) -> Observed {
        let mut inner = self.inner.lock().unwrap();
        let mut out = Observed::default();
        let touched = match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let me = Owner::of(o);
                let recorded = DomainKey::of_status(o);
                if inner
                    .claims
                    .get(&me.uid)
                    .is_some_and(|(_, k)| Some(k) == recorded.as_ref())
                {
                    inner.claims.remove(&me.uid);
                }
                me.object
            }
            watcher::Event::Delete(o) => {
                let me = Owner::of(o);
                inner.claims.remove(&me.uid);
                out.gone.push(me.object.clone());
                me.object
            }
            watcher::Event::Init | watcher::Event::InitDone => return out,
        };
        if let Some(w) = inner.waiters.remove(&touched) {
            out.wake.extend(w);
        }
        for gone in &out.gone {
            for set in inner.waiters.values_mut() {
                set.retain(|(ns, name)| format!("{ns}/{name}") != *gone);
            }
        }
        inner.waiters.retain(|_, set| !set.is_empty());
        out
    }

    /// Wake `obj` when `owner` (`namespace/name`) changes or goes.
    pub(crate) fn wait_for(&self, owner: &str, obj: &ClerkDomain) {
        let me = (obj.namespace().unwrap_or_default(), obj.name_any());
        let mut inner = self.inner.lock().unwrap();
        inner.waiters.entry(owner.to_string()).or_default().insert(me);
    }

    /// The owner of `key`: the oldest object that records or claims it.
    pub(crate) fn owner(&self, key: &DomainKey) -> Option<Owner> {
        let inner = self.inner.lock().unwrap();
        self.owners(&inner, key).into_iter().next()
    }

    /// The owner of `key` when it is not `obj` itself.
    pub(crate) fn other_owner(&self, obj: &ClerkDomain, key: &DomainKey) -> Option<Owner> {
        let me = Owner::of(obj);
        let inner = self.inner.lock().unwrap();
        self.owners(&inner, key).into_iter().find(|o| o.uid != me.uid)
    }

    /// Whether `obj` owns `key`: no older object records or claims it.
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
        let mut inner = self.inner.lock().unwrap();
        if let Some(other) = self.owners(&inner, key).into_iter().find(|o| o.uid != me.uid) {
            return Err(other);
        }
        let stale: Vec<String> = inner
            .claims
            .iter()
            .filter(|(uid, (owner, _))| **uid != me.uid && !self.alive(owner))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in stale {
            inner.claims.remove(&uid);
        }
        inner.claims.insert(me.uid.clone(), (me, key.clone()));
        Ok(())
    }

    /// Claims not yet recorded in status (for tests).
    #[cfg(test)]
    fn claims(&self) -> usize {
        self.inner.lock().unwrap().claims.len()
    }
}

#[cfg(test)]
mod tests;
