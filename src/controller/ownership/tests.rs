use super::*;
use crate::api::{ClerkDomainSpec, ClerkDomainStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::store::Writer;

fn obj(name: &str, created: i64, status: Option<(&str, &str)>) -> ClerkDomain {
    let mut o = ClerkDomain::new(name, ClerkDomainSpec::for_domain(&format!("{name}.example.com")));
    o.metadata.namespace = Some("ns".into());
    o.metadata.uid = Some(format!("uid-{name}"));
    o.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
    o.status = status.map(|(i, d)| ClerkDomainStatus {
        instance_id: Some(i.into()),
        domain_id: Some(d.into()),
        ..Default::default()
    });
    o
}

fn key(i: &str, d: &str) -> DomainKey {
    DomainKey::new(i, d)
}

/// An index over a cache that the returned writer feeds.
fn index() -> (Ownership, Writer<ClerkDomain>) {
    let (store, writer) = kube::runtime::reflector::store();
    (Ownership::new(store), writer)
}

/// Apply `event` to the cache, then let the index observe it (as the controller's watch does).
fn feed(idx: &Ownership, w: &mut Writer<ClerkDomain>, event: watcher::Event<ClerkDomain>) -> Observed {
    w.apply_watcher_event(&event);
    idx.observe(&event)
}

#[test]
fn ownership_table() {
    let (idx, mut w) = index();
    let a = obj("a", 10, Some(("ins_1", "dmn_a")));
    let b = obj("b", 20, None);
    feed(&idx, &mut w, watcher::Event::Apply(a.clone()));
    feed(&idx, &mut w, watcher::Event::Apply(b.clone()));
    type Case<'a> = (&'a str, Result<(), String>, Result<(), &'a str>);
    let name = |r: Result<(), Owner>| r.map_err(|o| o.object);
    let cases: Vec<Case> = vec![
        (
            "a owns what its status records",
            name(idx.owns(&a, &key("ins_1", "dmn_a"))),
            Ok(()),
        ),
        (
            "b may not claim a's domain",
            name(idx.claim(&b, &key("ins_1", "dmn_a"))),
            Err("ns/a"),
        ),
        (
            "same domain ID on another instance is free",
            name(idx.claim(&b, &key("ins_2", "dmn_a"))),
            Ok(()),
        ),
        (
            "a may not claim b's claim",
            name(idx.claim(&a, &key("ins_2", "dmn_a"))),
            Err("ns/b"),
        ),
        (
            "b owns its claim",
            name(idx.owns(&b, &key("ins_2", "dmn_a"))),
            Ok(()),
        ),
    ];
    for (case, got, want) in cases {
        assert_eq!(got, want.map_err(String::from), "{case}");
    }
}

#[test]
fn the_oldest_of_two_recorders_owns() {
    let (idx, mut w) = index();
    let young = obj("young", 20, Some(("ins_1", "dmn_x")));
    let old = obj("old", 10, Some(("ins_1", "dmn_x")));
    feed(&idx, &mut w, watcher::Event::Apply(young.clone()));
    feed(&idx, &mut w, watcher::Event::Apply(old.clone()));
    assert_eq!(
        idx.owns(&young, &key("ins_1", "dmn_x")).unwrap_err().object,
        "ns/old"
    );
    assert!(idx.owns(&old, &key("ins_1", "dmn_x")).is_ok());
    assert_eq!(
        idx.other_owner(&old, &key("ins_1", "dmn_x")).unwrap().object,
        "ns/young"
    );
}

#[test]
fn a_claim_lasts_until_status_records_it_and_deletion_frees_it() {
    let (idx, mut w) = index();
    let a = obj("a", 10, None);
    let b = obj("b", 20, None);
    feed(&idx, &mut w, watcher::Event::Apply(a.clone()));
    feed(&idx, &mut w, watcher::Event::Apply(b.clone()));
    idx.claim(&a, &key("ins_1", "dmn_new")).unwrap();
    // An older status of `a` (without the ID) does not drop the claim.
    feed(&idx, &mut w, watcher::Event::Apply(a.clone()));
    assert!(idx.claim(&b, &key("ins_1", "dmn_new")).is_err());
    let recorded = obj("a", 10, Some(("ins_1", "dmn_new")));
    feed(&idx, &mut w, watcher::Event::Apply(recorded.clone()));
    assert_eq!(idx.claims(), 0, "the status records it now");
    assert_eq!(idx.owner(&key("ins_1", "dmn_new")).unwrap().object, "ns/a");
    let gone = feed(&idx, &mut w, watcher::Event::Delete(recorded)).gone;
    assert_eq!(gone, ["ns/a"]);
    idx.claim(&b, &key("ins_1", "dmn_new")).unwrap();
}

#[test]
fn a_claim_of_an_object_gone_unseen_does_not_count() {
    let (idx, mut w) = index();
    let a = obj("a", 1, None);
    feed(&idx, &mut w, watcher::Event::Apply(a.clone()));
    idx.claim(&a, &key("i", "d")).unwrap();
    // A relist without `a`: the cache drops it, and with it the claim's weight.
    for e in [watcher::Event::Init, watcher::Event::InitDone] {
        feed(&idx, &mut w, e);
    }
    assert!(idx.owner(&key("i", "d")).is_none());
    // A new object of the same name is another owner (another uid).
    let mut again = obj("a", 5, None);
    again.metadata.uid = Some("uid-a-2".into());
    feed(&idx, &mut w, watcher::Event::Apply(again));
    assert!(idx.owner(&key("i", "d")).is_none());
    let b = obj("b", 2, None);
    feed(&idx, &mut w, watcher::Event::Apply(b.clone()));
    idx.claim(&b, &key("i", "d")).unwrap();
    assert_eq!(idx.claims(), 1, "the stale claim is let go");
}

#[test]
fn refused_objects_wake_when_their_owner_changes_or_goes() {
    let (idx, mut w) = index();
    let owner = obj("a", 1, Some(("i", "d")));
    let refused = obj("b", 2, None);
    feed(&idx, &mut w, watcher::Event::Apply(owner.clone()));
    idx.wait_for("ns/a", &refused);
    assert!(
        feed(&idx, &mut w, watcher::Event::Apply(refused.clone()))
            .wake
            .is_empty()
    );
    let woken = feed(&idx, &mut w, watcher::Event::Delete(owner.clone())).wake;
    assert_eq!(woken, [("ns".to_string(), "b".to_string())]);
    // Woken once; a gone waiter is forgotten.
    idx.wait_for("ns/a", &refused);
    feed(&idx, &mut w, watcher::Event::Delete(refused));
    assert!(feed(&idx, &mut w, watcher::Event::Apply(owner)).wake.is_empty());
}

#[test]
fn concurrent_claims_have_one_winner() {
    let (idx, mut w) = index();
    let objects: Vec<ClerkDomain> = (0..8).map(|n| obj(&format!("o{n}"), n, None)).collect();
    for o in &objects {
        feed(&idx, &mut w, watcher::Event::Apply(o.clone()));
    }
    let idx = std::sync::Arc::new(idx);
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = objects
            .iter()
            .map(|o| {
                let idx = idx.clone();
                s.spawn(move || idx.claim(o, &key("i", "d")).is_ok())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap() as usize).sum()
    });
    assert_eq!(wins, 1);
}

#[test]
fn recorded_by_agrees_with_the_recorded_key() {
    let k = key("ins_1", "dmn_a");
    let mut only_instance = obj("c", 1, Some(("ins_1", "dmn_a")));
    only_instance.status.as_mut().unwrap().domain_id = None;
    let cases = [
        (obj("a", 1, Some(("ins_1", "dmn_a"))), true),
        (obj("b", 1, Some(("ins_2", "dmn_a"))), false),
        (obj("b", 1, Some(("ins_1", "dmn_b"))), false),
        (obj("b", 1, None), false),
        (only_instance, false),
    ];
    for (o, want) in cases {
        assert_eq!(k.is_recorded_by(&o), want, "{:?}", o.status);
        assert_eq!(DomainKey::of_status(&o).as_ref() == Some(&k), want);
    }
}
