use super::*;
use crate::state::{InstanceState, make_domain};
use clerk_model::InstanceKind;

fn prod() -> InstanceState {
    InstanceState::empty(
        "ins_2abcdefghijk".into(),
        InstanceKind::Production,
        "app_1".into(),
    )
}

#[test]
fn dns_moves_from_not_started_through_in_progress_to_complete() {
    let d = make_domain(&prod(), "shop.example.com", true, None);
    let rule = PlatformRule {
        check_ms: 1_000,
        ..Default::default()
    };
    let before = domain_status(&d, None, None, &rule, 5_000);
    assert_eq!(
        (
            before.dns.status.as_str(),
            before.ssl.status.as_str(),
            before.status.as_str()
        ),
        ("not_started", "not_started", "incomplete")
    );
    assert!(!before.dns.cnames["clerk"].verified);
    let running = domain_status(&d, Some(5_000), None, &rule, 5_500);
    assert_eq!(running.dns.status, "in_progress");
    let done = domain_status(&d, Some(5_000), None, &rule, 6_000);
    assert_eq!(done.dns.status, "complete");
    assert!(done.dns.cnames["clerk"].verified);
    assert_eq!(done.ssl.status, "complete");
    // A satellite sends no mail: not required, so the domain is complete.
    let mail = done.mail.clone().unwrap();
    assert_eq!((mail.status.as_str(), mail.required), ("not_started", false));
    assert_eq!(done.status, "complete");
    assert_eq!(
        done.ssl_hosts.keys().collect::<Vec<_>>(),
        ["clerk.shop.example.com"]
    );
}

#[test]
fn missing_records_and_failed_certificates_have_hints() {
    let d = make_domain(&prod(), "shop.example.com", true, None);
    let missing = PlatformRule {
        records_found: false,
        ..Default::default()
    };
    let s = domain_status(&d, Some(0), None, &missing, 1);
    let clerk = &s.dns.cnames["clerk"];
    assert!(!clerk.verified && clerk.required);
    assert_eq!(clerk.failure_hints.as_ref().unwrap()[0].code, "cname_missing");
    assert_eq!(
        (s.ssl.status.as_str(), s.status.as_str()),
        ("not_started", "incomplete")
    );
    let ssl = PlatformRule {
        ssl_fails: true,
        ..Default::default()
    };
    let s = domain_status(&d, Some(0), None, &ssl, 1);
    assert_eq!(s.ssl.status, "failed");
    assert_eq!(
        s.ssl.failure_hints.as_ref().unwrap()[0].code,
        "ssl_issuance_failed"
    );
    assert_eq!(s.status, "incomplete");
}

#[test]
fn a_primary_needs_mail_and_a_proxied_domain_its_proxy() {
    let primary = make_domain(&prod(), "example.com", false, None);
    let s = domain_status(&primary, Some(0), None, &PlatformRule::default(), 1);
    assert_eq!(
        s.mail.as_ref().map(|m| (m.status.as_str(), m.required)),
        Some(("complete", true))
    );
    assert_eq!(s.status, "complete");
    let proxied = make_domain(
        &prod(),
        "p.example.com",
        true,
        Some("https://p.example.com/__clerk".into()),
    );
    let s = domain_status(&proxied, Some(0), None, &PlatformRule::default(), 1);
    assert_eq!(s.proxy.as_ref().map(|p| p.status.as_str()), Some("not_started"));
    assert_eq!(s.status, "incomplete", "the proxy is required");
    assert!(s.dns.cnames.is_empty() && s.ssl_hosts.is_empty());
}

#[test]
fn checks_are_refused_while_running_or_recent() {
    let rule = PlatformRule {
        check_ms: 2_000,
        cooldown_ms: 10_000,
        ..Default::default()
    };
    assert!(!check_refused(None, &rule, 0));
    assert!(check_refused(Some(0), &rule, 1_000), "running");
    assert!(check_refused(Some(0), &rule, 9_999), "recent");
    assert!(!check_refused(Some(0), &rule, 10_000));
}
