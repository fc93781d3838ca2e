use super::*;
use serde_json::json;

const OWNER: Owner<'static> = Owner {
    name: "marketing",
    namespace: "web",
    uid: "0b9c1a8e-1111-2222-3333-444455556666",
};

fn cname(host: &str, value: &str) -> Endpoint {
    Endpoint {
        dns_name: host.into(),
        targets: vec![value.into()],
        record_type: "CNAME".into(),
        ..Default::default()
    }
}

#[test]
fn desired_endpoint_table() {
    struct Case {
        name: &'static str,
        targets: Vec<(&'static str, &'static str, bool)>,
        ttl: Option<i64>,
        want: Vec<Endpoint>,
    }
    let cases = vec![
        Case {
            name: "no targets",
            targets: vec![],
            ttl: None,
            want: vec![],
        },
        Case {
            name: "only required targets, sorted",
            targets: vec![
                ("clerk.a.example.com", "frontend-api.clerk.services", true),
                ("clkmail.a.example.com", "mail.x.clerk.services", true),
                ("optional.a.example.com", "x.clerk.services", false),
                ("clk._domainkey.a.example.com", "dkim1.x.clerk.services", true),
            ],
            ttl: None,
            want: vec![
                cname("clerk.a.example.com", "frontend-api.clerk.services"),
                cname("clk._domainkey.a.example.com", "dkim1.x.clerk.services"),
                cname("clkmail.a.example.com", "mail.x.clerk.services"),
            ],
        },
        Case {
            name: "ttl, trailing dots, case, duplicate host",
            targets: vec![
                ("Clerk.A.example.com.", "Frontend-API.clerk.services.", true),
                ("clerk.a.example.com", "other.clerk.services", true),
            ],
            ttl: Some(300),
            want: vec![Endpoint {
                record_ttl: Some(300),
                ..cname("clerk.a.example.com", "frontend-api.clerk.services")
            }],
        },
        Case {
            name: "all optional",
            targets: vec![("clerk.a.example.com", "frontend-api.clerk.services", false)],
            ttl: Some(60),
            want: vec![],
        },
    ];
    for c in cases {
        let got = desired_endpoint(&OWNER, &c.targets, &["CNAME"], c.ttl, &[]);
        assert_eq!(got.spec.endpoints, c.want, "{}", c.name);
        assert_eq!(got.metadata.name.as_deref(), Some("marketing"), "{}", c.name);
        assert_eq!(got.metadata.namespace.as_deref(), Some("web"), "{}", c.name);
    }
}

#[test]
fn desired_endpoint_metadata_and_wire_format() {
    let targets = vec![crate::clerk::CnameTarget {
        host: "clerk.a.example.com".into(),
        value: "frontend-api.clerk.services".into(),
        required: true,
    }];
    let e = desired_endpoint(&OWNER, &targets, &["CNAME"], Some(120), &[]);
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "externaldns.k8s.io/v1alpha1",
            "kind": "DNSEndpoint",
            "metadata": {
                "name": "marketing",
                "namespace": "web",
                "labels": {"app.kubernetes.io/managed-by": "clerk-operator"},
                "ownerReferences": [{
                    "apiVersion": "clerk-operator.io/v1alpha1",
                    "kind": "ClerkDomain",
                    "name": "marketing",
                    "uid": "0b9c1a8e-1111-2222-3333-444455556666",
                    "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {"endpoints": [{
                "dnsName": "clerk.a.example.com",
                "targets": ["frontend-api.clerk.services"],
                "recordType": "CNAME",
                "recordTTL": 120
            }]}
        })
    );
    // What external-dns or a user may write decodes too.
    let back: DNSEndpoint = serde_json::from_value(json!({
        "apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
        "metadata": {"name": "x"},
        "spec": {"endpoints": [{"dnsName": "a.example.com", "recordType": "A",
            "targets": ["192.0.2.1"], "labels": {"owner": "y"},
            "providerSpecific": [{"name": "p", "value": "v"}], "setIdentifier": "s"}]},
        "status": {"observedGeneration": 3}
    }))
    .unwrap();
    assert_eq!(back.status.unwrap().observed_generation, Some(3));
    assert_eq!(
        back.spec.endpoints[0].provider_specific.as_ref().unwrap()[0].name,
        "p"
    );
}

#[test]
fn provider_specific_goes_on_every_endpoint() {
    let targets = [
        ("clerk.a.example.com", "frontend-api.clerk.services", true),
        ("clkmail.a.example.com", "mail.x.clerk.services", true),
    ];
    let props = [
        crate::api::ProviderSpecific {
            name: "cloudflare/proxied".into(),
            value: "false".into(),
        },
        crate::api::ProviderSpecific {
            name: "aws/evaluate-target-health".into(),
            value: "true".into(),
        },
    ];
    let e = desired_endpoint(&OWNER, &targets, &["CNAME"], None, &props);
    let v = serde_json::to_value(&e.spec.endpoints).unwrap();
    let want = json!([
        {"name": "cloudflare/proxied", "value": "false"},
        {"name": "aws/evaluate-target-health", "value": "true"}
    ]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    for ep in v.as_array().unwrap() {
        assert_eq!(ep["providerSpecific"], want, "{ep}");
    }
    // Changing a property is a change external-dns must see; dropping all of them too.
    let mut other = props.clone();
    other[0].value = "true".into();
    assert_ne!(
        e.spec,
        desired_endpoint(&OWNER, &targets, &["CNAME"], None, &other).spec
    );
    assert_ne!(
        e.spec,
        desired_endpoint(&OWNER, &targets, &["CNAME"], None, &[]).spec
    );
    assert_eq!(
        e.spec,
        desired_endpoint(&OWNER, &targets, &["CNAME"], None, &props).spec
    );
}

#[test]
fn owner_of_a_clerk_domain() {
    let mut d = crate::api::ClerkDomain::new(
        "marketing",
        serde_json::from_value(json!({
            "domain": "a.example.com",
            "secretRef": {"name": "clerk", "key": "secret-key"}
        }))
        .unwrap(),
    );
    assert_eq!(Owner::of(&d), None);
    d.metadata.namespace = Some("web".into());
    d.metadata.uid = Some(OWNER.uid.into());
    assert_eq!(Owner::of(&d), Some(OWNER));
}

/// Only a controlling ownerReference with the object's UID makes it ours to overwrite or delete.
#[test]
fn controlled_by_needs_the_uid_as_controller() {
    let with = |refs: Vec<OwnerReference>| ObjectMeta {
        owner_references: Some(refs),
        ..Default::default()
    };
    let ours = OWNER.owner_reference();
    assert!(controlled_by(&with(vec![ours.clone()]), OWNER.uid));
    assert!(!controlled_by(&with(vec![ours.clone()]), "another-uid"));
    let not_controller = OwnerReference {
        controller: None,
        ..ours.clone()
    };
    assert!(!controlled_by(&with(vec![not_controller]), OWNER.uid));
    assert!(!controlled_by(&ObjectMeta::default(), OWNER.uid));
}

/// TXT records are published only when asked, quoted, all texts of a host in one endpoint;
/// types the operator does not know never are.
#[test]
fn txt_records_only_when_asked() {
    let typed = |host: &str, value: &str, required: bool, t: &str| crate::clerk::DnsTarget {
        host: host.into(),
        value: value.into(),
        required,
        record_type: t.into(),
        automation_disposition: None,
    };
    let targets = [
        typed(
            "clerk.a.example.com",
            "frontend-api.clerk.services",
            true,
            "CNAME",
        ),
        typed("_dmarc.a.example.com", "v=DMARC1; p=none", true, "txt"),
        typed("_dmarc.a.example.com", "v=DMARC1; p=none", true, "TXT"),
        typed("x.a.example.com", "say \"hi\"", true, "TXT"),
        typed("x.a.example.com", "optional", false, "TXT"),
        typed("h.a.example.com", "1 . alpn=h2", true, "HTTPS"),
    ];
    let cnames = desired_endpoint(&OWNER, &targets, &["CNAME"], None, &[]);
    assert_eq!(
        cnames.spec.endpoints,
        [cname("clerk.a.example.com", "frontend-api.clerk.services")]
    );
    let both = desired_endpoint(&OWNER, &targets, &["CNAME", "TXT"], Some(60), &[]);
    let txt = |host: &str, targets: &[&str]| Endpoint {
        dns_name: host.into(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        record_type: "TXT".into(),
        record_ttl: Some(60),
        ..Default::default()
    };
    assert_eq!(
        both.spec.endpoints,
        [
            txt("_dmarc.a.example.com", &["\"v=DMARC1; p=none\""]),
            Endpoint {
                record_ttl: Some(60),
                ..cname("clerk.a.example.com", "frontend-api.clerk.services")
            },
            txt("x.a.example.com", &[r#""say \"hi\"""#]),
        ]
    );
}
