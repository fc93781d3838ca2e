use super::*;

fn instance(kind: InstanceKind) -> InstanceState {
    InstanceState::empty("ins_2abcdefghijk".into(), kind, "app_1".into())
}

fn hosts(d: &Domain) -> Vec<(String, String)> {
    d.cname_targets
        .iter()
        .flatten()
        .map(|t| {
            assert!(t.required, "{t:?}");
            (t.host.clone(), t.value.clone())
        })
        .collect()
}

#[test]
fn cname_targets_follow_clerks_docs() {
    let prod = instance(InstanceKind::Production);
    let pair = |h: &str, v: &str| (h.to_string(), v.to_string());
    // A primary domain: Frontend API, Account Portal, mail and DKIM.
    let primary = make_domain(&prod, "example.com", false, None);
    assert_eq!(
        hosts(&primary),
        vec![
            pair("clerk.example.com", "frontend-api.clerk.services"),
            pair("accounts.example.com", "accounts.clerk.services"),
            pair("clkmail.example.com", "mail.2abcdefg.clerk.services"),
            pair("clk._domainkey.example.com", "dkim1.2abcdefg.clerk.services"),
            pair("clk2._domainkey.example.com", "dkim2.2abcdefg.clerk.services"),
        ]
    );
    // A proxied primary drops only the Frontend API record.
    let proxied = make_domain(
        &prod,
        "example.com",
        false,
        Some("https://example.com/__clerk".into()),
    );
    assert_eq!(hosts(&proxied).len(), 4);
    assert!(!hosts(&proxied).iter().any(|(h, _)| h == "clerk.example.com"));
    // A satellite: only the Frontend API record; none when proxied.
    let satellite = make_domain(&prod, "satellite.dev", true, None);
    assert_eq!(
        hosts(&satellite),
        vec![pair("clerk.satellite.dev", "frontend-api.clerk.services")]
    );
    let proxied = make_domain(
        &prod,
        "satellite.dev",
        true,
        Some("https://satellite.dev/__clerk".into()),
    );
    assert_eq!(proxied.cname_targets, Some(vec![]));
    // Development instances need no DNS.
    let dev = instance(InstanceKind::Development);
    assert_eq!(
        make_domain(&dev, "localhost:3000", true, None).cname_targets,
        None
    );
    assert_eq!(
        primary.dns_targets, None,
        "typed targets only for a DMARC instance"
    );
}

#[test]
fn dmarc_instances_list_typed_cname_and_txt_targets() {
    let mut prod = instance(InstanceKind::Production);
    prod.dmarc = true;
    let d = make_domain(&prod, "satellite.dev", true, None);
    let typed: Vec<(&str, &str, &str)> = d
        .dns_targets
        .iter()
        .flatten()
        .map(|t| (t.record_type.as_str(), t.host.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(
        typed,
        [
            ("CNAME", "clerk.satellite.dev", "frontend-api.clerk.services"),
            ("TXT", "_dmarc.satellite.dev", DMARC_POLICY),
        ]
    );
    assert_eq!(d.records().len(), 2, "the CNAME is not listed twice");
    let mut dev = instance(InstanceKind::Development);
    dev.dmarc = true;
    assert_eq!(make_domain(&dev, "localhost:3000", true, None).dns_targets, None);
}
