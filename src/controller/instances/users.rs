//! Which ClerkDomains use which instance object, read from the ClerkDomain cache, and the
//! wakeups when that changes.

use super::select::{InstanceKey, KeySource, choose};
use crate::api::ClerkDomain;
use crate::controller::Context;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

/// The instance object `d` uses, if any (objects without a key source of their own use
/// `default_instance`, when set).
pub fn used_by(d: &ClerkDomain, default_instance: Option<&str>) -> Option<InstanceKey> {
    let ns = d.namespace().unwrap_or_default();
    match choose(&d.spec, &ns, default_instance) {
        KeySource::Instance(k) => Some(k),
        _ => None,
    }
}

/// `namespace/name` of the cached ClerkDomains using `key`.
pub fn users(ctx: &Context, key: &InstanceKey) -> Vec<(String, String)> {
    let default = ctx.config.default_instance.as_deref();
    ctx.stores
        .domains
        .state()
        .iter()
        .filter(|d| used_by(d, default).as_ref() == Some(key))
        .map(|d| (d.namespace().unwrap_or_default(), d.name_any()))
        .collect()
}

/// Follow the ClerkDomain watch *before* the cache takes the event, so the cache still holds
/// the object as it was: an instance object that gains or loses a user is woken (to count, and
/// to let its finalizer go). After a relist every instance object is woken, since ClerkDomains
/// deleted meanwhile left no event.
pub fn follow(ctx: &Context, event: &watcher::Event<ClerkDomain>) {
    let default = ctx.config.default_instance.as_deref();
    let before = |o: &ClerkDomain| {
        ctx.stores
            .domains
            .get(&ObjectRef::from_obj(o))
            .and_then(|old| used_by(&old, default))
    };
    let (before, now) = match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (before(o), used_by(o, default)),
        watcher::Event::Delete(o) => (before(o).or_else(|| used_by(o, default)), None),
        watcher::Event::InitDone => return wake_all(ctx),
        watcher::Event::Init => return,
    };
    if before != now {
        for k in before.iter().chain(now.iter()) {
            ctx.memory.instances.wake(k);
        }
    }
}

fn wake_all(ctx: &Context) {
    for i in ctx.stores.namespaced.state() {
        ctx.memory.instances.wake(&super::InstanceObject::key(i.as_ref()));
    }
    for i in ctx.stores.cluster.iter().flat_map(|s| s.state()) {
        ctx.memory.instances.wake(&super::InstanceObject::key(i.as_ref()));
    }
}
