//! The ClerkDomains waiting for a reconcile, handed to kube-runtime's controller a few at a
//! time.
//!
//! kube-runtime's scheduler keeps every request it is given in three structures (a delay queue,
//! a map of scheduled requests, a set of those held while their object runs), each holding
//! an `ObjectRef` of four strings, and none of them gives memory back. Given all 10,000
//! objects at once (the first list, or the steady-state resync when every object asked to be
//! requeued at the same aligned time) that was 7 MB of a fresh process's 38 MB heap.
//! The backlog keeps waiting objects as `namespace/name` strings in arrival order, drops
//! repeats, and lets at most [`Backlog::limit`] be in the controller at once; the controller
//! tells it when each one is done ([`Backlog::done`]). Objects that ask for an earlier look
//! (backoff, DNS checks, their own resync period) still go through the scheduler: they are
//! few.

use super::CachedDomain;
use futures::Stream;
use kube::runtime::reflector::ObjectRef;
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

/// Objects in the controller at once, by default: enough to keep its workers busy
/// (`--concurrency`, 8 by default) with room for objects that wait on Clerk's budget.
pub const DEFAULT_LIMIT: usize = 64;

/// Whether `obj` is reconciled at the operator's resync times: not when it has a resync
/// period of its own (annotation `clerk-operator.io/resync-period`, requeued by its reconcile),
/// is being deleted (its cleanup asks again as it needs), or is failing (retried on its own
/// backoff, which a resync must not shorten).
pub fn resyncs_with_the_flag(obj: &CachedDomain, failing: bool) -> bool {
    use kube::Resource;
    let meta = obj.meta();
    let own_period = matches!(
        crate::api::annotations::parse(meta.annotations.as_ref()).resync_period,
        Some(Ok(_))
    );
    !own_period && meta.deletion_timestamp.is_none() && !failing
}

#[derive(Debug, Default)]
struct Queue {
    /// `namespace/name`, oldest first.
    waiting: VecDeque<Box<str>>,
    /// Hashes of `waiting`, to drop repeats.
    queued: HashSet<u64>,
    /// Hashes of the objects handed out and not yet done.
    in_flight: HashSet<u64>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Backlog {
    queue: Mutex<Queue>,
    changed: tokio::sync::Notify,
    hasher: RandomState,
    limit: usize,
}

impl Backlog {
    pub fn new(limit: usize) -> Self {
        Self {
            queue: Mutex::default(),
            changed: tokio::sync::Notify::new(),
            hasher: RandomState::new(),
            limit: limit.max(1),
        }
    }

    fn hash(&self, namespace: &str, name: &str) -> u64 {
        self.hasher.hash_one((namespace, name))
    }

    /// Ask for a reconcile of `namespace/name` (once, however often it is asked before it is
    /// handed out).
    pub fn push(&self, namespace: &str, name: &str) {
        let h = self.hash(namespace, name);
        let mut q = self.queue.lock().unwrap();
        if q.queued.insert(h) {
            q.waiting
                .push_back(format!("{namespace}/{name}").into_boxed_str());
            drop(q);
            self.changed.notify_one();
        }
    }

    /// The controller finished with `namespace/name` (reconciled, failed, or found gone).
    pub fn done(&self, namespace: Option<&str>, name: &str) {
        let h = self.hash(namespace.unwrap_or_default(), name);
        let removed = self.queue.lock().unwrap().in_flight.remove(&h);
        if removed {
            self.changed.notify_one();
        }
    }

    /// The next object to hand out, if one waits and fewer than the limit are out.
    fn next(&self) -> Option<ObjectRef<CachedDomain>> {
        let mut q = self.queue.lock().unwrap();
        if q.in_flight.len() >= self.limit {
            return None;
        }
        let key = q.waiting.pop_front()?;
        let (namespace, name) = key.split_once('/').unwrap_or(("", &key));
        let h = self.hash(namespace, name);
        q.queued.remove(&h);
        q.in_flight.insert(h);
        if q.waiting.is_empty() {
            // A first list or a resync of every object is over: give its room back.
            q.waiting.shrink_to_fit();
            q.queued.shrink_to_fit();
        }
        Some(ObjectRef::new(name).within(namespace))
    }

    /// (waiting, in the controller).
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let q = self.queue.lock().unwrap();
        (q.waiting.len(), q.in_flight.len())
    }

    /// The objects to reconcile, as the controller may take them: a request is yielded only
    /// while fewer than the limit are out.
    pub fn requests(self: Arc<Self>) -> impl Stream<Item = ObjectRef<CachedDomain>> + Send {
        futures::stream::unfold(self, |backlog| async move {
            loop {
                // `notify_one` leaves a permit when nobody waits: a push between `next` and
                // the wait is not missed.
                let waker = backlog.clone();
                let changed = waker.changed.notified();
                if let Some(r) = backlog.next() {
                    return Some((r, backlog));
                }
                changed.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    fn done(backlog: &Backlog, r: &ObjectRef<CachedDomain>) {
        backlog.done(r.namespace.as_deref(), &r.name);
    }

    fn names(refs: &[ObjectRef<CachedDomain>]) -> Vec<String> {
        refs.iter()
            .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or_default(), r.name))
            .collect()
    }

    /// Take what the stream yields within 50 ms (of paused time).
    async fn take_ready(
        s: &mut (impl Stream<Item = ObjectRef<CachedDomain>> + Unpin),
    ) -> Vec<ObjectRef<CachedDomain>> {
        let mut out = vec![];
        while let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(50), s.next()).await {
            out.push(r);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn hands_out_at_most_the_limit_in_order_without_repeats() {
        let backlog = Arc::new(Backlog::new(2));
        for n in ["a", "b", "a", "c", "d", "b"] {
            backlog.push("ns", n);
        }
        assert_eq!(backlog.counts(), (4, 0), "repeats dropped while waiting");
        let mut s = Box::pin(backlog.clone().requests());
        let first = take_ready(&mut s).await;
        assert_eq!(names(&first), ["ns/a", "ns/b"], "oldest first, only the limit");
        assert_eq!(backlog.counts(), (2, 2));
        // An object handed out may be asked for again: it waits its turn (the controller
        // would hold it until its run ends anyway).
        backlog.push("ns", "a");
        done(&backlog, &first[0]);
        let next = take_ready(&mut s).await;
        assert_eq!(names(&next), ["ns/c"]);
        done(&backlog, &first[1]);
        done(&backlog, &next[0]);
        let rest = take_ready(&mut s).await;
        assert_eq!(names(&rest), ["ns/d", "ns/a"]);
        assert_eq!(backlog.counts(), (0, 2));
        // Done twice, or done for an object never handed out, frees nothing extra.
        done(&backlog, &rest[0]);
        done(&backlog, &rest[0]);
        backlog.done(Some("ns"), "zz");
        assert_eq!(backlog.counts(), (0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_push_wakes_a_waiting_stream() {
        let backlog = Arc::new(Backlog::new(8));
        let mut s = Box::pin(backlog.clone().requests());
        assert!(take_ready(&mut s).await.is_empty());
        backlog.push("other", "x");
        assert_eq!(names(&take_ready(&mut s).await), ["other/x"]);
    }

    #[test]
    fn who_resyncs_with_the_flag() {
        use crate::api::{ClerkDomain, ClerkDomainSpec};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let with = |annotation: Option<&str>, deleting: bool| {
            let mut o = ClerkDomain::new("a", ClerkDomainSpec::for_domain("a.example.com"));
            o.metadata.annotations = annotation
                .map(|v| [(crate::api::annotations::RESYNC_PERIOD.to_string(), v.to_string())].into());
            o.metadata.deletion_timestamp = deleting.then(|| Time(jiff::Timestamp::from_second(5).unwrap()));
            CachedDomain::pack(&o).unwrap()
        };
        type Case<'a> = (&'a str, Option<&'a str>, bool, bool, bool);
        let cases: [Case<'_>; 6] = [
            ("plain", None, false, false, true),
            ("own period", Some("10m"), false, false, false),
            ("own period, clamped", Some("1s"), false, false, false),
            ("malformed period: the flag's", Some("soon"), false, false, true),
            ("being deleted", None, true, false, false),
            ("failing: its own backoff", None, false, true, false),
        ];
        for (what, annotation, deleting, failing, want) in cases {
            assert_eq!(
                resyncs_with_the_flag(&with(annotation, deleting), failing),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn names_with_a_slash_free_namespace_round_trip() {
        // Namespaces cannot contain '/', names of ClerkDomains cannot either; the split is
        // at the first '/'.
        let backlog = Backlog::new(1);
        backlog.push("team-a", "www.example.com");
        let r = backlog.next().unwrap();
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_str()),
            (Some("team-a"), "www.example.com")
        );
        assert!(backlog.next().is_none());
    }
}
