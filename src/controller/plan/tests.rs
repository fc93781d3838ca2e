use super::*;
use crate::api::DeletionPolicy;
use crate::controller::reason::Reason;

pub(super) fn spec(domain: &str) -> ClerkDomainSpec {
    ClerkDomainSpec::for_domain(domain)
}

/// Nobody else owns anything.
pub(super) fn nobody(_: &str) -> Option<String> {
    None
}

/// Domains owned by other objects: `domain id -> namespace/name`.
fn owned(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(d, o)| (d.to_string(), o.to_string()))
        .collect();
    move |id| map.get(id).cloned()
}

/// (case, spec, memory, Clerk's domains, domains owned by others, expected decision)
type Case<'a, T> = (
    &'a str,
    ClerkDomainSpec,
    Memory<'a>,
    Vec<Domain>,
    &'a [(&'a str, &'a str)],
    T,
);

pub(super) fn invalid(reason: Reason) -> Step {
    Step::Invalid {
        reason,
        message: String::new(),
    }
}

pub(super) fn dom(id: &str, name: &str, satellite: bool, proxy: Option<&str>) -> Domain {
    Domain {
        object: "domain".into(),
        id: id.into(),
        name: name.into(),
        is_satellite: satellite,
        frontend_api_url: format!("https://clerk.{name}"),
        accounts_portal_url: None,
        proxy_url: proxy.map(str::to_string),
        development_origin: String::new(),
        cname_targets: None,
        dns_targets: None,
    }
}

pub(super) fn mem(id: Option<&str>) -> Memory<'_> {
    Memory {
        domain_id: id,
        ..Default::default()
    }
}

/// A key source that allows the primary domain, with status `domainId` `id`.
pub(super) fn prim(id: Option<&str>) -> Memory<'_> {
    Memory {
        domain_id: id,
        primary_allowed: true,
        ..Default::default()
    }
}

pub(super) fn adopt(id: &str) -> Memory<'_> {
    Memory {
        adopt_id: Some(id),
        ..Default::default()
    }
}

pub(super) fn create(name: &str, proxy: Option<&str>, recreate: bool) -> Step {
    Step::Create {
        body: CreateDomain {
            name: name.into(),
            is_satellite: true,
            proxy_url: proxy.map(str::to_string),
        },
        recreate,
    }
}

pub(super) fn update(id: &str, adopt: bool, f: impl FnOnce(&mut UpdateDomain)) -> Step {
    let mut body = UpdateDomain::default();
    f(&mut body);
    Step::Update {
        id: id.into(),
        body,
        adopt,
    }
}

pub(super) fn in_sync(id: &str, adopt: bool) -> Step {
    Step::InSync { id: id.into(), adopt }
}

#[test]
fn plan_table() {
    let primary = dom("dmn_p", "example.com", false, None);
    let a = dom("dmn_a", "a.example.com", true, None);
    let a_proxied = dom(
        "dmn_a",
        "a.example.com",
        true,
        Some("https://a.example.com/__clerk"),
    );
    let with_proxy = |mut s: ClerkDomainSpec, p: &str| {
        s.proxy_url = Some(p.into());
        s
    };
    let secondary = |mut s: ClerkDomainSpec, v: bool| {
        s.is_secondary = Some(v);
        s
    };
    let primary_spec = |mut s: ClerkDomainSpec| {
        s.is_satellite = false;
        s
    };
    let proxy = "https://a.example.com/__clerk";

    #[rustfmt::skip]
    let cases: Vec<(&str, ClerkDomainSpec, Memory, Vec<Domain>, Step)> = vec![
        ("absent -> create", spec("a.example.com"), mem(None), vec![primary.clone()], create("a.example.com", None, false)),
        ("absent with proxy -> create with proxy", with_proxy(spec("a.example.com"), proxy), mem(None), vec![], create("a.example.com", Some(proxy), false)),
        ("empty proxy counts as none", with_proxy(spec("a.example.com"), ""), mem(None), vec![], create("a.example.com", None, false)),
        ("known id vanished -> recreate", spec("a.example.com"), mem(Some("dmn_gone")), vec![primary.clone()], create("a.example.com", None, true)),
        ("present by id, same -> in sync", spec("a.example.com"), mem(Some("dmn_a")), vec![primary.clone(), a.clone()], in_sync("dmn_a", false)),
        ("renamed in spec -> patch name", spec("b.example.com"), mem(Some("dmn_a")), vec![a.clone()], update("dmn_a", false, |b| b.name = Some("b.example.com".into()))),
        ("proxy added -> patch proxy", with_proxy(spec("a.example.com"), proxy), mem(Some("dmn_a")), vec![a.clone()], update("dmn_a", false, |b| b.proxy_url = Some(Some(proxy.into())))),
        ("proxy dropped -> patch null", spec("a.example.com"), mem(Some("dmn_a")), vec![a_proxied.clone()], update("dmn_a", false, |b| b.proxy_url = Some(None))),
        ("proxy same -> in sync", with_proxy(spec("a.example.com"), proxy), mem(Some("dmn_a")), vec![a_proxied.clone()], in_sync("dmn_a", false)),
        ("is_secondary never applied -> patch", secondary(spec("a.example.com"), true), mem(Some("dmn_a")), vec![a.clone()], update("dmn_a", false, |b| b.is_secondary = Some(true))),
        ("is_secondary applied -> in sync", secondary(spec("a.example.com"), true), Memory { domain_id: Some("dmn_a"), applied_is_secondary: Some(true), ..Default::default() }, vec![a.clone()], in_sync("dmn_a", false)),
        ("is_secondary on adoption always sent", secondary(spec("a.example.com"), false), Memory { adopt_id: Some("dmn_a"), applied_is_secondary: Some(false), ..Default::default() }, vec![a.clone()], update("dmn_a", true, |b| b.is_secondary = Some(false))),
        ("is_secondary unset -> not managed", spec("a.example.com"), Memory { domain_id: Some("dmn_a"), applied_is_secondary: Some(true), ..Default::default() }, vec![a.clone()], in_sync("dmn_a", false)),
        ("rename and proxy in one patch", with_proxy(spec("c.example.com"), proxy), mem(Some("dmn_a")), vec![a.clone()], update("dmn_a", false, |b| { b.name = Some("c.example.com".into()); b.proxy_url = Some(Some(proxy.into())); })),
        ("primary found by name", primary_spec(spec("example.com")), prim(None), vec![primary.clone(), a.clone()], in_sync("dmn_p", true)),
        ("primary proxy change -> patch", with_proxy(primary_spec(spec("example.com")), proxy), prim(Some("dmn_p")), vec![primary.clone()], update("dmn_p", false, |b| b.proxy_url = Some(Some(proxy.into())))),
        ("annotation adopts by id and renames", spec("a.example.com"), adopt("dmn_b"), vec![primary.clone(), dom("dmn_b", "old.example.com", true, None)], update("dmn_b", true, |b| b.name = Some("a.example.com".into()))),
        ("annotation target same name -> adopt in sync", spec("a.example.com"), adopt("dmn_a"), vec![a.clone()], in_sync("dmn_a", true)),
        ("status id wins over annotation", spec("a.example.com"), Memory { domain_id: Some("dmn_a"), adopt_id: Some("dmn_b"), ..Default::default() }, vec![a.clone(), dom("dmn_b", "b.example.com", true, None)], in_sync("dmn_a", false)),
        ("adopted domain vanished -> explained", spec("a.example.com"), Memory { domain_id: Some("dmn_b"), adopt_id: Some("dmn_b"), ..Default::default() }, vec![], invalid(Reason::AdoptionTargetNotFound)),
        ("port on a development key is fine", spec("localhost:3000"), mem(None), vec![], create("localhost:3000", None, false)),
        ("lost create answer, spec renamed since -> adopt own domain and rename", spec("b.example.com"), Memory { pending: Some("a.example.com"), ..Default::default() }, vec![a.clone()], update("dmn_a", false, |b| b.name = Some("b.example.com".into()))),
        ("own lost create kept over an unowned name match", spec("a.example.com"), Memory { pending: Some("z.example.com"), ..Default::default() }, vec![a.clone(), dom("dmn_z", "z.example.com", true, None)], invalid(Reason::NameTakenInClerk)),
        ("own lost create under the spec name is ours, not adopted", spec("a.example.com"), Memory { pending: Some("a.example.com"), ..Default::default() }, vec![a.clone()], in_sync("dmn_a", false)),
        ("primary is never renamed", primary_spec(spec("new.example.com")), prim(Some("dmn_p")), vec![primary.clone()], invalid(Reason::PrimaryNameDiffers)),
        ("id wins over name", spec("a.example.com"), mem(Some("dmn_b")), vec![primary.clone(), dom("dmn_b", "old.example.com", true, None)], update("dmn_b", false, |b| b.name = Some("a.example.com".into()))),
        ("a name held by another domain is never PATCHed into", spec("a.example.com"), mem(Some("dmn_b")), vec![a.clone(), dom("dmn_b", "old.example.com", true, None)], invalid(Reason::NameTakenInClerk)),
    ];
    for (name, spec, memory, domains, want) in cases {
        let got = plan(&spec, &memory, &domains, &nobody);
        if let Step::Update { id, body, .. } = &got {
            patched_is_in_sync(name, &spec, &memory, &domains, id, body);
        }
        assert_step(name, got, want);
    }
}

/// A planned PATCH, applied as Clerk applies it (`Domain::apply`, shared with the fake Clerk),
/// brings the domain to the spec: the next plan is in sync.
fn patched_is_in_sync(
    name: &str,
    spec: &ClerkDomainSpec,
    memory: &Memory,
    domains: &[Domain],
    id: &str,
    body: &UpdateDomain,
) {
    let mut after = domains.to_vec();
    let patched = after
        .iter_mut()
        .find(|d| d.id == id)
        .expect("the plan patches a listed domain");
    patched.apply(body);
    let memory = Memory {
        domain_id: Some(id),
        applied_is_secondary: body.is_secondary.or(memory.applied_is_secondary),
        adopt_id: None,
        pending: None,
        ..memory.clone()
    };
    let next = plan(spec, &memory, &after, &nobody);
    assert!(
        matches!(next, Step::InSync { .. }),
        "{name}: after the PATCH: {next:?}"
    );
}

pub(super) fn assert_step(name: &str, got: Step, want: Step) {
    match (&got, &want) {
        (Step::Invalid { reason: a, .. }, Step::Invalid { reason: b, .. }) => {
            assert_eq!(a, b, "case: {name}")
        }
        _ => assert_eq!(got, want, "case: {name}"),
    }
}

/// Ownership by identity: names find domains only to adopt, and only domains nobody owns;
/// owned domains are reached by ID only.
#[test]
fn ownership_table() {
    let a = dom("dmn_a", "a.example.com", true, None);
    let b = dom("dmn_b", "b.example.com", true, None);
    let primary = dom("dmn_p", "example.com", false, None);
    let theirs = &[("dmn_a", "other/owner")];
    #[rustfmt::skip]
    let cases: Vec<Case<'_, Step>> = vec![
        ("adopting an owned domain by name is refused", spec("a.example.com"), mem(None), vec![a.clone()], theirs, invalid(Reason::AlreadyOwned)),
        ("adopting an owned domain by annotation is refused", spec("x.example.com"), adopt("dmn_a"), vec![a.clone()], theirs, invalid(Reason::AlreadyOwned)),
        ("an unowned domain is not adopted by name", spec("a.example.com"), mem(None), vec![a.clone()], &[], invalid(Reason::NameTakenInClerk)),
        ("an unowned domain is adopted by annotation", spec("a.example.com"), adopt("dmn_a"), vec![a.clone()], &[], in_sync("dmn_a", true)),
        ("a vanished domain's name, created elsewhere -> refused, not adopted", spec("a.example.com"), mem(Some("dmn_gone")), vec![a.clone()], &[], invalid(Reason::NameTakenInClerk)),
        ("renaming into an owned name is refused", spec("a.example.com"), mem(Some("dmn_b")), vec![a.clone(), b.clone()], theirs, invalid(Reason::NameTaken)),
        ("renaming into an unowned existing name is refused", spec("a.example.com"), mem(Some("dmn_b")), vec![a.clone(), b.clone()], &[], invalid(Reason::NameTakenInClerk)),
        ("swap: each side is told the name is taken", spec("b.example.com"), mem(Some("dmn_a")), vec![a.clone(), b.clone()], &[("dmn_b", "ns/b")], invalid(Reason::NameTaken)),
        ("my own domain by ID, whoever else names it", spec("a.example.com"), mem(Some("dmn_a")), vec![a.clone()], &[], in_sync("dmn_a", false)),
        ("vanished owned domain, name now owned by another -> refused, not created", spec("a.example.com"), mem(Some("dmn_gone")), vec![a.clone()], theirs, invalid(Reason::NameTaken)),
        ("lost create matched only when nobody owns it", spec("a.example.com"), Memory { pending: Some("a.example.com"), ..Default::default() }, vec![a.clone()], theirs, invalid(Reason::AlreadyOwned)),
        ("the primary, owned elsewhere, is not adopted", { let mut s = spec("example.com"); s.is_satellite = false; s }, prim(None), vec![primary.clone()], &[("dmn_p", "ns/p")], invalid(Reason::AlreadyOwned)),
        ("renaming into a free name is a PATCH", spec("c.example.com"), mem(Some("dmn_a")), vec![a.clone(), b.clone()], &[("dmn_b", "ns/b")], update("dmn_a", false, |u| u.name = Some("c.example.com".into()))),
    ];
    for (name, spec, memory, domains, others, want) in cases {
        let got = plan(&spec, &memory, &domains, &owned(others));
        assert_step(name, got, want);
    }
}

#[test]
fn refusals_name_the_owner_and_explain_swaps() {
    let a = dom("dmn_a", "a.example.com", true, None);
    let b = dom("dmn_b", "b.example.com", true, None);
    match plan(
        &spec("a.example.com"),
        &mem(None),
        std::slice::from_ref(&a),
        &owned(&[("dmn_a", "team-x/site")]),
    ) {
        Step::Invalid { message, .. } => assert!(
            message.contains("team-x/site") && message.contains("dmn_a"),
            "{message}"
        ),
        other => panic!("unexpected {other:?}"),
    }
    match plan(
        &spec("b.example.com"),
        &mem(Some("dmn_a")),
        &[a, b],
        &owned(&[("dmn_b", "ns/b")]),
    ) {
        Step::Invalid { message, .. } => assert!(
            message.contains("ns/b") && message.contains("temporary name"),
            "{message}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn production_keys_refuse_ports_and_missing_adoption_targets_are_explained() {
    let prod = Memory {
        production: true,
        ..Default::default()
    };
    match plan(&spec("a.example.com:8443"), &prod, &[] as &[Domain], &nobody) {
        Step::Invalid { reason, message } => {
            assert_eq!(reason, Reason::PortNotAllowed);
            assert!(message.contains("development"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    match plan(
        &spec("a.example.com"),
        &adopt("dmn_zzz"),
        &[dom("dmn_a", "a.example.com", true, None)],
        &nobody,
    ) {
        Step::Invalid { reason, message } => {
            assert_eq!(reason, Reason::AdoptionTargetNotFound);
            assert!(message.contains("dmn_zzz"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn invalid_plans_explain_themselves() {
    let mut s = spec("missing.example.com");
    s.is_satellite = false;
    match plan(
        &s,
        &prim(None),
        &[dom("dmn_p", "example.com", false, None)],
        &nobody,
    ) {
        Step::Invalid { reason, message } => {
            assert_eq!(reason, Reason::PrimaryDomainNotFound);
            assert!(message.contains("missing.example.com"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // A satellite spec matching the primary by name must not take it over.
    match plan(
        &spec("example.com"),
        &mem(None),
        &[dom("dmn_p", "example.com", false, None)],
        &nobody,
    ) {
        Step::Invalid { reason, .. } => assert_eq!(reason, Reason::SatelliteMismatch),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn cleanup_table() {
    let a = dom("dmn_a", "a.example.com", true, None);
    let primary = dom("dmn_p", "example.com", false, None);
    let orphan = |mut s: ClerkDomainSpec| {
        s.deletion_policy = DeletionPolicy::Orphan;
        s
    };
    let primary_spec = |mut s: ClerkDomainSpec| {
        s.is_satellite = false;
        s
    };
    let pending = |p| Memory {
        pending: Some(p),
        ..Default::default()
    };
    let theirs: &[(&str, &str)] = &[("dmn_a", "other/owner")];
    #[rustfmt::skip]
    let cases: Vec<Case<'_, Cleanup>> = vec![
        ("delete by id", spec("a.example.com"), mem(Some("dmn_a")), vec![a.clone()], &[], Cleanup::Delete { id: "dmn_a".into() }),
        ("owns nothing: deletes nothing, even if the name exists", spec("a.example.com"), mem(None), vec![a.clone()], &[], Cleanup::Release(Release::NothingOwned)),
        ("renamed outside: delete by id", spec("b.example.com"), mem(Some("dmn_a")), vec![a.clone()], &[], Cleanup::Delete { id: "dmn_a".into() }),
        ("owned id is deleted without a list (404 means gone)", spec("a.example.com"), mem(Some("dmn_a")), vec![], &[], Cleanup::Delete { id: "dmn_a".into() }),
        ("lost create answer under an old name is deleted", spec("b.example.com"), pending("a.example.com"), vec![a.clone()], &[], Cleanup::Delete { id: "dmn_a".into() }),
        ("lost create that another object owns is not deleted", spec("a.example.com"), pending("a.example.com"), vec![a.clone()], theirs, Cleanup::Release(Release::NothingOwned)),
        ("lost create never made: nothing to delete", spec("a.example.com"), pending("a.example.com"), vec![primary.clone()], &[], Cleanup::Release(Release::NothingOwned)),
        ("orphan policy", orphan(spec("a.example.com")), mem(Some("dmn_a")), vec![a.clone()], &[], Cleanup::Release(Release::Orphaned)),
        ("primary spec kept", primary_spec(spec("example.com")), mem(Some("dmn_p")), vec![primary.clone()], &[], Cleanup::Release(Release::PrimaryKept)),
        ("adopted: kept", spec("a.example.com"), Memory { adopted: true, ..mem(Some("dmn_a")) }, vec![a.clone()], &[], Cleanup::Release(Release::AdoptedKept)),
        ("adopted with orphan policy: orphaned", orphan(spec("a.example.com")), Memory { adopted: true, ..mem(Some("dmn_a")) }, vec![a.clone()], &[], Cleanup::Release(Release::Orphaned)),
        ("a pending name matching the primary is kept", spec("example.com"), pending("example.com"), vec![primary.clone()], &[], Cleanup::Release(Release::PrimaryKept)),
    ];
    for (name, spec, memory, domains, others, want) in cases {
        assert_eq!(
            plan_cleanup(&spec, &memory, &domains, &owned(others)),
            want,
            "case: {name}"
        );
    }
    assert_eq!(
        cleanup_without_list(&spec("a.example.com"), &pending("a.example.com")),
        None
    );
    assert_eq!(
        cleanup_without_list(&spec("a.example.com"), &mem(None)),
        Some(Cleanup::Release(Release::NothingOwned))
    );
}
