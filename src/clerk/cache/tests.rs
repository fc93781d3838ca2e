use super::*;
use crate::clerk::{ClientConfig, SecretKey};
use fake_clerk::{FakeClerk, FakeConfig};
use std::sync::Arc;

const KEY: &str = "sk_live_cache_test";

async fn setup() -> (FakeClerk, ClerkClient) {
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec![KEY.into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let config = ClientConfig {
        base_url: url::Url::parse(&fake.base_url()).unwrap(),
        ..Default::default()
    };
    let client = ClerkClient::new(config, SecretKey::new(KEY));
    (fake, client)
}

#[tokio::test]
async fn concurrent_readers_share_one_request() {
    let (fake, client) = setup().await;
    let cache = Arc::new(ListCache::new(Duration::from_secs(30), Duration::from_secs(30)));
    let mut tasks = vec![];
    for _ in 0..20 {
        let (cache, client) = (cache.clone(), client.clone());
        tasks.push(tokio::spawn(async move { cache.get(&client).await.unwrap() }));
    }
    let mut misses = 0;
    for t in tasks {
        let (list, hit) = t.await.unwrap();
        assert_eq!(list.len(), 1);
        misses += usize::from(!hit);
    }
    assert_eq!(misses, 1);
    assert_eq!(fake.stats().count("ListDomains"), 1);
}

#[tokio::test]
async fn expires_after_ttl() {
    let (fake, client) = setup().await;
    let cache = ListCache::new(Duration::from_millis(50), Duration::from_millis(50));
    cache.get(&client).await.unwrap();
    cache.get(&client).await.unwrap();
    assert_eq!(fake.stats().count("ListDomains"), 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    cache.get(&client).await.unwrap();
    assert_eq!(fake.stats().count("ListDomains"), 2);
    cache.invalidate();
    cache.get(&client).await.unwrap();
    assert_eq!(fake.stats().count("ListDomains"), 3);
}

#[tokio::test]
async fn own_writes_update_the_cached_list() {
    let (fake, client) = setup().await;
    let cache = ListCache::new(Duration::from_secs(30), Duration::from_secs(30));
    cache.get(&client).await.unwrap();
    let d = fake.insert_domain(KEY, "a.example.com", None);
    cache.upsert(&d);
    let (list, hit) = cache.get(&client).await.unwrap();
    assert!(hit && list.iter().any(|x| x.id == d.id));
    let mut renamed = d.clone();
    renamed.name = "b.example.com".into();
    cache.upsert(&renamed);
    let (list, _) = cache.get(&client).await.unwrap();
    assert_eq!(list.iter().filter(|x| x.id == d.id).count(), 1);
    assert!(list.iter().any(|x| x.name == "b.example.com"));
    cache.remove(&d.id);
    let (list, _) = cache.get(&client).await.unwrap();
    assert!(!list.iter().any(|x| x.id == d.id));
    assert_eq!(fake.stats().count("ListDomains"), 1);
}

#[tokio::test]
async fn a_list_racing_a_create_still_shows_the_created_domain() {
    let (fake, client) = setup().await;
    fake.set_faults(fake_clerk::Faults {
        latency_ms: 300,
        latency_min_ms: 300,
        ..Default::default()
    });
    let cache = Arc::new(ListCache::new(Duration::from_secs(30), Duration::from_secs(30)));
    let reader = {
        let (cache, client) = (cache.clone(), client.clone());
        tokio::spawn(async move { cache.get(&client).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The create lands while the list is in flight; the list may have been served before it.
    let d = fake.insert_domain(KEY, "raced.example.com", None);
    cache.upsert(&d);
    let (list, _) = reader.await.unwrap();
    assert!(
        list.iter().any(|x| x.id == d.id),
        "racing list hid the created domain"
    );
    let (list, hit) = cache.get(&client).await.unwrap();
    assert!(hit && list.iter().any(|x| x.id == d.id));
}

#[tokio::test]
async fn a_list_in_flight_when_invalidated_is_not_reused() {
    let (fake, client) = setup().await;
    fake.set_faults(fake_clerk::Faults {
        latency_ms: 300,
        latency_min_ms: 300,
        ..Default::default()
    });
    let cache = Arc::new(ListCache::new(Duration::from_secs(30), Duration::from_secs(30)));
    let reader = {
        let (cache, client) = (cache.clone(), client.clone());
        tokio::spawn(async move { cache.get(&client).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A create whose answer was lost: Clerk has the domain, the cache cannot know it.
    let d = fake.insert_domain(KEY, "lost.example.com", None);
    cache.invalidate();
    let _ = reader.await.unwrap();
    fake.set_faults(fake_clerk::Faults::default());
    let (list, hit) = cache.get(&client).await.unwrap();
    assert!(!hit, "served a list read before the invalidation");
    assert!(list.iter().any(|x| x.id == d.id));
}

#[tokio::test]
async fn writes_are_journaled_only_while_a_list_is_in_flight() {
    let (fake, client) = setup().await;
    let cache = ListCache::new(Duration::from_secs(30), Duration::from_secs(30));
    cache.get(&client).await.unwrap();
    for i in 0..100 {
        let d = fake.insert_domain(KEY, &format!("d{i}.example.com"), None);
        cache.upsert(&d);
    }
    // Applied to the cached list, and nothing kept besides it.
    assert!(cache.inner.lock().unwrap().journal.is_empty());
    let (list, hit) = cache.get(&client).await.unwrap();
    assert!(hit);
    assert_eq!(list.len(), 101);
}

#[tokio::test]
async fn an_older_list_is_served_within_the_age_the_caller_accepts() {
    let (fake, client) = setup().await;
    let cache = ListCache::new(Duration::from_millis(50), Duration::from_secs(30));
    cache.get(&client).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let (_, hit) = cache.get_within(&client, Duration::from_secs(30)).await.unwrap();
    assert!(hit, "a list younger than the accepted age was fetched again");
    assert_eq!(fake.stats().count("ListDomains"), 1);
    // The TTL still applies to callers that do not accept more.
    let (_, hit) = cache.get(&client).await.unwrap();
    assert!(!hit);
    assert_eq!(fake.stats().count("ListDomains"), 2);
}

#[tokio::test]
async fn a_list_is_let_go_when_no_caller_may_use_it() {
    let (_fake, client) = setup().await;
    let cache = ListCache::new(Duration::from_millis(30), Duration::from_millis(60));
    cache.get(&client).await.unwrap();
    assert!(cache.holds_list());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!cache.holds_list(), "an expired list is still held");
}

/// A re-read does not hold the list it replaces next to the new one (before: both, and the
/// response body, at once).
#[tokio::test]
async fn a_reread_lets_go_of_the_list_it_replaces() {
    let (fake, client) = setup().await;
    let cache = Arc::new(ListCache::new(Duration::from_millis(50), Duration::from_secs(30)));
    let first = Arc::downgrade(&cache.get(&client).await.unwrap().0);
    tokio::time::sleep(Duration::from_millis(80)).await;
    fake.set_faults(fake_clerk::Faults {
        latency_ms: 300,
        latency_min_ms: 300,
        ..Default::default()
    });
    let reread = {
        let (cache, client) = (cache.clone(), client.clone());
        tokio::spawn(async move { cache.get(&client).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !cache.holds_list(),
        "the old list is held while its successor is read"
    );
    assert!(first.upgrade().is_none(), "the old list is still alive");
    // A caller arriving meanwhile, even one that would accept the old list, waits for the
    // re-read and shares it: no second request.
    let (late, hit) = cache.get_within(&client, Duration::from_secs(30)).await.unwrap();
    let (list, miss) = reread.await.unwrap();
    assert!(hit && !miss && Arc::ptr_eq(&late, &list));
    assert_eq!(fake.stats().count("ListDomains"), 2);
    assert!(cache.holds_list());
}

#[tokio::test]
async fn a_list_is_kept_without_spare_room() {
    let (fake, client) = setup().await;
    for n in 0..4 {
        fake.insert_domain(KEY, &format!("s{n}.example.com"), None);
    }
    let cache = ListCache::new(Duration::from_secs(30), Duration::from_secs(30));
    let (list, _) = cache.get(&client).await.unwrap();
    // The primary and four satellites: read from JSON, the list would have room for eight.
    assert_eq!((list.len(), list.capacity()), (5, 5));
    for d in list.iter() {
        let targets = d.cname_targets.as_ref().unwrap();
        assert_eq!(targets.capacity(), targets.len(), "{}", d.name);
    }
}

/// A write while a reader holds the list copies the list's pointers, not its domains: the
/// reader keeps its list, the new list has the write, and both share every other domain.
#[tokio::test]
async fn a_write_under_a_reader_shares_the_domains() {
    let (fake, client) = setup().await;
    for i in 0..3 {
        fake.insert_domain(KEY, &format!("s{i}.example.com"), None);
    }
    let cache = ListCache::new(Duration::from_secs(30), Duration::from_secs(30));
    let (held, _) = cache.get(&client).await.unwrap();
    let d = fake.insert_domain(KEY, "new.example.com", None);
    cache.upsert(&d);
    let (now, hit) = cache.get(&client).await.unwrap();
    assert!(hit);
    assert_eq!((held.len(), now.len()), (4, 5), "the reader's list is its own");
    for old in held.iter() {
        let same = now.iter().find(|x| x.id == old.id).expect("still listed");
        assert!(Arc::ptr_eq(old, same), "{} was copied", old.name);
    }
}
