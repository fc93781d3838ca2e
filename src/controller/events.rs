//! User-visible transitions as Kubernetes Events (events.k8s.io), published through the
//! context's [`Recorder`](kube::runtime::events::Recorder) (kube-runtime's, reporting as
//! `clerk-operator` and the Pod's name), which folds repeats of the same Event into a series.

use super::Context;
use kube::Resource;
use kube::runtime::events::Event;
pub use kube::runtime::events::EventType;

/// Publish an Event about `obj`. Failing to publish is logged, never fatal.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        // events.k8s.io allows 1 kB of note.
        note: Some(crate::api::truncate(note, 1000)),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish Event");
    }
}

/// Normal event shorthand.
pub async fn normal<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    reason: &str,
    action: &str,
    note: String,
) {
    publish(ctx, obj, EventType::Normal, reason, action, note).await
}

/// Warning event shorthand.
pub async fn warning<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    reason: &str,
    action: &str,
    note: String,
) {
    publish(ctx, obj, EventType::Warning, reason, action, note).await
}
