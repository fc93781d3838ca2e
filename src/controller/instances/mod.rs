//! ClerkInstance and ClusterClerkInstance: a second and third controller in the operator's
//! process (under the same leader election), and how ClerkDomains use the objects.
//!
//! - [`select`]: the precedence of key sources and the namespace selector (pure).
//! - [`status`]: an object's status from its last check with Clerk (pure).
//! - [`reconcile`](mod@reconcile): read the key, `GET /instance`, pin the instance ID, write status.
//! - [`in_use`]: the finalizer that keeps an object while ClerkDomains use it.
//! - [`lookup`]: a ClerkDomain's key through an object (refused without a Clerk call when the
//!   object is missing, not Ready, or does not select the namespace).
//! - [`users`]: which ClerkDomains use an object, from the ClerkDomain cache.
//! - [`registry`]: what the process remembers (checks, wakeups).

pub mod in_use;
mod kind;
pub mod lookup;
mod reconcile;
mod registry;
pub mod select;
pub mod status;
pub mod users;

pub use kind::InstanceObject;
pub use registry::Registry;
pub use select::{InstanceKey, KeySource, choose};

use super::Context;
use futures::StreamExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use kube::{Api, ResourceExt};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// Run the controller of kind `K` on `api` until the future is dropped, filling `store`
/// through `writer`; `wakeups` are the objects to reconcile again because their users changed.
pub async fn run<K: InstanceObject>(
    ctx: Arc<Context>,
    api: Api<K>,
    store: Store<K>,
    writer: reflector::store::Writer<K>,
    wakeups: impl futures::Stream<Item = ObjectRef<K>> + Send + 'static,
) {
    let mut wc = watcher::Config::default().any_semantic();
    if let Some(selector) = &ctx.config.instance_selector {
        wc = wc.labels(selector);
    }
    let hook = ctx.clone();
    let objects = super::watch::events(api, wc)
        .reflect(writer)
        .inspect(move |e| {
            if let Ok(e) = e {
                observe(&hook, e);
            }
        })
        .applied_objects()
        .predicate_filter(super::watch::asks_for_work(), Default::default());
    Controller::for_stream(objects, store)
        .reconcile_on(wakeups)
        .with_config(controller::Config::default().concurrency(2))
        .run(reconcile::reconcile::<K>, reconcile::error_policy::<K>, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, kind = K::KIND.as_str(), "instance reconcile failed");
            }
        })
        .await;
}

/// Follow an instance object's watch: when what ClerkDomains read of it changes (it appears,
/// goes, its generation, finalizers or status conditions change), wake the ClerkDomains using
/// it. The cache already holds the new state when this runs, so they read it.
fn observe<K: InstanceObject>(ctx: &Context, event: &watcher::Event<K>) {
    let (key, hash) = match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o.key(), Some(read_by_domains(o))),
        watcher::Event::Delete(o) => (o.key(), None),
        watcher::Event::Init | watcher::Event::InitDone => return,
    };
    if ctx.memory.instances.seen(&key, hash) {
        for (ns, name) in users::users(ctx, &key) {
            ctx.memory.wake_domain(&ns, &name);
        }
    }
}

fn read_by_domains<K: InstanceObject>(o: &K) -> u64 {
    let mut h = DefaultHasher::new();
    o.meta().uid.hash(&mut h);
    o.meta().generation.hash(&mut h);
    o.finalizers().hash(&mut h);
    o.meta().deletion_timestamp.is_some().hash(&mut h);
    if let Some(st) = o.instance_status() {
        st.instance_id.hash(&mut h);
        st.observed_generation.hash(&mut h);
        for c in &st.conditions {
            (&c.type_, &c.status, &c.reason, &c.message, c.observed_generation).hash(&mut h);
        }
    }
    h.finish()
}
