use super::*;

#[test]
fn retry_after_seconds_and_http_date() {
    let now = jiff::Timestamp::from_second(1_445_412_470).unwrap(); // 2015-10-21T07:27:50Z
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    // Capped: an absurd value is a minute, not an overflow.
    assert_eq!(parse_retry_after("3600", now), Some(MAX_RETRY_AFTER));
    assert_eq!(
        parse_retry_after("18446744073709551615", now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(
        parse_retry_after("99999999999999999999999", now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(
        parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now),
        Some(MAX_RETRY_AFTER)
    );
}

#[test]
fn user_agent_names_the_identity() {
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(user_agent(None), format!("clerk-operator/{v}"));
    assert_eq!(user_agent(Some(" ")), format!("clerk-operator/{v}"));
    assert_eq!(user_agent(Some("pod-a")), format!("clerk-operator/{v} (pod-a)"));
    assert_eq!(
        user_agent(Some("a b\n(c)")),
        format!("clerk-operator/{v} (a_b__c_)")
    );
    reqwest::header::HeaderValue::from_str(&user_agent(Some("é\u{7f}x"))).unwrap();
}

#[test]
fn urls_keep_the_v1_prefix() {
    let c = ClerkClient::new(
        ClientConfig {
            base_url: Url::parse("http://127.0.0.1:1/v1").unwrap(),
            ..Default::default()
        },
        SecretKey::new("sk_test_x"),
    );
    assert_eq!(
        c.url("domains/dmn_1").as_str(),
        "http://127.0.0.1:1/v1/domains/dmn_1"
    );
}

mod with_the_fake {
    use super::*;
    use crate::clerk::{CreateDomain, Rate, Throttle};
    use fake_clerk::{FakeClerk, FakeConfig, Faults, Scripted, ScriptedFault};

    const KEY: &str = "sk_test_client";

    async fn fake() -> FakeClerk {
        crate::install_crypto_provider();
        FakeClerk::start(FakeConfig {
            secret_keys: vec![KEY.into(), "sk_test_other".into()],
            ..Default::default()
        })
        .await
        .unwrap()
    }

    fn client(fake: &FakeClerk, key: &str) -> ClerkClient {
        let config = ClientConfig {
            base_url: Url::parse(&fake.base_url()).unwrap(),
            retry_base: Duration::from_millis(1),
            identity: Some("unit-test".into()),
            ..Default::default()
        };
        ClerkClient::new(config, SecretKey::new(key))
    }

    fn body(name: &str) -> CreateDomain {
        CreateDomain {
            name: name.into(),
            is_satellite: true,
            proxy_url: None,
        }
    }

    #[tokio::test]
    async fn a_closed_fence_refuses_writes_and_lets_reads_through() {
        let fake = fake().await;
        let metrics = Arc::new(Metrics::default());
        let fence = Fence::closed();
        let c = client(&fake, KEY)
            .with_fence(fence.clone())
            .with_metrics(metrics.clone());
        let err = c.create_domain(&body("a.example.com")).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClerkError::NotLeader {
                    operation: "AddDomain"
                }
            ),
            "{err}"
        );
        assert_eq!(err.reason(), "NotLeader");
        let err = c.delete_domain("dmn_x").await.unwrap_err();
        assert!(matches!(err, ClerkError::NotLeader { .. }), "{err}");
        assert_eq!(metrics.clerk_writes_fenced.get(), 2);
        assert!(fake.requests().iter().all(|r| !r.is_write()));
        // Reads are fine for a standby.
        c.list_domains().await.unwrap();
        // Leading: writes go out, with the identity in the User-Agent.
        fence.extend_to(tokio::time::Instant::now() + Duration::from_secs(30));
        c.create_domain(&body("a.example.com")).await.unwrap();
        let writes: Vec<_> = fake.requests().into_iter().filter(|r| r.is_write()).collect();
        assert_eq!(writes.len(), 1);
        assert!(writes[0].user_agent.ends_with("(unit-test)"), "{writes:?}");
        assert_eq!(writes[0].operation, "AddDomain");
    }

    #[tokio::test]
    async fn a_write_in_flight_is_cancelled_when_leadership_ends() {
        let fake = fake().await;
        fake.set_faults(Faults {
            latency_ms: 3000,
            latency_min_ms: 3000,
            ..Default::default()
        });
        let fence = Fence::closed();
        fence.extend_to(tokio::time::Instant::now() + Duration::from_millis(300));
        let c = client(&fake, KEY).with_fence(fence);
        let started = std::time::Instant::now();
        let err = c.create_domain(&body("b.example.com")).await.unwrap_err();
        assert!(matches!(err, ClerkError::NotLeader { .. }), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    /// A 429 is returned, not slept on; the instance's next requests fail fast with the rest
    /// of the (capped) pause and never reach Clerk; another instance is not affected. An
    /// absurd `Retry-After` neither overflows nor pauses longer than `MAX_RETRY_AFTER`.
    #[tokio::test]
    async fn a_429_pauses_only_its_instance_and_fails_fast() {
        let fake = fake().await;
        fake.set_faults(Faults {
            retry_after_secs: Some(u64::MAX),
            scripted: vec![Scripted {
                operation: "ListDomains".into(),
                key: Some(KEY.into()),
                fault: ScriptedFault::Status(429),
            }],
            ..Default::default()
        });
        let throttle = Arc::new(Throttle::new(Rate::DEVELOPMENT));
        let c = client(&fake, KEY).with_throttle(throttle.clone());
        let other = client(&fake, "sk_test_other").with_throttle(Arc::new(Throttle::new(Rate::DEVELOPMENT)));
        let started = std::time::Instant::now();
        let err = c.list_domains().await.unwrap_err();
        assert_eq!(err.status(), Some(429));
        assert_eq!(err.retry_after(), Some(MAX_RETRY_AFTER));
        assert_eq!(err.reason(), "ClerkRateLimited");
        let seen = fake.requests().len();
        let err = c.list_domains().await.unwrap_err();
        let ClerkError::RateLimited { retry_after, .. } = err else {
            panic!("{err}");
        };
        assert!(retry_after <= MAX_RETRY_AFTER && retry_after > MAX_RETRY_AFTER - Duration::from_secs(5));
        assert_eq!(fake.requests().len(), seen, "a paused request reached Clerk");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "slept: {:?}",
            started.elapsed()
        );
        other.list_domains().await.unwrap();
        assert_eq!(throttle.paused_for().map(|d| d <= MAX_RETRY_AFTER), Some(true));
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn retry_after_never_panics_and_is_capped(value in any::<String>(), now in -377_705_116_800i64..253_402_207_200i64) {
            let now = jiff::Timestamp::from_second(now).unwrap();
            if let Some(d) = parse_retry_after(&value, now) {
                prop_assert!(d <= MAX_RETRY_AFTER);
            }
        }

        #[test]
        fn retry_after_numbers(secs in any::<u128>(), pad in "[ \t]{0,2}") {
            let now = jiff::Timestamp::UNIX_EPOCH;
            let d = parse_retry_after(&format!("{pad}{secs}{pad}"), now).unwrap();
            prop_assert_eq!(d, Duration::from_secs(u64::try_from(secs).unwrap_or(u64::MAX)).min(MAX_RETRY_AFTER));
        }

        #[test]
        fn retry_after_dates(when in -2_208_988_800i64..253_402_207_199i64, now in -2_208_988_800i64..253_402_207_199i64) {
            let (w, n) = (jiff::Timestamp::from_second(when).unwrap(), jiff::Timestamp::from_second(now).unwrap());
            let text = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&w).unwrap();
            let d = parse_retry_after(&text, n).unwrap();
            let want = Duration::from_secs(when.saturating_sub(now).max(0) as u64).min(MAX_RETRY_AFTER);
            prop_assert_eq!(d, want, "{}", text);
        }

        #[test]
        fn retry_delay_stays_bounded(base_ms in any::<u64>(), attempt in any::<u32>(), jitter in any::<f64>()) {
            let d = retry_delay(Duration::from_millis(base_ms), attempt, jitter);
            prop_assert!(d <= Duration::from_millis(7500));
        }
    }
}
