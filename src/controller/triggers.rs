//! Which changes of a ClerkDomain (or an instance object) start a reconcile. The operator's own
//! status writes do not: a status-only change would only make the reconcile look again at what
//! it just wrote (and, after a terminal failure, ask Clerk again at once).

use std::hash::{DefaultHasher, Hash, Hasher};

/// A hash of what a user (or Kubernetes) changes to ask for work: the generation (spec),
/// annotations (pause, resync, adoption), labels, finalizers and deletion. Used with
/// kube-runtime's `predicate_filter` for ClerkDomains and the instance kinds alike: events
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
}
