//! The fake's Platform API readiness endpoints against Clerk's Platform API spec
//! (`../shared/clerk-openapi/platform-beta.yml`, or `CLERK_PLATFORM_OPENAPI_SPEC`): every body
//! validates against the schema the spec documents for its operation and status, directly and
//! through `prism proxy --errors` (which also checks the requests).

use super::*;
use fake_clerk::PlatformRule;
use std::path::PathBuf;

/// The Platform API spec, relative to the repo root.
const PLATFORM_SPEC: &str = "../shared/clerk-openapi/platform-beta.yml";
const STATUS: &str = "/platform/applications/{applicationID}/domains/{domainIDOrName}/status";
const CHECK: &str = "/platform/applications/{applicationID}/domains/{domainIDOrName}/dns_check";
const TOKEN: &str = "ak_contract_platform_token";

fn platform_spec_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CLERK_PLATFORM_OPENAPI_SPEC").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "CLERK_PLATFORM_OPENAPI_SPEC={} does not exist",
            p.display()
        );
        return Some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(PLATFORM_SPEC);
    p.is_file().then_some(p)
}

/// One call: what it is, its method and spec path, the concrete path, the token and the status
/// the fake must answer.
struct Case {
    label: String,
    method: Method,
    spec_path: &'static str,
    path: String,
    token: &'static str,
    status: u16,
}

/// The calls, in order, for a fresh fake: status before and after a check, the check and its
/// 409, a primary and a proxied domain, a failed certificate, and the 401 and 404 answers.
fn cases(fake: &FakeClerk) -> Vec<Case> {
    let app = fake
        .application_id(LIVE)
        .expect("the live instance's application");
    let sat = fake.insert_domain(LIVE, "shop.example.com", None).id;
    let proxied = fake
        .insert_domain(LIVE, "p.example.com", Some("https://p.example.com/__clerk"))
        .id;
    let primary = fake.domains(LIVE)[0].id.clone();
    let case = |label: &str, post: bool, domain: &str, token: &'static str, status: u16| {
        let (method, spec_path, tail) = if post {
            (Method::POST, CHECK, "dns_check")
        } else {
            (Method::GET, STATUS, "status")
        };
        Case {
            label: label.into(),
            method,
            spec_path,
            path: format!("/platform/applications/{app}/domains/{domain}/{tail}"),
            token,
            status,
        }
    };
    vec![
        case("status before a check", false, &sat, TOKEN, 200),
        case("dns check", true, &sat, TOKEN, 200),
        case("dns check again: 409", true, &sat, TOKEN, 409),
        case("status after the check", false, &sat, TOKEN, 200),
        case("status by name", false, "shop.example.com", TOKEN, 200),
        case("primary's check", true, &primary, TOKEN, 200),
        case("proxied domain's check", true, &proxied, TOKEN, 200),
        case("a secret key is no Platform token: 401", false, &sat, LIVE, 401),
        case("unknown domain: 404", false, "dmn_nope", TOKEN, 404),
        case("unknown domain's check: 404", true, "dmn_nope", TOKEN, 404),
    ]
}

/// Run the cases against `base` (the fake, or prism in front of it); every way one breaks the
/// contract.
async fn run(spec: &Spec, fake: &FakeClerk, base: &str) -> Vec<String> {
    let w = Wire::new(base, spec.version());
    let mut broken = vec![];
    for c in cases(fake) {
        let r = w.send(c.method.clone(), &c.path, c.token, None).await;
        let method = c.method.as_str().to_lowercase();
        if r.status != c.status {
            broken.push(format!(
                "{}: status {}, want {}: {}",
                c.label, r.status, c.status, r.body
            ));
            continue;
        }
        for v in &r.violations {
            broken.push(format!("{}: prism: {v}", c.label));
        }
        let Some(name) = spec.response_schema_name(c.spec_path, &method, r.status) else {
            broken.push(format!("{}: the spec documents no {} answer", c.label, r.status));
            continue;
        };
        for v in violations(&spec.validator(&name), &r.body) {
            broken.push(format!("{}: body against {name}: {v}", c.label));
        }
    }
    // A failed certificate has its failure hints in the schema's shape too.
    fake.set_platform_rule(PlatformRule {
        ssl_fails: true,
        cooldown_ms: 0,
        ..Default::default()
    });
    let app = fake.application_id(LIVE).unwrap_or_default();
    let id = fake.insert_domain(LIVE, "ssl.example.com", None).id;
    let path = format!("/platform/applications/{app}/domains/{id}/dns_check");
    let r = w.send(Method::POST, &path, TOKEN, None).await;
    if r.status != 200 || r.body["ssl"]["status"] != "failed" || !r.violations.is_empty() {
        broken.push(format!(
            "failed certificate: {} {} {:?}",
            r.status, r.body, r.violations
        ));
    }
    let name = "PlatformDNSCheckResponse";
    broken.extend(
        violations(&spec.validator(name), &r.body)
            .into_iter()
            .map(|v| format!("failed certificate: {v}")),
    );
    broken
}

async fn platform_fake() -> FakeClerk {
    let fake = start_fake().await;
    fake.add_platform_token(TOKEN);
    fake
}

/// The Platform API spec, or `None` when it is missing (`test` is skipped, saying why).
fn spec_or_skip(test: &str) -> Option<PathBuf> {
    let found = platform_spec_path();
    if found.is_none() {
        spec::skip(
            test,
            &format!("Clerk's Platform API spec not found at {PLATFORM_SPEC}"),
        );
    }
    found
}

/// The spec, a fake that knows [`TOKEN`] and Prism in front of it, or `None` when the spec or
/// Prism is missing (`test` is skipped, saying why).
async fn through_prism(test: &str) -> Option<(PathBuf, FakeClerk, Prism)> {
    let spec_file = spec_or_skip(test)?;
    let Some(bin) = prism_bin() else {
        spec::skip(test, "prism not found: run `make contract`");
        return None;
    };
    let fake = platform_fake().await;
    let prism = Prism::start(&bin, &spec_file, &fake.base_url()).await;
    Some((spec_file, fake, prism))
}

#[tokio::test]
pub(crate) async fn fake_platform_endpoints_match_the_platform_spec() {
    const TEST: &str = "fake_platform_endpoints_match_the_platform_spec";
    let Some(spec_file) = spec_or_skip(TEST) else {
        return;
    };
    let spec = Spec::load(&spec_file);
    let fake = platform_fake().await;
    let broken = run(&spec, &fake, &fake.base_url()).await;
    assert!(broken.is_empty(), "{TEST}:\n{}", broken.join("\n"));

    // Negative control: a body that breaks the schema is caught.
    let mut bad = json!({"dns": {"status": "complete", "cnames": {}}, "ssl": {}, "status": "done"});
    let v = spec.validator("PlatformDomainStatusResponse");
    assert!(
        !violations(&v, &bad).is_empty(),
        "an unknown overall status must be refused"
    );
    bad["status"] = json!("complete");
    assert!(violations(&v, &bad).is_empty(), "{:?}", violations(&v, &bad));
}

#[tokio::test]
pub(crate) async fn fake_platform_endpoints_agree_with_the_spec_through_prism() {
    const TEST: &str = "fake_platform_endpoints_agree_with_the_spec_through_prism";
    let Some((spec_file, fake, prism)) = through_prism(TEST).await else {
        return;
    };
    let spec = Spec::load(&spec_file);
    assert!(
        spec.server_url().ends_with("/v1"),
        "server URL {}",
        spec.server_url()
    );
    let mut broken = run(&spec, &fake, &prism.base_url()).await;
    broken.extend(prism.flagged());
    assert!(broken.is_empty(), "{TEST}:\n{}", broken.join("\n"));
    // Every call reached the fake: prism answered none of them itself.
    let stats = fake.stats();
    let served = stats.count("GetDomainStatus") + stats.count("TriggerDNSCheck");
    assert_eq!(served, 11, "{stats:?}");
}

/// The operator's Platform client through Prism: its requests match the spec (paths, bearer),
/// and it reads every answer: a status, a started check, `409` as "running", `401` and `404`.
#[tokio::test]
pub(crate) async fn operator_platform_client_agrees_with_the_spec_through_prism() {
    use clerk_operator::clerk::{CheckStarted, ClientConfig, PlatformClient, PlatformToken};
    const TEST: &str = "operator_platform_client_agrees_with_the_spec_through_prism";
    let Some((_, fake, prism)) = through_prism(TEST).await else {
        return;
    };
    fake.set_platform_rule(PlatformRule {
        cooldown_ms: 60_000,
        ..Default::default()
    });
    let http = clerk_operator::clerk::http_client_for(&Default::default(), &[]);
    let config = ClientConfig {
        base_url: url::Url::parse(&prism.base_url()).unwrap(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let client = |t: &str| PlatformClient::new(http.clone(), config.clone(), PlatformToken::new(t));
    let app = fake.application_id(LIVE).unwrap_or_default();
    let id = fake.insert_domain(LIVE, "client.example.com", None).id;
    let ok = client(TOKEN);
    let before = ok.status(&app, &id).await.expect("status");
    assert_eq!(before.dns.status, "not_started");
    match ok.dns_check(&app, &id).await.expect("dns_check") {
        CheckStarted::Started(c) => assert_eq!(
            (c.domain_id.as_str(), c.status.dns.status.as_str()),
            (id.as_str(), "complete")
        ),
        other => panic!("{TEST}: {other:?}"),
    }
    assert!(matches!(ok.dns_check(&app, &id).await, Ok(CheckStarted::Running)));
    assert_eq!(ok.status(&app, &id).await.expect("status").status, "complete");
    let status = |r: Result<_, clerk_operator::clerk::ClerkError>| r.err().and_then(|e| e.status());
    assert_eq!(status(client("ak_wrong").status(&app, &id).await), Some(401));
    assert_eq!(status(ok.status(&app, "dmn_nope").await), Some(404));
    let flagged = prism.flagged();
    assert!(flagged.is_empty(), "{TEST}:\n{}", flagged.join("\n"));
    let stats = fake.stats();
    assert_eq!(
        stats.count("GetDomainStatus") + stats.count("TriggerDNSCheck"),
        6,
        "{stats:?}"
    );
}
