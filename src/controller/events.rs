//! User-visible transitions as Kubernetes Events (events.k8s.io).
//!
//! The [`Recorder`] publishes like kube-runtime's: a repeat of the same Event (same type,
//! reason, action and object) within [`SERIES_TTL`] bumps the first one's `series` instead of
//! creating another. Unlike kube-runtime's, it remembers only what a repeat needs (the Event's
//! name, count and time, not the whole Event), at most [`SERIES_CAPACITY`] series, least
//! recently used first out, and never scans them: a 10,000-object burst costs a bounded map,
//! not an Event per object for six minutes and a scan of all of them on every publish. A repeat
//! of a forgotten series creates a new Event, which is what Kubernetes does after its TTL too.

use super::Context;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

pub use kube::runtime::events::EventType;

/// How long a repeat still counts as the same series (kube-runtime and client-go use 6 min).
pub const SERIES_TTL: Duration = Duration::from_secs(6 * 60);
/// Series remembered at once.
pub const SERIES_CAPACITY: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    type_: &'static str,
    reason: String,
    action: String,
    /// The object's UID (or namespace/name when it has none).
    regarding: String,
}

#[derive(Clone, Debug)]
struct Series {
    name: String,
    count: i32,
    started: Instant,
}

/// Publishes Events about the operator's objects, folding repeats into series.
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    series: Mutex<lru::LruCache<SeriesKey, Series>>,
}

impl Recorder {
    /// A recorder reporting as `controller` (and `instance`, the process identity).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        let capacity = NonZeroUsize::new(SERIES_CAPACITY).expect("non-zero capacity");
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            series: Mutex::new(lru::LruCache::new(capacity)),
        }
    }

    /// How many series are remembered.
    pub fn series_len(&self) -> usize {
        self.series.lock().unwrap().len()
    }

    /// Publish `type_`/`reason`/`action` with `note` about the object `regarding`.
    pub async fn publish(
        &self,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
        regarding: ObjectReference,
    ) -> Result<(), kube::Error> {
        let type_ = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let key = SeriesKey {
            type_,
            reason: reason.to_string(),
            action: action.to_string(),
            regarding: regarding
                .uid
                .clone()
                .unwrap_or_else(|| format!("{namespace}/{}", regarding.name.as_deref().unwrap_or_default())),
        };
        let now = Timestamp::now();
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let repeat = {
            let mut series = self.series.lock().unwrap();
            match series.get_mut(&key) {
                Some(s) if s.started.elapsed() < SERIES_TTL => {
                    s.count = s.count.saturating_add(1);
                    Some(s.clone())
                }
                _ => None,
            }
        };
        if let Some(s) = repeat {
            let patch = serde_json::json!({
                "series": EventSeries { count: s.count, last_observed_time: MicroTime(now) },
            });
            match events
                .patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // The Event expired or was deleted: start a new series.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let event = K8sEvent {
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            event_time: Some(MicroTime(now)),
            note: Some(note),
            metadata: ObjectMeta {
                namespace: Some(namespace),
                name: Some(name.clone()),
                ..Default::default()
            },
            regarding: Some(regarding),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(type_.to_string()),
            ..Default::default()
        };
        events.create(&PostParams::default(), &event).await?;
        let series = Series {
            name,
            count: 1,
            started: Instant::now(),
        };
        self.series.lock().unwrap().put(key, series);
        Ok(())
    }
}

/// Publish an Event about `obj`. Failing to publish is logged, never fatal.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    // events.k8s.io allows 1 kB of note.
    let note = crate::api::truncate(note, 1000);
    if let Err(e) = ctx
        .recorder
        .publish(type_, reason, action, note, obj.object_ref(&()))
        .await
    {
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
