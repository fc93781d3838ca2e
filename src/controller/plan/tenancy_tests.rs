//! The tenancy rules of the plan: adoption is explicit, the primary needs an allowing key
//! source, and an object is pinned only while it owns something.

use super::tests::{adopt, assert_step, create, dom, in_sync, invalid, mem, nobody, prim, spec, update};
use super::*;
use crate::controller::reason::Reason;

/// A satellite that exists in Clerk is never taken by its name, only by the annotation.
#[test]
fn adoption_is_explicit() {
    let a = dom("dmn_a", "a.example.com", true, None);
    let upper = dom("dmn_a", "A.example.com", true, None);
    #[rustfmt::skip]
    let cases: Vec<(&str, ClerkDomainSpec, Memory, Vec<Domain>, Step)> = vec![
        ("present by name, not created here -> taken in Clerk", spec("a.example.com"), mem(None), vec![a.clone()], invalid(Reason::NameTakenInClerk)),
        ("name match ignores case", spec("a.example.com"), mem(None), vec![upper.clone()], invalid(Reason::NameTakenInClerk)),
        ("adoption by annotation fixes the case", spec("a.example.com"), adopt("dmn_a"), vec![upper], update("dmn_a", true, |b| b.name = Some("a.example.com".into()))),
        ("adoption by annotation, same name", spec("a.example.com"), adopt("dmn_a"), vec![a], in_sync("dmn_a", true)),
    ];
    for (name, spec, memory, domains, want) in cases {
        assert_step(name, plan(&spec, &memory, &domains, &nobody), want);
    }
}

#[test]
fn pinned_only_while_owning() {
    let st = |domain: Option<&str>, pending: Option<&str>| ClerkDomainStatus {
        instance_id: Some("ins_1".into()),
        domain_id: domain.map(str::to_string),
        pending_domain: pending.map(str::to_string),
        ..Default::default()
    };
    #[rustfmt::skip]
    let cases = [
        ("owns a domain", st(Some("dmn_a"), None), Some("ins_1")),
        ("a create may have happened", st(None, Some("a.example.com")), Some("ins_1")),
        ("owns nothing: free to move", st(None, None), None),
    ];
    for (name, status, want) in &cases {
        assert_eq!(pinned_instance(Some(status)), *want, "{name}");
    }
    assert_eq!(pinned_instance(None), None);
}

/// The primary is managed only where the key source allows it; satellites are not affected.
#[test]
fn primary_needs_an_allowing_key_source() {
    let primary = dom("dmn_p", "example.com", false, None);
    let mut p = spec("example.com");
    p.is_satellite = false;
    let mut proxied = p.clone();
    proxied.proxy_url = Some("https://evil.example.net/__clerk".into());
    #[rustfmt::skip]
    let cases: Vec<(&str, ClerkDomainSpec, Memory, Step)> = vec![
        ("not allowed -> refused before any lookup", p.clone(), mem(None), invalid(Reason::PrimaryDomainNotAllowed)),
        ("not allowed, even when recorded", proxied.clone(), mem(Some("dmn_p")), invalid(Reason::PrimaryDomainNotAllowed)),
        ("allowed -> adopted by name", p, prim(None), in_sync("dmn_p", true)),
        ("allowed -> proxy patched", proxied, prim(Some("dmn_p")), update("dmn_p", false, |b| b.proxy_url = Some(Some("https://evil.example.net/__clerk".into())))),
        ("satellites need no allowance", spec("a.example.com"), mem(None), create("a.example.com", None, false)),
    ];
    for (name, spec, memory, want) in cases {
        assert_step(
            name,
            plan(&spec, &memory, std::slice::from_ref(&primary), &nobody),
            want,
        );
    }
}
