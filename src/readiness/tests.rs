use super::*;
use crate::api::{ClerkDomainSpec, ClerkDomainStatus, DnsRecord, condition};

fn at() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).unwrap()
}

fn record(host: &str, t: &str, value: &str, required: bool, problem: Option<&str>) -> DnsRecord {
    DnsRecord {
        host: host.into(),
        record_type: t.into(),
        value: value.into(),
        required,
        automation_disposition: None,
        problem: problem.map(str::to_string),
    }
}

/// A registered satellite of generation 2 with a CNAME, a DMARC TXT and an optional record.
fn domain(conditions: &[(&str, bool, &str)]) -> ClerkDomain {
    let mut obj = ClerkDomain::new("shop", ClerkDomainSpec::for_domain("shop.example.com"));
    obj.metadata.namespace = Some("web".into());
    obj.metadata.generation = Some(2);
    obj.status = Some(ClerkDomainStatus {
        dns_records: vec![
            record(
                "clerk.shop.example.com",
                "CNAME",
                "frontend-api.clerk.services",
                true,
                None,
            ),
            record("_dmarc.shop.example.com", "TXT", "v=DMARC1; p=none", true, None),
            record("x.shop.example.com", "HTTPS", "1 . alpn=h2", false, None),
        ],
        conditions: conditions
            .iter()
            .map(|(t, ok, reason)| condition(t, *ok, reason, format!("{reason} says so"), Some(2), at()))
            .collect(),
        ..Default::default()
    });
    obj
}

fn states(r: &DomainReport) -> Vec<(&str, State)> {
    r.checks.iter().map(|c| (c.name, c.state)).collect()
}

#[test]
fn rows_follow_the_conditions_and_unchecked_rows_do_not_count() {
    let r = report(&domain(&[
        ("Ready", true, "Registered"),
        ("DNSVerified", true, "Verified"),
    ]));
    assert_eq!(
        states(&r),
        [
            ("Registered", State::Pass),
            ("DNS", State::Pass),
            ("SSL", State::NotChecked),
            ("Email", State::NotChecked),
            ("Proxy", State::NotChecked),
            ("Frontend API", State::NotChecked),
        ]
    );
    assert!(r.passed);
    // The TXT is not published without publishTXT: not checked, so still listed.
    let hosts: Vec<(&str, bool)> = r
        .missing_records
        .iter()
        .map(|m| (m.host.as_str(), m.required))
        .collect();
    assert_eq!(
        hosts,
        [("_dmarc.shop.example.com", true), ("x.shop.example.com", false)]
    );
    assert!(all_passed(&[r]));
}

#[test]
fn a_failing_check_or_an_unregistered_domain_fails() {
    let r = report(&domain(&[
        ("Ready", true, "Registered"),
        ("ProxyVerified", false, "ProxyFailed"),
    ]));
    assert!(!r.passed);
    assert_eq!(r.checks[4].state, State::Fail);
    assert_eq!(r.checks[4].reason.as_deref(), Some("ProxyFailed"));
    let r = report(&domain(&[("Ready", false, "UpdatePending")]));
    assert!(!r.passed);
    // Ready for an older generation is pending, not passed.
    let mut old = domain(&[("Ready", true, "Registered")]);
    old.metadata.generation = Some(3);
    assert_eq!(report(&old).checks[0].state, State::Pending);
    assert!(!report(&old).passed);
    assert!(!all_passed(&[report(&domain(&[]))]));
    assert!(all_passed(&[]), "nothing to check passes");
}

#[test]
fn platform_conditions_fill_the_ssl_and_email_rows() {
    let r = report(&domain(&[
        ("Ready", true, "Registered"),
        ("ClerkDNSVerified", true, "ClerkCheckComplete"),
        ("SSLIssued", false, "ClerkCheckPending"),
        ("MailVerified", true, "ClerkCheckNotRequired"),
        ("ClerkProxyVerified", false, "ClerkCheckFailed"),
    ]));
    let got: Vec<(&str, State)> = states(&r)[1..5].to_vec();
    assert_eq!(
        got,
        [
            ("DNS", State::Pass),
            ("SSL", State::Pending),
            ("Email", State::Pass),
            ("Proxy", State::Fail),
        ]
    );
    assert!(!r.passed);
}

#[test]
fn records_with_problems_are_missing_and_verified_ones_are_not() {
    let mut obj = domain(&[
        ("Ready", true, "Registered"),
        ("DNSVerified", false, "RecordsMissing"),
    ]);
    obj.spec.dns = Some(crate::api::DnsSpec {
        publish_txt: true,
        ..Default::default()
    });
    let st = obj.status.as_mut().unwrap();
    st.dns_records[0].problem = Some("no CNAME record".into());
    let r = report(&obj);
    let missing: Vec<(&str, Option<&str>)> = r
        .missing_records
        .iter()
        .map(|m| (m.host.as_str(), m.problem.as_deref()))
        .collect();
    assert_eq!(
        missing,
        [
            ("clerk.shop.example.com", Some("no CNAME record")),
            ("x.shop.example.com", None)
        ]
    );
    let text = table(std::slice::from_ref(&r));
    assert!(
        text.starts_with("web/shop  shop.example.com  NOT READY\n"),
        "{text}"
    );
    assert!(
        text.contains("  DNS           FAILED   RecordsMissing: RecordsMissing says so\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "    CNAME clerk.shop.example.com \"frontend-api.clerk.services\" (required): no CNAME record\n"
        ),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"][1]["state"], "fail");
    assert_eq!(json["checks"][2]["state"], "not-checked");
    assert_eq!(json["missingRecords"][0]["recordType"], "CNAME");
}

#[test]
fn zone_fragment_has_the_required_records() {
    let mut long = domain(&[]);
    let txt = "a".repeat(300);
    long.status.as_mut().unwrap().dns_records[1].value = format!("{txt}\"q\"");
    let zone = zone_fragment(&[domain(&[]), long]);
    let lines: Vec<&str> = zone.lines().collect();
    assert_eq!(lines[0], "; shop.example.com (web/shop)");
    assert_eq!(
        lines[1],
        "clerk.shop.example.com. 300 IN CNAME frontend-api.clerk.services."
    );
    assert_eq!(
        lines[2],
        "_dmarc.shop.example.com. 300 IN TXT \"v=DMARC1; p=none\""
    );
    assert_eq!(lines.len(), 6, "the optional record is left out: {zone}");
    let split = format!("\"{}\" \"{}\\\"q\\\"\"", "a".repeat(255), "a".repeat(45));
    assert_eq!(lines[5], format!("_dmarc.shop.example.com. 300 IN TXT {split}"));
}
