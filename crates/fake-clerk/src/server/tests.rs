//! The fake's server through HTTP and through the operator's own client.

use super::*;

#[tokio::test]
async fn faults_given_at_start_apply() {
    let faults = crate::Faults {
        error_rates: [(503, 1.0)].into(),
        ..Default::default()
    };
    let fake = FakeClerk::start(FakeConfig {
        faults,
        ..Default::default()
    })
    .await
    .unwrap();
    clerk_operator::install_crypto_provider();
    let resp = reqwest::Client::new()
        .get(format!("{}/domains", fake.base_url()))
        .bearer_auth("sk_test_fake")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(fake.fault_stats().injected.get(&503), Some(&1));
}

async fn production() -> (FakeClerk, clerk_operator::clerk::ClerkClient) {
    clerk_operator::install_crypto_provider();
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec!["sk_live_fake".into(), "sk_test_fake".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client_for(&fake, "sk_live_fake");
    (fake, client)
}

fn client_for(fake: &FakeClerk, key: &str) -> clerk_operator::clerk::ClerkClient {
    clerk_operator::clerk::ClerkClient::new(
        clerk_operator::clerk::ClientConfig {
            base_url: url::Url::parse(&fake.base_url()).unwrap(),
            retries: 0,
            ..Default::default()
        },
        clerk_operator::clerk::SecretKey::new(key),
    )
}

fn check(domain_id: &str, proxy_url: &str) -> clerk_operator::clerk::CreateProxyCheck {
    clerk_operator::clerk::CreateProxyCheck {
        domain_id: domain_id.into(),
        proxy_url: proxy_url.into(),
    }
}

/// A local "proxy" answering every request with `status`.
async fn local_proxy(status: u16) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(move || async move { StatusCode::from_u16(status).unwrap() });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/__clerk"), task)
}

#[tokio::test]
async fn proxy_check_probes_the_proxy() {
    let (fake, client) = production().await;
    let d = fake.insert_domain("sk_live_fake", "a.example.com", None);
    let (up, _task) = local_proxy(404).await;
    let first = client.proxy_check(&check(&d.id, &up)).await.unwrap();
    assert_eq!(first.object, "proxy_check");
    assert_eq!(first.domain_id, d.id);
    assert_eq!(first.proxy_url, up);
    assert!(first.successful, "a 404 still means the proxy answers");
    assert!(first.last_run_at.is_some());

    let (broken, _task) = local_proxy(502).await;
    let second = client.proxy_check(&check(&d.id, &broken)).await.unwrap();
    assert!(!second.successful);
    assert_eq!(second.id, first.id, "one check per domain, re-run");
    assert_eq!(second.created_at, first.created_at);

    let closed = client
        .proxy_check(&check(&d.id, "http://127.0.0.1:1/__clerk"))
        .await
        .unwrap();
    assert!(!closed.successful);
    assert_eq!(fake.proxy_check("sk_live_fake", &d.id), Some(closed));
    assert_eq!(fake.stats().count_status("VerifyDomainProxy", 200), 3);
}

#[tokio::test]
async fn proxy_check_rules_override_the_probe() {
    let (fake, client) = production().await;
    let d = fake.insert_domain("sk_live_fake", "a.example.com", None);
    let nowhere = "https://proxy.invalid/__clerk";
    fake.set_proxy_check_rule(ProxyCheckRule::AlwaysSucceed);
    assert!(
        client
            .proxy_check(&check(&d.id, nowhere))
            .await
            .unwrap()
            .successful
    );
    // And over HTTP, as a test harness in another process would.
    let resp = reqwest::Client::new()
        .put(format!("http://{}/__fake/proxy-check-rule", fake.addr()))
        .json(&json!("always-fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(
        fake.state().lock().unwrap().proxy_check_rule,
        ProxyCheckRule::AlwaysFail
    );
    let (up, _task) = local_proxy(200).await;
    assert!(!client.proxy_check(&check(&d.id, &up)).await.unwrap().successful);
}

#[tokio::test]
async fn proxy_check_errors() {
    let (fake, client) = production().await;
    let d = fake.insert_domain("sk_live_fake", "a.example.com", None);
    let status =
        |r: std::result::Result<ProxyCheck, clerk_operator::clerk::ClerkError>| r.unwrap_err().status();
    let ok_url = "https://a.example.com/__clerk";
    assert_eq!(
        status(client.proxy_check(&check("dmn_nope", ok_url)).await),
        Some(422)
    );
    assert_eq!(status(client.proxy_check(&check("", ok_url)).await), Some(422));
    assert_eq!(status(client.proxy_check(&check(&d.id, "")).await), Some(422));
    assert_eq!(
        status(client.proxy_check(&check(&d.id, "ftp://x.com")).await),
        Some(422)
    );
    assert_eq!(
        status(
            client
                .proxy_check(&check(&d.id, "http://a.example.com/__clerk"))
                .await
        ),
        Some(422),
        "plain http only for loopback"
    );
    let dev = client_for(&fake, "sk_test_fake");
    let dev_domain = fake.domains("sk_test_fake")[0].id.clone();
    let err = dev.proxy_check(&check(&dev_domain, ok_url)).await.unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(err.to_string().contains("production"), "{err}");

    let raw = reqwest::Client::new()
        .post(format!("{}/proxy_checks", fake.base_url()))
        .bearer_auth("sk_live_fake")
        .json(&json!({"domain_id": d.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 422);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "form_param_missing");
    assert_eq!(body["errors"][0]["meta"]["param_name"], "proxy_url");
    assert_eq!(fake.stats().count_status("VerifyDomainProxy", 422), 7);
}

#[tokio::test]
async fn proxy_check_faults_and_unauthorized() {
    let (fake, client) = production().await;
    let d = fake.insert_domain("sk_live_fake", "a.example.com", None);
    fake.set_proxy_check_rule(ProxyCheckRule::AlwaysSucceed);
    fake.set_faults(crate::Faults {
        scripted: vec![super::super::Scripted {
            operation: "VerifyDomainProxy".into(),
            key: None,
            fault: super::super::ScriptedFault::Status(503),
        }],
        ..Default::default()
    });
    let url = "https://a.example.com/__clerk";
    let err = client.proxy_check(&check(&d.id, url)).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(client.proxy_check(&check(&d.id, url)).await.unwrap().successful);
    let bad = client_for(&fake, "sk_live_unknown");
    assert_eq!(
        bad.proxy_check(&check(&d.id, url)).await.unwrap_err().status(),
        Some(401)
    );
}

#[tokio::test]
async fn scripted_faults_by_key_and_the_request_log() {
    let (fake, live) = production().await;
    let test = client_for(&fake, "sk_test_fake");
    fake.set_faults(crate::Faults {
        scripted: vec![super::super::Scripted {
            operation: "ListDomains".into(),
            key: Some("sk_test_fake".into()),
            fault: super::super::ScriptedFault::Status(500),
        }],
        ..Default::default()
    });
    // Another instance's request does not use the fault up.
    live.list_domains().await.unwrap();
    assert_eq!(test.list_domains().await.unwrap_err().status(), Some(500));
    test.list_domains().await.unwrap();
    let log = fake.requests();
    assert_eq!(log.len(), 3);
    let ids: Vec<String> = ["sk_live_fake", "sk_test_fake", "sk_test_fake"]
        .iter()
        .map(|k| fake.state().lock().unwrap().instances[*k].id.clone())
        .collect();
    assert_eq!(
        log.iter()
            .map(|r| r.instance.clone().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(log.iter().all(|r| r.operation == "ListDomains" && !r.is_write()));
    assert!(log.iter().all(|r| r.user_agent.starts_with("clerk-operator/")));
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn a_second_key_is_the_same_instance_with_the_same_rate_limit() {
    let (fake, first) = production().await;
    assert!(fake.add_key("sk_live_second", "sk_live_fake"));
    assert!(!fake.add_key("sk_live_second", "sk_live_fake"), "a key is reused");
    assert!(
        !fake.add_key("sk_live_third", "sk_live_nobody"),
        "an unknown instance"
    );
    let second = client_for(&fake, "sk_live_second");
    assert_eq!(
        first.get_instance().await.unwrap().id,
        second.get_instance().await.unwrap().id
    );
    let d = fake.insert_domain("sk_live_second", "a.example.com", None);
    assert!(
        first
            .list_domains()
            .await
            .unwrap()
            .data
            .iter()
            .any(|x| x.id == d.id)
    );
    // Both keys count against one window.
    fake.set_faults(crate::Faults {
        rate_limit: true,
        rate_limit_requests: Some(2),
        ..Default::default()
    });
    first.list_domains().await.unwrap();
    second.list_domains().await.unwrap();
    assert_eq!(first.list_domains().await.unwrap_err().status(), Some(429));
    assert_eq!(second.list_domains().await.unwrap_err().status(), Some(429));
}

#[tokio::test]
async fn patch_takes_the_fields_of_update_domain_and_refuses_others() {
    let (fake, client) = production().await;
    let create = clerk_model::CreateDomain {
        name: "sat.example.com".into(),
        is_satellite: true,
        proxy_url: None,
    };
    let d = client.create_domain(&create).await.unwrap();
    // Every field the operator's model can send is accepted.
    let all = clerk_model::UpdateDomain {
        name: Some("sat2.example.com".into()),
        proxy_url: Some(Some("https://sat2.example.com/__clerk".into())),
        is_secondary: Some(true),
    };
    assert_eq!(all.fields().len(), clerk_model::UpdateDomain::FIELDS.len());
    let updated = client.update_domain(&d.id, &all).await.unwrap();
    assert_eq!(updated.name, "sat2.example.com");
    assert_eq!(
        updated.proxy_url.as_deref(),
        Some("https://sat2.example.com/__clerk")
    );
    // Any other field is refused, and nothing of the request is applied.
    let resp = reqwest::Client::new()
        .patch(format!("{}/domains/{}", fake.base_url(), d.id))
        .bearer_auth("sk_live_fake")
        .json(&json!({"name": "sat3.example.com", "nmae": "typo.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "form_param_unknown", "{body}");
    let now = fake
        .domains("sk_live_fake")
        .into_iter()
        .find(|x| x.id == d.id)
        .unwrap();
    assert_eq!(now.name, "sat2.example.com");
}
