use super::*;
use fake_clerk::{FakeClerk, FakeConfig};

async fn pool_for(fake: &FakeClerk, config: PoolConfig) -> ClerkPool {
    let client = ClientConfig {
        base_url: url::Url::parse(&fake.base_url()).unwrap(),
        ..Default::default()
    };
    ClerkPool::new(PoolConfig { client, ..config }, Arc::new(Metrics::default()))
}

#[tokio::test]
async fn two_keys_of_one_instance_share_its_budget_and_list() {
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec!["sk_test_one".into(), "sk_test_other".into()],
        extra_keys: vec![("sk_test_second".into(), "sk_test_one".into())],
        ..Default::default()
    })
    .await
    .unwrap();
    let pool = pool_for(&fake, PoolConfig::default()).await;
    let a = pool.instance(SecretKey::new("sk_test_one")).await.unwrap();
    let b = pool.instance(SecretKey::new("sk_test_second")).await.unwrap();
    let other = pool.instance(SecretKey::new("sk_test_other")).await.unwrap();
    assert_eq!(a.id(), b.id());
    assert_ne!(a.id(), other.id());
    assert!(
        std::ptr::eq(a.throttle(), b.throttle()),
        "two keys of one instance, two budgets"
    );
    assert!(!std::ptr::eq(a.throttle(), other.throttle()));
    a.list_domains().await.unwrap();
    b.list_domains().await.unwrap();
    other.list_domains().await.unwrap();
    // One list for the instance with two keys, one for the other.
    assert_eq!(fake.stats().count("ListDomains"), 2);
    assert_eq!(fake.stats().count("GetInstance"), 3);
    assert_eq!(pool.sizes(), (3, 2));
}

#[tokio::test]
async fn a_failed_lookup_is_asked_again() {
    let fake = FakeClerk::start(FakeConfig::default()).await.unwrap();
    let pool = pool_for(&fake, PoolConfig::default()).await;
    let key = SecretKey::new("sk_test_not_yet");
    assert_eq!(
        pool.instance(key.clone()).await.err().and_then(|e| e.status()),
        Some(401)
    );
    assert!(fake.add_key("sk_test_not_yet", "sk_test_fake"));
    assert!(pool.instance(key).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn idle_keys_and_their_instances_are_forgotten() {
    let fake = FakeClerk::start(FakeConfig::default()).await.unwrap();
    let config = PoolConfig {
        idle: Duration::from_secs(120),
        ..Default::default()
    };
    let pool = pool_for(&fake, config).await;
    drop(pool.instance(SecretKey::new("sk_test_fake")).await.unwrap());
    assert_eq!(pool.sizes(), (1, 1));
    tokio::time::advance(Duration::from_secs(121)).await;
    // The next use of any key prunes.
    let _ = pool.instance(SecretKey::new("sk_test_unknown")).await;
    assert_eq!(pool.sizes(), (1, 0));
}

/// A Platform request takes the Backend requests' path: a DNS check (a write) is refused while
/// this process does not lead; requests are counted by operation and status, never showing the
/// token; they are paced by the token's own budget, shared by its clients and apart from any
/// instance's.
#[tokio::test]
async fn platform_requests_are_fenced_counted_and_paced_by_their_token() {
    const TOKEN: &str = "ak_platform_pool_secret";
    let fake = FakeClerk::start(FakeConfig::default()).await.unwrap();
    fake.add_platform_token(TOKEN);
    let fence = crate::leader::Fence::closed();
    let metrics = Arc::new(Metrics::default());
    let config = PoolConfig {
        client: ClientConfig {
            base_url: url::Url::parse(&fake.base_url()).unwrap(),
            ..Default::default()
        },
        fence: fence.clone(),
        ..Default::default()
    };
    let pool = ClerkPool::new(config, metrics.clone());
    let base = url::Url::parse(&fake.base_url()).unwrap();
    let app = fake.application_id("sk_test_fake").unwrap();
    let id = fake.domains("sk_test_fake")[0].id.clone();
    let client = pool.platform(base.clone(), PlatformToken::new(TOKEN));

    let err = client.dns_check(&app, &id).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClerkError::NotLeader {
                operation: "PlatformTriggerDNSCheck"
            }
        ),
        "{err}"
    );
    assert_eq!(metrics.clerk_writes_fenced.get(), 1);
    assert_eq!(
        fake.stats().count("TriggerDNSCheck"),
        0,
        "a refused check reached Clerk"
    );
    client.status(&app, &id).await.unwrap();
    fence.extend_to(Instant::now() + Duration::from_secs(30));
    assert!(matches!(
        client.dns_check(&app, &id).await.unwrap(),
        super::super::CheckStarted::Started(_)
    ));
    let text = metrics.encode().unwrap();
    for op in ["PlatformGetApplicationDomainStatus", "PlatformTriggerDNSCheck"] {
        let line = format!("clerk_operator_clerk_requests_total{{operation=\"{op}\",status=\"200\"}} 1");
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    assert!(!text.contains(TOKEN));

    let again = pool.platform(base, PlatformToken::new(TOKEN));
    let budget = again.throttle().unwrap();
    assert!(
        Arc::ptr_eq(budget, client.throttle().unwrap()),
        "one token, two budgets"
    );
    assert_eq!(budget.usage(), (3, PLATFORM_RATE));
    let instance = pool.instance(SecretKey::new("sk_test_fake")).await.unwrap();
    assert!(!std::ptr::eq(&**budget, instance.throttle()));
    assert_eq!(instance.throttle().usage().0, 1, "only GET /instance");
}
