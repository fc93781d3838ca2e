//! Which changes of a ClerkDomain (or an instance object) start a reconcile. The operator's own
//! status writes do not: a status-only change would only make the reconcile look again at what
//! it just wrote (and, after a terminal failure, ask Clerk again at once).

use kube::runtime::watcher;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// A hash of what a user (or Kubernetes) changes to ask for work: the generation (spec),
/// annotations (pause, resync, adoption), labels, finalizers and deletion. Used with
/// [`Triggers`] for ClerkDomains and the instance kinds alike: events
/// whose hash is unchanged are dropped.
pub(crate) fn wants_reconcile<K: kube::Resource>(obj: &K) -> Option<u64> {
    let m = obj.meta();
    let mut h = DefaultHasher::new();
    m.uid.hash(&mut h);
    m.generation.hash(&mut h);
    m.annotations.hash(&mut h);
    m.labels.hash(&mut h);
    m.finalizers.hash(&mut h);
    m.deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    Some(h.finish())
}

/// Which objects of a watch have a new [`wants_reconcile`] value: the filter between a
/// reflector's events and a controller (kube-runtime's `predicate_filter` does the same with a
/// map keyed by each object's name, namespace and uid as strings, about 300 bytes an object;
/// this one keys by a hash of the uid, 16 bytes).
///
/// What it remembers is what the watch says is alive: a deleted object is forgotten, and a
/// relist (after the watch lost its place) keeps only the objects it lists. An object listed
/// again unchanged starts no reconcile; one created again under the same name has a new uid
/// and does.
#[derive(Debug, Default)]
pub(crate) struct Triggers {
    seen: HashMap<u64, u64>,
    /// The objects of a relist in progress (`Init` .. `InitDone`).
    relist: Option<HashMap<u64, u64>>,
}

impl Triggers {
    /// The object of `event` if it should be reconciled.
    pub(crate) fn pass<K: kube::Resource>(&mut self, event: watcher::Event<K>) -> Option<K> {
        match event {
            watcher::Event::Apply(o) => {
                let (key, value) = entry(&o);
                (self.seen.insert(key, value) != Some(value)).then_some(o)
            }
            watcher::Event::InitApply(o) => {
                let (key, value) = entry(&o);
                self.relist.get_or_insert_default().insert(key, value);
                (self.seen.get(&key) != Some(&value)).then_some(o)
            }
            watcher::Event::Delete(o) => {
                let (key, _) = entry(&o);
                self.seen.remove(&key);
                if let Some(r) = &mut self.relist {
                    r.remove(&key);
                }
                None
            }
            watcher::Event::Init => {
                self.relist = Some(HashMap::new());
                None
            }
            watcher::Event::InitDone => {
                if let Some(mut listed) = self.relist.take() {
                    listed.shrink_to_fit();
                    self.seen = listed;
                }
                None
            }
        }
    }

    /// How many objects are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// The key of `o` (a hash of its uid, or of its namespace and name without one) and its
/// [`wants_reconcile`] value.
fn entry<K: kube::Resource>(o: &K) -> (u64, u64) {
    let m = o.meta();
    let mut h = DefaultHasher::new();
    match &m.uid {
        Some(uid) => uid.hash(&mut h),
        None => (&m.namespace, &m.name).hash(&mut h),
    }
    (h.finish(), wants_reconcile(o).unwrap_or_default())
}

/// The objects of `events` (a reflector's output) that should be reconciled, with the watch's
/// errors passed on.
pub(crate) fn triggers<K: kube::Resource>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> {
    use futures::StreamExt;
    let mut t = Triggers::default();
    events.filter_map(move |e| {
        std::future::ready(match e {
            Ok(e) => t.pass(e).map(Ok),
            Err(e) => Some(Err(e)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClerkDomain, ClerkDomainSpec, ClerkDomainStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn status_writes_do_not_trigger_and_everything_else_does() {
        let mut base = ClerkDomain::new("a", ClerkDomainSpec::for_domain("a.example.com"));
        base.metadata.generation = Some(1);
        let h = wants_reconcile(&base);
        let with = |f: &dyn Fn(&mut ClerkDomain)| {
            let mut o = base.clone();
            f(&mut o);
            wants_reconcile(&o)
        };
        assert_eq!(
            with(&|o| o.status = Some(ClerkDomainStatus::default())),
            h,
            "status only"
        );
        assert_eq!(
            with(&|o| o.metadata.resource_version = Some("9".into())),
            h,
            "resourceVersion only"
        );
        type Change<'a> = (&'a str, &'a dyn Fn(&mut ClerkDomain));
        let changes: [Change<'_>; 5] = [
            ("spec (generation)", &|o| o.metadata.generation = Some(2)),
            ("annotation", &|o| {
                o.metadata.annotations = Some([("clerk-operator.io/paused".into(), "true".into())].into())
            }),
            ("label", &|o| {
                o.metadata.labels = Some([("a".into(), "b".into())].into())
            }),
            ("finalizers", &|o| o.metadata.finalizers = Some(vec!["x".into()])),
            ("deletion", &|o| {
                o.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::from_second(5).unwrap()))
            }),
        ];
        for (what, change) in changes {
            assert_ne!(with(change), h, "{what}");
        }
    }

    fn obj(name: &str, uid: &str, generation: i64) -> ClerkDomain {
        let mut o = ClerkDomain::new(name, ClerkDomainSpec::for_domain("a.example.com"));
        o.metadata.namespace = Some("ns".into());
        o.metadata.uid = Some(uid.into());
        o.metadata.generation = Some(generation);
        o
    }

    fn names(t: &mut Triggers, events: Vec<watcher::Event<ClerkDomain>>) -> Vec<String> {
        events
            .into_iter()
            .filter_map(|e| t.pass(e))
            .map(|o| format!("{}@{}", o.metadata.name.unwrap(), o.metadata.generation.unwrap()))
            .collect()
    }

    #[test]
    fn triggers_follow_the_watch() {
        use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
        let mut t = Triggers::default();
        let mut status_only = obj("a", "u-a", 1);
        status_only.status = Some(ClerkDomainStatus::default());
        status_only.metadata.resource_version = Some("9".into());
        // (what, the watch's events, the objects to reconcile, how many are remembered after)
        type Case<'a> = (&'a str, Vec<watcher::Event<ClerkDomain>>, Vec<&'a str>, usize);
        let table: Vec<Case<'_>> = vec![
            (
                "first list: everything",
                vec![
                    Init,
                    InitApply(obj("a", "u-a", 1)),
                    InitApply(obj("b", "u-b", 1)),
                    InitDone,
                ],
                vec!["a@1", "b@1"],
                2,
            ),
            ("status write: nothing", vec![Apply(status_only)], vec![], 2),
            ("spec change", vec![Apply(obj("a", "u-a", 2))], vec!["a@2"], 2),
            ("the same again", vec![Apply(obj("a", "u-a", 2))], vec![], 2),
            ("deleted: forgotten", vec![Delete(obj("b", "u-b", 1))], vec![], 1),
            (
                "created again under the name, same generation",
                vec![Apply(obj("b", "u-b2", 1))],
                vec!["b@1"],
                2,
            ),
            (
                "relist: unchanged objects start nothing, changed and new ones do, unlisted go",
                vec![
                    Init,
                    InitApply(obj("a", "u-a", 2)),
                    InitApply(obj("c", "u-c", 1)),
                    InitDone,
                ],
                vec!["c@1"],
                2,
            ),
            (
                "b was not listed: seen as new",
                vec![Apply(obj("b", "u-b2", 1))],
                vec!["b@1"],
                3,
            ),
            (
                "relist with a change",
                vec![Init, InitApply(obj("a", "u-a", 3)), InitDone],
                vec!["a@3"],
                1,
            ),
        ];
        for (what, events, want, remembered) in table {
            assert_eq!(names(&mut t, events), want, "{what}");
            assert_eq!(t.len(), remembered, "{what}: remembered");
        }
    }
}
