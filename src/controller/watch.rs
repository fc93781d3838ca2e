//! How the controllers watch: each watch backed off and trimmed for its cache, and the changes
//! that ask for a reconcile.

use futures::{Stream, StreamExt};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource};

/// A watch as the caches take it: without managedFields (nothing here reads them), and backed
/// off when the API server fails (client-go's schedule, 0.8 s growing to 30 s), so that an API
/// server that is down or refusing is not asked again in a tight loop.
pub(crate) fn events<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    watcher(api, config)
        .default_backoff()
        .modify(|o: &mut K| o.meta_mut().managed_fields = None)
}

/// What a user (or Kubernetes) changes to ask for work: the generation (the spec; deletion
/// bumps a custom resource's generation too), annotations (pause, resync, adoption), labels and
/// the finalizers of others. The operator's own writes change none of them, so they start no
/// reconcile: not its status, and not its finalizer, which the reconcile that adds it goes on
/// to apply (a finalizer removed by hand from a live object is put back at its next resync); a
/// new object (another uid) always passes.
pub(crate) fn asks_for_work<K: Resource + 'static>() -> impl Predicate<K> + 'static {
    predicates::generation
        .combine(predicates::annotations)
        .combine(predicates::labels)
        .combine(others_finalizers)
}

/// The finalizers other than the operator's own.
fn others_finalizers<K: Resource>(obj: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let others = obj.meta().finalizers.iter().flatten();
    others
        .filter(|f| *f != crate::api::FINALIZER)
        .for_each(|f| f.hash(&mut hasher));
    Some(hasher.finish())
}

/// An `Api` of the watched namespace, or of all.
pub(crate) fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Resolves once `store` has completed its first list.
pub async fn wait_synced<K: Clone + Resource + 'static>(
    store: &Store<K>,
) -> Result<(), reflector::store::WriterDropped>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    // The store's readiness signal wakes only its latest waiter (the controller waits on it
    // too), so poll it rather than rely on being woken.
    loop {
        let wait = tokio::time::timeout(std::time::Duration::from_millis(250), store.wait_until_ready());
        if let Ok(result) = wait.await {
            return result;
        }
    }
}

/// Changes of the owned children of kind `K` (the operator's label,
/// `app.kubernetes.io/managed-by=clerk-operator`), metadata only: each one (a delete, an edit)
/// reconciles the ClerkDomain its controller ownerReference names. Starts once `ready`
/// resolves (when the kind's CRD is served).
pub(crate) fn owned<K>(
    api: Api<PartialObjectMeta<K>>,
    ready: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    use crate::dns::endpoint::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
    let config = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    futures::stream::once(ready).flat_map(move |()| {
        watcher(api.clone(), config.clone())
            .default_backoff()
            .touched_objects()
    })
}
