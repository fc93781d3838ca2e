use super::*;
use crate::dns::endpoint::controlled_by;

fn domain(name: &str, satellite: bool, fapi: &str, proxy: Option<&str>, portal: Option<&str>) -> Domain {
    Domain {
        object: "domain".into(),
        id: format!("dmn_{name}"),
        name: name.into(),
        is_satellite: satellite,
        frontend_api_url: fapi.into(),
        accounts_portal_url: portal.map(str::to_string),
        proxy_url: proxy.map(str::to_string),
        development_origin: String::new(),
        cname_targets: None,
        dns_targets: None,
    }
}

#[test]
fn base64_matches_btoa() {
    // RFC 4648 test vectors.
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
    }
}

#[test]
fn publishable_keys_match_clerks_sdk() {
    // Expected values from the tests of `buildPublishableKey` in @clerk/shared
    // (packages/shared/src/__tests__/keys.spec.ts) and the publishable keys in Clerk's docs.
    let cases = [
        (
            "foo-bar-13.clerk.accounts.dev",
            false,
            "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk",
        ),
        (
            "clerk.boring.sawfly-91.lcl.dev",
            false,
            "pk_test_Y2xlcmsuYm9yaW5nLnNhd2ZseS05MS5sY2wuZGV2JA==",
        ),
        (
            "clerk.boring.sawfly-91.lclclerk.com",
            false,
            "pk_test_Y2xlcmsuYm9yaW5nLnNhd2ZseS05MS5sY2xjbGVyay5jb20k",
        ),
        (
            "fake-clerk-test.clerk.accounts.dev",
            true,
            "pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=",
        ),
        ("clerk.clerk.dev", false, "pk_test_Y2xlcmsuY2xlcmsuZGV2JA=="),
    ];
    for (host, production, want) in cases {
        assert_eq!(publishable_key(host, production), want, "{host}");
    }
}

#[test]
fn frontend_api_host_of_the_primary() {
    let prod = domain("example.com", false, "https://clerk.example.com", None, None);
    assert_eq!(
        frontend_api_host(&prod, true).as_deref(),
        Some("clerk.example.com")
    );
    let dev = domain(
        "localhost:3000",
        false,
        "https://foo-bar-13.clerk.accounts.dev/",
        None,
        None,
    );
    assert_eq!(
        frontend_api_host(&dev, false).as_deref(),
        Some("foo-bar-13.clerk.accounts.dev")
    );
    // A proxied production primary: the key still names clerk.<domain>.
    let proxied = domain(
        "example.com",
        false,
        "https://example.com/__clerk",
        Some("https://example.com/__clerk"),
        None,
    );
    assert_eq!(
        frontend_api_host(&proxied, true).as_deref(),
        Some("clerk.example.com")
    );
    assert_eq!(
        frontend_api_host(&domain("x.com", false, "", None, None), true),
        None
    );
}

#[test]
fn satellite_data_with_prefix() {
    let primary = domain(
        "example.com",
        false,
        "https://clerk.example.com",
        None,
        Some("https://accounts.example.com"),
    );
    let sat = domain("app.other.com", true, "https://clerk.app.other.com", None, None);
    let data = desired_data("NEXT_PUBLIC_", &sat, &primary, &[] as &[Domain], true).unwrap();
    let want: BTreeMap<String, String> = [
        (
            "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
            "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k",
        ),
        ("NEXT_PUBLIC_CLERK_IS_SATELLITE", "true"),
        ("NEXT_PUBLIC_CLERK_DOMAIN", "app.other.com"),
        (
            "NEXT_PUBLIC_CLERK_FRONTEND_API_URL",
            "https://clerk.app.other.com",
        ),
        (
            "NEXT_PUBLIC_CLERK_SIGN_IN_URL",
            "https://accounts.example.com/sign-in",
        ),
        (
            "NEXT_PUBLIC_CLERK_SIGN_UP_URL",
            "https://accounts.example.com/sign-up",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(data, want);
    // The publishable key decodes back to the primary's Frontend API host (what the SDKs do).
    assert_eq!(base64(b"clerk.example.com$"), "Y2xlcmsuZXhhbXBsZS5jb20k");
}

#[test]
fn proxy_replaces_domain_and_primary_has_no_sign_in_url() {
    let primary = domain(
        "example.com",
        false,
        "https://clerk.example.com",
        None,
        Some("https://accounts.example.com"),
    );
    let sat = domain(
        "app.other.com",
        true,
        "https://app.other.com/__clerk",
        Some("https://app.other.com/__clerk"),
        None,
    );
    let data = desired_data("", &sat, &primary, &[] as &[Domain], true).unwrap();
    assert_eq!(
        data.get("CLERK_PROXY_URL").map(String::as_str),
        Some("https://app.other.com/__clerk")
    );
    assert!(!data.contains_key("CLERK_DOMAIN"), "{data:?}");
    let other = domain("b.other.com", true, "https://clerk.b.other.com", None, None);
    let all = [primary.clone(), other, sat.clone(), sat.clone()];
    let own = desired_data("", &primary, &primary, &all, true).unwrap();
    assert_eq!(own.get("CLERK_IS_SATELLITE").map(String::as_str), Some("false"));
    assert_eq!(
        own.get("CLERK_ALLOWED_REDIRECT_ORIGINS").map(String::as_str),
        Some("https://app.other.com,https://b.other.com"),
        "every satellite once, sorted; not the primary"
    );
    assert!(
        !data.contains_key("CLERK_ALLOWED_REDIRECT_ORIGINS"),
        "only on the primary"
    );
    let mut dev_sat = sat.clone();
    dev_sat.development_origin = "http://localhost:3001".into();
    assert_eq!(satellite_origin(&dev_sat, false), "http://localhost:3001");
    dev_sat.development_origin.clear();
    assert_eq!(satellite_origin(&dev_sat, false), "http://app.other.com");
    for k in [
        "CLERK_DOMAIN",
        "CLERK_PROXY_URL",
        "CLERK_SIGN_IN_URL",
        "CLERK_SIGN_UP_URL",
    ] {
        assert!(!own.contains_key(k), "{k} in {own:?}");
    }
    // Development keys are pk_test_; no value is ever a secret key.
    let dev = desired_data("", &sat, &primary, &[] as &[Domain], false).unwrap();
    assert!(dev["CLERK_PUBLISHABLE_KEY"].starts_with("pk_test_"));
    assert!(dev.values().all(|v| !v.starts_with("sk_")));
}

#[test]
fn ownership_and_freshness() {
    let obj_uid = "u-1";
    let owner = Owner {
        name: "web",
        namespace: "ns",
        uid: obj_uid,
    };
    let desired = desired_config_map(&owner, "web-clerk", [("A".to_string(), "1".to_string())].into());
    assert!(controlled_by(&desired.metadata, obj_uid));
    assert!(!controlled_by(&desired.metadata, "u-2"));
    let mut foreign = desired.clone();
    foreign.metadata.owner_references = None;
    assert!(!controlled_by(&foreign.metadata, obj_uid));
    assert!(up_to_date(&desired, &desired));
    let mut stale = desired.clone();
    stale.data = Some([("A".to_string(), "2".to_string())].into());
    assert!(!up_to_date(&stale, &desired));
    let mut extra = desired.clone();
    extra.data.as_mut().unwrap().insert("OLD".into(), "x".into());
    assert!(
        !up_to_date(&extra, &desired),
        "a key no longer exported is removed"
    );
}
