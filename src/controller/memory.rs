//! What the process remembers between reconciles: per object (consecutive failures, DNS checks,
//! the last Warning), who owns which Clerk domain (claims not yet in status), the instance
//! objects' users and checks, keys read from Secrets (by resourceVersion) and the Secrets that
//! carry the in-use finalizer. What it remembers of an object is forgotten when the object goes.

use super::instances::Registry;
use super::ownership::Ownership;
use crate::api::{ClerkDomain, ClerkInstance, ClusterClerkInstance};
use crate::clerk::SecretKey;
use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// `namespace/name` of a Secret.
pub type SecretKeyName = (String, String);

/// `(namespace, name, key)` of a key in a Secret.
type SecretKeyRefKey = (String, String, String);

/// What the process remembers of one ClerkDomain between reconciles.
#[derive(Default)]
struct Remembered {
    /// Consecutive failures.
    failures: u32,
    /// Consecutive DNS checks that did not verify.
    dns_attempts: u32,
    /// Consecutive Platform API readings that were not complete.
    platform_attempts: u32,
    /// The last Warning published once per distinct message.
    warned: Option<String>,
    /// The schedule of each probe ([`Probe`]).
    probes: [Schedule; 2],
    /// The Secret (name, resourceVersion) its key was last read from; `None` when the last
    /// reconcile read no key from a Secret.
    secret_read: Option<(String, String)>,
}

/// The probes whose schedule is remembered per object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The Frontend API's health over the domain's own host (`FrontendAPIReachable`).
    FrontendApi = 0,
    /// Clerk's proxy health through the domain's proxy (`ProxyVerified`'s message).
    ProxyHealth = 1,
}

/// Consecutive failed probes, and when the next one is due.
#[derive(Clone, Copy, Default)]
struct Schedule {
    failures: u32,
    due: Option<std::time::Instant>,
}

/// The process's memory (see the module).
pub struct Memory {
    /// Who owns which Clerk domain.
    pub ownership: Ownership,
    /// ClerkInstances and ClusterClerkInstances: wakeups, users, checks.
    pub instances: Registry,
    /// Wakes the Secret release loop.
    pub secrets_changed: tokio::sync::Notify,
    objects: Mutex<HashMap<String, Remembered>>,
    wake: UnboundedSender<ObjectRef<ClerkDomain>>,
    keys: Mutex<HashMap<SecretKeyRefKey, (String, SecretKey, std::time::Instant)>>,
    tracked: Mutex<HashSet<SecretKeyName>>,
}

impl Memory {
    /// Memory over the caches of ClerkDomains and of instance objects (`cluster` when they
    /// are served); `wake` asks the ClerkDomain controller to reconcile an object again.
    pub fn new(
        domains: Store<ClerkDomain>,
        (namespaced, cluster): (Store<ClerkInstance>, Option<Store<ClusterClerkInstance>>),
        wake: UnboundedSender<ObjectRef<ClerkDomain>>,
    ) -> Self {
        Self {
            ownership: Ownership::new(domains),
            instances: Registry::new(namespaced, cluster),
            secrets_changed: tokio::sync::Notify::new(),
            objects: Mutex::default(),
            wake,
            keys: Mutex::default(),
            tracked: Mutex::default(),
        }
    }

    /// The key read earlier from `namespace/name`'s `key`, if the Secret is still at
    /// `resource_version`.
    pub fn cached_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        resource_version: &str,
    ) -> Option<SecretKey> {
        let keys = self.keys.lock().unwrap();
        keys.get(&(namespace.to_string(), name.to_string(), key.to_string()))
            .filter(|(rv, _, _)| rv == resource_version)
            .map(|(_, k, _)| k.clone())
    }

    /// The key read from `namespace/name`'s `key` less than `max_age` ago (used when no Secret
    /// watch tells whether the Secret changed).
    pub fn fresh_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        max_age: std::time::Duration,
    ) -> Option<SecretKey> {
        let keys = self.keys.lock().unwrap();
        keys.get(&(namespace.to_string(), name.to_string(), key.to_string()))
            .filter(|(_, _, at)| at.elapsed() < max_age)
            .map(|(_, k, _)| k.clone())
    }

    /// Forget keys read `max_age` ago or earlier.
    pub fn prune_stale_keys(&self, max_age: std::time::Duration) {
        self.keys
            .lock()
            .unwrap()
            .retain(|_, (_, _, at)| at.elapsed() < max_age);
    }

    /// Remember a key read from a Secret at `resource_version`.
    pub fn remember_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        resource_version: String,
        value: SecretKey,
    ) {
        let mut keys = self.keys.lock().unwrap();
        let at = (namespace.to_string(), name.to_string(), key.to_string());
        keys.insert(at, (resource_version, value, std::time::Instant::now()));
    }

    /// Forget keys of Secrets for which `exists` says no.
    pub fn prune_keys(&self, exists: impl Fn(&str, &str) -> bool) {
        self.keys
            .lock()
            .unwrap()
            .retain(|(ns, name, _), _| exists(ns, name));
    }

    /// Remember a Secret carrying the in-use finalizer.
    pub fn track_secret(&self, secret: SecretKeyName) {
        self.tracked.lock().unwrap().insert(secret);
    }

    /// Forget a released Secret.
    pub fn untrack_secret(&self, secret: &SecretKeyName) {
        self.tracked.lock().unwrap().remove(secret);
    }

    /// Secrets carrying the in-use finalizer.
    pub fn tracked_secrets(&self) -> Vec<SecretKeyName> {
        self.tracked.lock().unwrap().iter().cloned().collect()
    }

    /// Apply `f` to what is remembered of `object`.
    fn with<R>(&self, object: &str, f: impl FnOnce(&mut Remembered) -> R) -> R {
        let mut m = self.objects.lock().unwrap();
        f(m.entry(object.to_string()).or_default())
    }

    /// Count one more consecutive failure of `object`; returns the new count.
    pub fn note_failure(&self, object: &str) -> u32 {
        self.with(object, |r| {
            r.failures = r.failures.saturating_add(1);
            r.failures
        })
    }

    /// Forget the failures of `object` after a success.
    pub fn note_success(&self, object: &str) {
        self.with(object, |r| r.failures = 0);
    }

    /// Whether `object` failed last time and has not succeeded since.
    pub fn is_failing(&self, object: &str) -> bool {
        let m = self.objects.lock().unwrap();
        m.get(object).is_some_and(|r| r.failures > 0)
    }

    /// DNS of `object` was not verified again; returns the consecutive count.
    pub fn dns_unverified(&self, object: &str) -> u32 {
        self.with(object, |r| {
            r.dns_attempts = r.dns_attempts.saturating_add(1);
            r.dns_attempts
        })
    }

    /// DNS of `object` is verified.
    pub fn dns_verified(&self, object: &str) {
        self.with(object, |r| r.dns_attempts = 0);
    }

    /// Whether Clerk's Platform API found `object` incomplete again (counted) or settled (the
    /// count resets). Returns the consecutive count.
    pub fn platform_incomplete(&self, object: &str, incomplete: bool) -> u32 {
        self.with(object, |r| {
            r.platform_attempts = if incomplete {
                r.platform_attempts.saturating_add(1)
            } else {
                0
            };
            r.platform_attempts
        })
    }

    /// Consecutive failed `probe`s of `object`.
    pub fn probe_failures(&self, object: &str, probe: Probe) -> u32 {
        self.with(object, |r| r.probes[probe as usize].failures)
    }

    /// A `probe` of `object` ran: `failures` in a row now, the next due `after` it.
    pub fn probe_checked(&self, object: &str, probe: Probe, failures: u32, after: std::time::Duration) {
        let due = std::time::Instant::now() + after;
        self.with(object, |r| {
            r.probes[probe as usize] = Schedule {
                failures,
                due: Some(due),
            }
        });
    }

    /// Whether a `probe` of `object` is due (never probed by this process, or its time came).
    pub fn probe_due(&self, object: &str, probe: Probe) -> bool {
        self.with(object, |r| {
            r.probes[probe as usize]
                .due
                .is_none_or(|d| std::time::Instant::now() >= d)
        })
    }

    /// The last reconcile of `object` read its key from Secret `name` at `resource_version`
    /// (`None`: it read no key from a Secret).
    pub fn secret_read(&self, object: &str, read: Option<(&str, &str)>) {
        let read = read.map(|(name, rv)| (name.to_string(), rv.to_string()));
        self.with(object, |r| r.secret_read = read);
    }

    /// Whether the last reconcile of `object` read its key from Secret `name` at exactly
    /// `resource_version`: a watch event of that version changes nothing for it.
    pub fn has_read_secret(&self, object: &str, name: &str, resource_version: &str) -> bool {
        let m = self.objects.lock().unwrap();
        m.get(object)
            .and_then(|r| r.secret_read.as_ref())
            .is_some_and(|(n, rv)| n == name && rv == resource_version)
    }

    /// Whether `message` is new for `object` (a Warning Event is due once per distinct value).
    pub fn first_warning(&self, object: &str, message: &str) -> bool {
        self.with(object, |r| {
            let new = r.warned.as_deref() != Some(message);
            r.warned = Some(message.to_string());
            new
        })
    }

    /// Drop what this process remembers of `object` (`namespace/name`).
    pub fn forget(&self, object: &str) {
        self.objects.lock().unwrap().remove(object);
    }

    /// Reconcile ClerkDomain `namespace/name` again soon.
    pub fn wake_domain(&self, namespace: &str, name: &str) {
        let _ = self.wake.unbounded_send(ObjectRef::new(name).within(namespace));
    }

    /// Follow the ClerkDomain watch: ownership, and what is remembered of objects now gone.
    pub fn observe(&self, event: &watcher::Event<ClerkDomain>) {
        let seen = self.ownership.observe(event);
        for gone in seen.gone {
            self.forget(&gone);
        }
        for (ns, name) in seen.wake {
            self.wake_domain(&ns, &name);
        }
    }
}
