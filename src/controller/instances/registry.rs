//! What the process keeps about instance objects: their caches, the channels that wake their
//! controllers, and the last check of each key with Clerk.

use super::select::InstanceKey;
use super::status::Checked;
use crate::api::{ClerkInstance, ClusterClerkInstance, InstanceRefKind};
use crate::clerk::SecretKey;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
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

/// Instance objects as the process sees them.
pub struct Registry {
    namespaced: Store<ClerkInstance>,
    cluster: Option<Store<ClusterClerkInstance>>,
    wake_namespaced: Channel<ClerkInstance>,
    wake_cluster: Channel<ClusterClerkInstance>,
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
