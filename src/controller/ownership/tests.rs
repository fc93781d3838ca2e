use super::*;
use crate::api::{ClerkDomainSpec, ClerkDomainStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

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

#[test]
fn ownership_table() {
    let idx = Ownership::default();
    let a = obj("a", 10, Some(("ins_1", "dmn_a")));
    let b = obj("b", 20, None);
    idx.observe(&watcher::Event::Apply(a.clone()));
    idx.observe(&watcher::Event::Apply(b.clone()));
    // (case, result)
    let cases: Vec<(&str, Result<(), String>)> = vec![
        (
            "a owns what its status records",
            idx.owns(&a, &key("ins_1", "dmn_a"))
                .map_err(|o| o.object.to_string()),
        ),
        (
            "b may not claim a's domain",
            idx.claim(&b, &key("ins_1", "dmn_a"))
                .map_err(|o| o.object.to_string()),
        ),
        (
            "same domain ID on another instance is free",
            idx.claim(&b, &key("ins_2", "dmn_a"))
                .map_err(|o| o.object.to_string()),
        ),
        (
            "a may not claim b's claim",
            idx.claim(&a, &key("ins_2", "dmn_a"))
                .map_err(|o| o.object.to_string()),
        ),
    ];
    let want: Vec<Result<(), String>> = vec![Ok(()), Err("ns/a".into()), Ok(()), Err("ns/b".into())];
    for ((case, got), want) in cases.into_iter().zip(want) {
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn the_oldest_of_two_recorders_owns() {
    let idx = Ownership::default();
    let young = obj("young", 20, Some(("ins_1", "dmn_x")));
    let old = obj("old", 10, Some(("ins_1", "dmn_x")));
    idx.observe(&watcher::Event::Apply(young.clone()));
    idx.observe(&watcher::Event::Apply(old.clone()));
    assert_eq!(
        &*idx.owns(&young, &key("ins_1", "dmn_x")).unwrap_err().object,
        "ns/old"
    );
    assert!(idx.owns(&old, &key("ins_1", "dmn_x")).is_ok());
}

#[test]
fn a_claim_lasts_until_status_records_it_and_deletion_frees_it() {
    let idx = Ownership::default();
    let a = obj("a", 10, None);
    let b = obj("b", 20, None);
    idx.claim(&a, &key("ins_1", "dmn_new")).unwrap();
    // An older status of `a` (without the ID) does not drop the claim.
    idx.observe(&watcher::Event::Apply(a.clone()));
    assert!(idx.claim(&b, &key("ins_1", "dmn_new")).is_err());
    let recorded = obj("a", 10, Some(("ins_1", "dmn_new")));
    idx.observe(&watcher::Event::Apply(recorded.clone()));
    assert_eq!(idx.len(), 1);
    let gone = idx.observe(&watcher::Event::Delete(recorded)).gone;
    assert_eq!(gone.len(), 1);
    assert!(idx.is_empty() && !idx.knows("uid-a"));
    idx.claim(&b, &key("ins_1", "dmn_new")).unwrap();
}

#[test]
fn a_relist_drops_objects_that_went_unseen() {
    let idx = Ownership::default();
    idx.observe(&watcher::Event::Apply(obj("a", 1, Some(("i", "d1")))));
    idx.observe(&watcher::Event::Apply(obj("b", 2, Some(("i", "d2")))));
    idx.observe(&watcher::Event::Init);
    idx.observe(&watcher::Event::InitApply(obj("b", 2, Some(("i", "d2")))));
    let gone = idx.observe(&watcher::Event::InitDone).gone;
    assert_eq!(gone.iter().map(|o| &*o.object).collect::<Vec<_>>(), ["ns/a"]);
    assert!(idx.owner(&key("i", "d1")).is_none());
    assert_eq!(&*idx.owner(&key("i", "d2")).unwrap().object, "ns/b");
}

#[test]
fn refused_objects_wake_when_their_owner_changes_or_goes() {
    let idx = Ownership::default();
    let owner = obj("a", 1, Some(("i", "d")));
    let refused = obj("b", 2, None);
    idx.observe(&watcher::Event::Apply(owner.clone()));
    idx.wait_for("ns/a", &refused);
    assert!(
        idx.observe(&watcher::Event::Apply(refused.clone()))
            .wake
            .is_empty()
    );
    let woken = idx.observe(&watcher::Event::Delete(owner.clone())).wake;
    assert_eq!(woken, [("ns".to_string(), "b".to_string())]);
    // Woken once; a gone waiter is forgotten.
    idx.wait_for("ns/a", &refused);
    idx.observe(&watcher::Event::Delete(refused));
    assert!(idx.observe(&watcher::Event::Apply(owner)).wake.is_empty());
}

#[test]
fn an_instance_id_is_held_once_and_owners_share_their_strings() {
    let idx = Ownership::default();
    for n in 0..3 {
        let o = obj(&format!("o{n}"), n, Some(("ins_1", &format!("dmn_{n}"))));
        idx.observe(&watcher::Event::Apply(o));
    }
    idx.claim(&obj("o9", 9, None), &key("ins_1", "dmn_9")).unwrap();
    let inner = idx.0.lock().unwrap();
    let ids: Vec<&Arc<str>> = inner.domains.keys().map(|k| &k.instance_id).collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.iter().all(|id| Arc::ptr_eq(id, ids[0])), "one copy of ins_1");
    for (uid, e) in &inner.objects {
        let key = e.keys().next().unwrap();
        let (held, owners) = inner.domains.get_key_value(key).unwrap();
        assert_eq!(owners.as_slice(), std::slice::from_ref(uid));
        let ([Uid::Other(held_uid)], Uid::Other(uid)) = (owners.as_slice(), uid) else {
            panic!("{uid}: the test's uids are not UUIDs");
        };
        assert!(Arc::ptr_eq(held_uid, uid), "{uid}: one copy of the owner");
        assert!(
            Arc::ptr_eq(&held.domain_id, &key.domain_id),
            "{uid}: one copy of the domain ID"
        );
    }
}

#[test]
fn objects_with_uuid_uids_are_indexed_in_place() {
    let with_uuid = |name: &str, created: i64, uuid: &str, status| {
        let mut o = obj(name, created, status);
        o.metadata.uid = Some(uuid.into());
        o
    };
    let (ua, ub) = (
        "6f1c1d3a-1b2c-4d5e-8f90-0a1b2c3d4e5f",
        "6f1c1d3a-1b2c-4d5e-8f90-0a1b2c3d4e60",
    );
    let a = with_uuid("a", 10, ua, Some(("ins_1", "dmn_a")));
    let b = with_uuid("b", 20, ub, None);
    let idx = Ownership::default();
    idx.observe(&watcher::Event::Apply(a.clone()));
    assert!(idx.knows(ua));
    assert!(matches!(
        idx.owner(&key("ins_1", "dmn_a")).unwrap().uid,
        Uid::Uuid(_)
    ));
    assert_eq!(
        &*idx.claim(&b, &key("ins_1", "dmn_a")).unwrap_err().object,
        "ns/a"
    );
    assert!(idx.owns(&a, &key("ins_1", "dmn_a")).is_ok());
    let gone = idx.observe(&watcher::Event::Delete(a)).gone;
    assert_eq!(gone.iter().map(|o| o.uid.to_string()).collect::<Vec<_>>(), [ua]);
    assert!(!idx.knows(ua));
    idx.claim(&b, &key("ins_1", "dmn_a")).unwrap();
}

#[test]
fn an_entry_is_small() {
    // Held per object for the life of the process (was 120 bytes, and 16 more for its key).
    assert!(size_of::<Entry>() <= 80, "{}", size_of::<Entry>());
    assert!(size_of::<Owners>() <= 32, "{}", size_of::<Owners>());
}

#[test]
fn an_instance_id_is_let_go_with_its_last_object() {
    let idx = Ownership::default();
    let a = obj("a", 1, Some(("ins_1", "d1")));
    let b = obj("b", 2, Some(("ins_2", "d2")));
    idx.observe(&watcher::Event::Apply(a.clone()));
    idx.observe(&watcher::Event::Apply(b.clone()));
    idx.observe(&watcher::Event::Delete(a));
    let ids = |idx: &Ownership| {
        let inner = idx.0.lock().unwrap();
        let mut ids: Vec<String> = inner.instance_ids.iter().map(|i| i.to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&idx), ["ins_2"]);
    idx.observe(&watcher::Event::Init);
    idx.observe(&watcher::Event::InitDone);
    assert!(ids(&idx).is_empty(), "a relist without b lets go of ins_2");
}

#[test]
fn concurrent_claims_have_one_winner() {
    let idx = std::sync::Arc::new(Ownership::default());
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let idx = idx.clone();
                s.spawn(move || idx.claim(&obj(&format!("o{n}"), n, None), &key("i", "d")).is_ok())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap() as usize).sum()
    });
    assert_eq!(wins, 1);
}
