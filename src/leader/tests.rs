use super::*;

fn config(duration: u64, grace_ms: u64) -> LeaseConfig {
    LeaseConfig {
        name: "l".into(),
        namespace: "ns".into(),
        identity: "me".into(),
        duration: Duration::from_secs(duration),
        grace: Duration::from_millis(grace_ms),
    }
}

#[test]
fn timings_fit_inside_the_validity() {
    for c in [config(15, 5000), config(6, 2000), config(4, 1000), config(2, 500)] {
        c.validate().unwrap();
        assert!(c.call_timeout() < c.retry_period(), "{c:?}");
        assert!(c.retry_period() * 3 <= c.validity(), "{c:?}");
        assert!(c.validity() + c.grace == c.duration);
    }
    assert!(config(5, 5000).validate().is_err());
    assert!(config(1, 500).validate().is_err());
    assert!(config(6, 100).validate().is_err());
}

#[tokio::test(start_paused = true)]
async fn fence_closes_by_the_clock() {
    assert!(Fence::open().is_leading());
    assert_eq!(Fence::open().deadline(), None);
    let f = Fence::closed();
    assert!(!f.is_leading());
    f.extend_to(Instant::now() + Duration::from_secs(4));
    let clone = f.clone();
    assert!(clone.is_leading());
    // Nobody renews: the fence closes at its deadline by itself.
    tokio::time::advance(Duration::from_millis(3999)).await;
    assert!(clone.is_leading());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!clone.is_leading());
    // Never moves backwards; revoke closes at once.
    f.extend_to(Instant::now() + Duration::from_secs(10));
    f.extend_to(Instant::now() + Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(f.is_leading());
    f.revoke();
    assert!(!clone.is_leading());
}

#[tokio::test(start_paused = true)]
async fn standby_expiry_uses_the_local_observation_time() {
    let o = Observed {
        resource_version: Some("1".into()),
        duration: Duration::from_secs(6),
        at: Instant::now(),
    };
    assert!(o.held(Instant::now() + Duration::from_millis(5999)));
    assert!(!o.held(Instant::now() + Duration::from_secs(6)));
    let huge = Observed {
        duration: Duration::MAX,
        ..o
    };
    assert!(huge.held(Instant::now()));
}
