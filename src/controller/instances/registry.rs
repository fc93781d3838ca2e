//! What the process keeps about instance objects: their caches, the channels that wake their
//! controllers, which ClerkDomain uses which object (followed from the ClerkDomain watch), and
//! the last check of each key with Clerk.

use super::select::InstanceKey;
use super::status::Checked;
use crate::api::{ClerkDomain, ClerkInstance, ClusterClerkInstance, InstanceRefKind};
use crate::clerk::SecretKey;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The last completed check of an object's key (transient failures are not remembered).
#[derive(Clone, Debug)]
pub struct Memo {
    pub key: SecretKey,
    pub generation: Option<i64>,
    pub at: Instant,
    pub checked: Checked,
    /// The rate-limit budget and the time of the check, as written to status then: a later
    /// reconcile from a cache that does not show that write yet must not drop them (a
    /// server-side apply without a field removes it).
    pub rate_limit: Option<crate::api::RateLimitStatus>,
    pub checked_at: Option<String>,
}

type Channel<K> = (
    UnboundedSender<ObjectRef<K>>,
    Mutex<Option<UnboundedReceiver<ObjectRef<K>>>>,
);

fn channel<K: kube::Resource<DynamicType = ()>>() -> Channel<K> {
    let (tx, rx) = unbounded();
    (tx, Mutex::new(Some(rx)))
}

#[derive(Default)]
struct Users {
    /// `namespace/name` of a ClerkDomain -> the instance object it uses.
    by_domain: HashMap<String, InstanceKey>,
    /// ClerkDomains seen during a relist (those not seen are gone).
    relisting: Option<HashSet<String>>,
}

/// Instance objects as the process sees them.
pub struct Registry {
    namespaced: Store<ClerkInstance>,
    cluster: Option<Store<ClusterClerkInstance>>,
    wake_namespaced: Channel<ClerkInstance>,
    wake_cluster: Channel<ClusterClerkInstance>,
    users: Mutex<Users>,
    checks: Mutex<HashMap<InstanceKey, Memo>>,
    /// A hash of what ClerkDomains read of each object, as last seen in its watch.
    seen: Mutex<HashMap<InstanceKey, u64>>,
}

impl Registry {
    /// The registry over the instance objects' caches (`cluster` when they are served).
    pub fn new(namespaced: Store<ClerkInstance>, cluster: Option<Store<ClusterClerkInstance>>) -> Self {
        Registry {
            namespaced,
            cluster,
            wake_namespaced: channel(),
            wake_cluster: channel(),
            users: Mutex::default(),
            checks: Mutex::default(),
            seen: Mutex::default(),
        }
    }

    /// The cached ClerkInstance `key` names.
    pub fn namespaced(&self, key: &InstanceKey) -> Option<Arc<ClerkInstance>> {
        let ns = key.namespace.as_deref()?;
        self.namespaced.get(&ObjectRef::new(&key.name).within(ns))
    }

    /// The cached ClusterClerkInstance `key` names.
    pub fn cluster(&self, key: &InstanceKey) -> Option<Arc<ClusterClerkInstance>> {
        self.cluster.as_ref()?.get(&ObjectRef::new(&key.name))
    }

    /// Every cached instance object whose Secret is `namespace/name` (`credentials_namespace`
    /// holds the Secrets of ClusterClerkInstances).
    pub fn using_secret(
        &self,
        namespace: &str,
        name: &str,
        credentials_namespace: Option<&str>,
    ) -> Vec<InstanceKey> {
        let mut out = vec![];
        out.extend(
            self.namespaced
                .state()
                .iter()
                .filter(|i| i.namespace().as_deref() == Some(namespace) && i.spec.secret_ref.name == name)
                .map(|i| InstanceKey::namespaced(namespace, &i.name_any())),
        );
        if credentials_namespace == Some(namespace)
            && let Some(store) = &self.cluster
        {
            out.extend(
                store
                    .state()
                    .iter()
                    .filter(|i| i.spec.secret_ref.name == name)
                    .map(|i| InstanceKey::cluster(&i.name_any())),
            );
        }
        out
    }

    /// Reconcile the instance object `key` names soon.
    pub fn wake(&self, key: &InstanceKey) {
        match (key.kind, &key.namespace) {
            (InstanceRefKind::ClerkInstance, Some(ns)) => {
                let _ = self
                    .wake_namespaced
                    .0
                    .unbounded_send(ObjectRef::new(&key.name).within(ns));
            }
            _ => {
                let _ = self.wake_cluster.0.unbounded_send(ObjectRef::new(&key.name));
            }
        }
    }

    /// The stream waking the ClerkInstance controller (the first call takes it; later calls
    /// get a stream that ends at once).
    pub fn namespaced_wakeups(&self) -> impl futures::Stream<Item = ObjectRef<ClerkInstance>> + Send + use<> {
        taken(&self.wake_namespaced.1)
    }

    /// The stream waking the ClusterClerkInstance controller (taken as the above).
    pub fn cluster_wakeups(
        &self,
    ) -> impl futures::Stream<Item = ObjectRef<ClusterClerkInstance>> + Send + use<> {
        taken(&self.wake_cluster.1)
    }

    /// Follow the ClerkDomain watch: which object each ClerkDomain uses (`uses` computes it).
    /// An instance object gains or loses a user: it is woken (to count, and to let its
    /// finalizer go).
    pub fn follow(
        &self,
        event: &watcher::Event<ClerkDomain>,
        uses: impl Fn(&ClerkDomain) -> Option<InstanceKey>,
    ) {
        let mut wake = vec![];
        {
            let mut users = self.users.lock().unwrap();
            let mut set = |users: &mut Users, domain: String, now: Option<InstanceKey>| {
                let before = match &now {
                    Some(k) => users.by_domain.insert(domain, k.clone()),
                    None => users.by_domain.remove(&domain),
                };
                if before != now {
                    wake.extend(before);
                    wake.extend(now);
                }
            };
            match event {
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                    let domain = domain_key(o);
                    if let (watcher::Event::InitApply(_), Some(seen)) = (event, users.relisting.as_mut()) {
                        seen.insert(domain.clone());
                    }
                    set(&mut users, domain, uses(o));
                }
                watcher::Event::Delete(o) => set(&mut users, domain_key(o), None),
                watcher::Event::Init => users.relisting = Some(HashSet::new()),
                watcher::Event::InitDone => {
                    if let Some(seen) = users.relisting.take() {
                        let gone: Vec<String> = users
                            .by_domain
                            .keys()
                            .filter(|d| !seen.contains(*d))
                            .cloned()
                            .collect();
                        for d in gone {
                            set(&mut users, d, None);
                        }
                    }
                }
            }
        }
        for k in wake {
            self.wake(&k);
        }
    }

    /// `namespace/name` of the ClerkDomains using `key`.
    pub fn users(&self, key: &InstanceKey) -> Vec<(String, String)> {
        let users = self.users.lock().unwrap();
        users
            .by_domain
            .iter()
            .filter(|(_, k)| *k == key)
            .filter_map(|(d, _)| d.split_once('/').map(|(ns, n)| (ns.to_string(), n.to_string())))
            .collect()
    }

    /// Record what ClerkDomains read of `key`'s object (`None`: it is gone); returns whether it
    /// changed since last seen.
    pub fn seen(&self, key: &InstanceKey, hash: Option<u64>) -> bool {
        let mut seen = self.seen.lock().unwrap();
        let before = match hash {
            Some(h) => seen.insert(key.clone(), h),
            None => seen.remove(key),
        };
        before != hash
    }

    /// The last completed check of `key`'s object.
    pub fn memo(&self, key: &InstanceKey) -> Option<Memo> {
        self.checks.lock().unwrap().get(key).cloned()
    }

    /// Remember a completed check.
    pub fn remember(&self, key: &InstanceKey, memo: Memo) {
        self.checks.lock().unwrap().insert(key.clone(), memo);
    }

    /// Forget the check of `key`'s object (a transient failure, or the object is gone).
    pub fn forget(&self, key: &InstanceKey) {
        self.checks.lock().unwrap().remove(key);
    }
}

fn domain_key(o: &ClerkDomain) -> String {
    format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())
}

/// The receiver in `slot`, taken; an empty stream when it was taken before.
fn taken<K>(slot: &Mutex<Option<UnboundedReceiver<K>>>) -> impl futures::Stream<Item = K> + Send + use<K>
where
    K: Send + 'static,
{
    use futures::StreamExt;
    match slot.lock().unwrap().take() {
        Some(rx) => rx.left_stream(),
        None => futures::stream::empty().right_stream(),
    }
}
