//! The Platform API endpoints through HTTP.

use crate::{FakeClerk, FakeConfig, PlatformRule};
use serde_json::Value;

const TOKEN: &str = "ak_platform_fake_token";
const KEY: &str = "sk_live_fake";

async fn fake() -> (FakeClerk, String, String) {
    clerk_operator::install_crypto_provider();
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec![KEY.into(), "sk_test_fake".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    fake.add_platform_token(TOKEN);
    let app = fake.application_id(KEY).unwrap();
    let d = fake.insert_domain(KEY, "shop.example.com", None);
    (fake, app, d.id)
}

async fn call(fake: &FakeClerk, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_check_moves_dns_to_complete_and_a_second_one_conflicts() {
    let (fake, app, id) = fake().await;
    let status = format!("/platform/applications/{app}/domains/{id}/status");
    let check = format!("/platform/applications/{app}/domains/{id}/dns_check");
    let (code, body) = call(&fake, reqwest::Method::GET, &status, TOKEN).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["dns"]["status"], "not_started");
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["dns"]["cnames"]["clerk"]["from"], "clerk.shop.example.com");
    let (code, body) = call(&fake, reqwest::Method::POST, &check, TOKEN).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["domain_id"], &body["dns"]["status"]),
        (&Value::from(id.as_str()), &Value::from("complete"))
    );
    assert!(body["last_run_at"].as_i64().is_some());
    assert_eq!(body["status"], "complete");
    let (code, body) = call(&fake, reqwest::Method::POST, &check, TOKEN).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["errors"][0]["code"], "conflict");
    // The status is found by the domain's name too.
    let by_name = format!("/platform/applications/{app}/domains/shop.example.com/status");
    let (code, body) = call(&fake, reqwest::Method::GET, &by_name, TOKEN).await;
    assert_eq!((code, &body["ssl"]["status"]), (200, &Value::from("complete")));
    assert_eq!(fake.stats().count_status("TriggerDNSCheck", 409), 1);
}

#[tokio::test]
async fn tokens_applications_and_domains_are_checked() {
    let (fake, app, id) = fake().await;
    let status = format!("/platform/applications/{app}/domains/{id}/status");
    let (code, body) = call(&fake, reqwest::Method::GET, &status, KEY).await;
    assert_eq!(
        (code, &body["errors"][0]["code"]),
        (401, &Value::from("authentication_invalid"))
    );
    let other = format!("/platform/applications/app_nope/domains/{id}/status");
    assert_eq!(call(&fake, reqwest::Method::GET, &other, TOKEN).await.0, 404);
    let gone = format!("/platform/applications/{app}/domains/dmn_nope/status");
    assert_eq!(call(&fake, reqwest::Method::GET, &gone, TOKEN).await.0, 404);
}

#[tokio::test]
async fn the_rule_decides_records_and_certificates() {
    let (fake, app, id) = fake().await;
    fake.set_platform_rule(PlatformRule {
        records_found: false,
        cooldown_ms: 0,
        ..Default::default()
    });
    let check = format!("/platform/applications/{app}/domains/{id}/dns_check");
    let (_, body) = call(&fake, reqwest::Method::POST, &check, TOKEN).await;
    assert_eq!(body["dns"]["cnames"]["clerk"]["verified"], false);
    assert_eq!(
        body["dns"]["cnames"]["clerk"]["failure_hints"][0]["code"],
        "cname_missing"
    );
    fake.set_platform_rule(PlatformRule {
        ssl_fails: true,
        cooldown_ms: 0,
        ..Default::default()
    });
    let (code, body) = call(&fake, reqwest::Method::POST, &check, TOKEN).await;
    assert_eq!(code, 200, "no cooldown: {body}");
    assert_eq!(body["ssl"]["status"], "failed");
    assert_eq!(body["status"], "incomplete");
}
