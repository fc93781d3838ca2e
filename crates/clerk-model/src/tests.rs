use super::*;
use serde_json::json;

#[test]
fn domain_tolerates_nulls_missing_and_extra_fields() {
    let d: Domain = serde_json::from_value(json!({
        "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
        "cname_targets": null, "accounts_portal_url": null,
        "dns_targets": [{"x": 1}], "frontend_api_url": "https://clerk.a.example.com"
    }))
    .unwrap();
    assert_eq!(d.cname_targets, None);
    assert_eq!(
        d.dns_targets,
        Some(vec![]),
        "an entry without host and value is skipped"
    );
    assert_eq!(d.development_origin, "");
    assert_eq!(d.object, "domain");
}

#[test]
fn dns_targets_keep_unknown_values_and_merge_with_cname_targets() {
    let d: Domain = serde_json::from_value(json!({
        "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
        "cname_targets": [
            {"host": "clerk.a.example.com", "value": "frontend-api.clerk.services", "required": true},
            {"host": "clkmail.a.example.com", "value": "mail.x.clerk.services", "required": true}
        ],
        "dns_targets": [
            {"host": "clerk.a.example.com", "value": "frontend-api.clerk.services",
             "required": true, "record_type": "CNAME", "automation_disposition": "automatic"},
            {"host": "_dmarc.a.example.com", "value": "v=DMARC1; p=none", "required": true,
             "record_type": "TXT"},
            {"host": "x.a.example.com", "value": "1 2 3", "required": false,
             "record_type": "HTTPS", "automation_disposition": "someday", "extra": 1},
            {"host": 5, "value": "not a string host"}
        ]
    }))
    .unwrap();
    let records = d.records();
    let view: Vec<(&str, &str, bool, Option<&str>)> = records
        .iter()
        .map(|t| {
            (
                t.host.as_str(),
                t.record_type.as_str(),
                t.required,
                t.automation_disposition.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("clerk.a.example.com", "CNAME", true, Some("automatic")),
            ("_dmarc.a.example.com", "TXT", true, None),
            ("x.a.example.com", "HTTPS", false, Some("someday")),
            ("clkmail.a.example.com", "CNAME", true, None),
        ]
    );
    assert!(records[1].is_type("txt"));
    let round: Domain = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
    assert_eq!(round, d);
    for odd in [json!(null), json!("x"), json!({"a": 1})] {
        let d: Domain = serde_json::from_value(json!({
            "id": "dmn_1", "name": "a.example.com", "is_satellite": true, "dns_targets": odd
        }))
        .unwrap();
        assert_eq!(d.dns_targets, None);
    }
}

#[test]
fn apply_changes_what_clerk_reports() {
    let mut d: Domain = serde_json::from_value(json!({
        "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
        "proxy_url": "https://a.example.com/__clerk"
    }))
    .unwrap();
    d.apply(&UpdateDomain {
        name: Some("b.example.com".into()),
        is_secondary: Some(true),
        ..Default::default()
    });
    assert_eq!(
        (d.name.as_str(), d.proxy_url.as_deref()),
        ("b.example.com", Some("https://a.example.com/__clerk"))
    );
    d.apply(&UpdateDomain {
        proxy_url: Some(Some(String::new())),
        ..Default::default()
    });
    assert_eq!(d.proxy_url, None);
    d.apply(&UpdateDomain {
        proxy_url: Some(Some("https://b.example.com/__clerk".into())),
        ..Default::default()
    });
    assert_eq!(d.proxy_url.as_deref(), Some("https://b.example.com/__clerk"));
    d.apply(&UpdateDomain {
        proxy_url: Some(None),
        ..Default::default()
    });
    assert_eq!(d.proxy_url, None);
    assert!(UpdateDomain::default().is_empty());
    assert!(
        !UpdateDomain {
            is_secondary: Some(false),
            ..Default::default()
        }
        .is_empty()
    );
}

#[test]
fn update_sends_null_proxy_only_when_asked() {
    let clear = UpdateDomain {
        proxy_url: Some(None),
        ..Default::default()
    };
    assert_eq!(serde_json::to_value(&clear).unwrap(), json!({"proxy_url": null}));
    let rename = UpdateDomain {
        name: Some("b.example.com".into()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&rename).unwrap(),
        json!({"name": "b.example.com"})
    );
    let parsed: UpdateDomain = serde_json::from_value(json!({"proxy_url": null})).unwrap();
    assert_eq!(parsed.proxy_url, Some(None));
    let parsed: UpdateDomain = serde_json::from_value(json!({})).unwrap();
    assert_eq!(parsed.proxy_url, None);
}

#[test]
fn fields_are_the_keys_of_the_body() {
    assert!(UpdateDomain::default().fields().is_empty());
    let clear = UpdateDomain {
        proxy_url: Some(None),
        is_secondary: Some(false),
        ..Default::default()
    };
    assert_eq!(clear.fields(), ["is_secondary", "proxy_url"]);
    let rename = UpdateDomain {
        name: Some("b.example.com".into()),
        ..Default::default()
    };
    assert_eq!(rename.fields(), ["name"]);
}

#[test]
fn field_list_names_every_field() {
    // Every field, without `..Default::default()`: a new field fails to compile here.
    let all = UpdateDomain {
        name: Some("b.example.com".into()),
        proxy_url: Some(Some("https://b.example.com/__clerk".into())),
        is_secondary: Some(true),
    };
    let mut fields = all.fields();
    fields.sort();
    let mut want = UpdateDomain::FIELDS.to_vec();
    want.sort();
    assert_eq!(fields, want);
    let parsed: UpdateDomain = serde_json::from_value(serde_json::to_value(&all).unwrap()).unwrap();
    assert_eq!(parsed, all);
}

#[test]
fn proxy_check_decodes_leniently() {
    let c: ProxyCheck = serde_json::from_value(json!({
        "object": "proxy_check", "id": "prxc_1", "domain_id": "dmn_1",
        "last_run_at": null, "proxy_url": "https://a.example.com/__clerk",
        "successful": true, "created_at": 1, "updated_at": 2, "extra": "x"
    }))
    .unwrap();
    assert!(c.successful);
    assert_eq!(c.last_run_at, None);
    let c: ProxyCheck = serde_json::from_value(json!({"id": "prxc_2"})).unwrap();
    assert_eq!(c.object, "proxy_check");
    assert!(!c.successful);
}
