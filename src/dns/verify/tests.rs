use super::*;

#[test]
fn summary_reads_well() {
    let v = Verification {
        verified: false,
        problems: vec![
            Problem::Missing {
                host: "clerk.a.example.com".into(),
            },
            Problem::Wrong {
                host: "clkmail.a.example.com".into(),
                found: vec!["x".into()],
                want: "y".into(),
            },
            Problem::Error {
                host: "clk._domainkey.a.example.com".into(),
                message: "request timed out".into(),
            },
        ],
        unresolved_targets: vec![],
    };
    assert_eq!(
        v.summary(),
        "clerk.a.example.com: no CNAME record; clkmail.a.example.com: CNAME points to x, expected y; \
         clk._domainkey.a.example.com: lookup failed: request timed out"
    );
    assert!(v.has_errors());
    assert_eq!(v.reason(), "LookupFailed");
    assert_eq!(v.problems[1].host(), "clkmail.a.example.com");
}

#[tokio::test]
async fn nothing_required_is_verified_without_lookups() {
    // A server that never answers: any lookup would be an error.
    let v = Verifier::with_server("127.0.0.1:9".parse().unwrap()).unwrap();
    let out = v
        .verify(&[("clerk.a.example.com", "frontend-api.clerk.services", false)])
        .await;
    assert_eq!(
        out,
        Verification {
            verified: true,
            problems: vec![],
            unresolved_targets: vec![],
        }
    );
}

#[test]
fn reasons_and_clerk_side_notes() {
    let missing = Problem::Missing { host: "a".into() };
    let wrong = Problem::Wrong {
        host: "b".into(),
        found: vec!["x".into()],
        want: "y".into(),
    };
    let error = Problem::Error {
        host: "c".into(),
        message: "timeout".into(),
    };
    let v = |problems: Vec<Problem>, unresolved: &[&str]| Verification {
        verified: problems.is_empty(),
        problems,
        unresolved_targets: unresolved.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(v(vec![], &[]).reason(), "Verified");
    assert_eq!(v(vec![wrong.clone()], &[]).reason(), "WrongTarget");
    assert_eq!(
        v(vec![wrong.clone(), missing.clone()], &[]).reason(),
        "RecordsMissing"
    );
    assert_eq!(v(vec![missing, wrong, error], &[]).reason(), "LookupFailed");
    assert_eq!(v(vec![], &[]).clerk_side_note(), None);
    assert_eq!(
        v(vec![], &["frontend-api.clerk.services"])
            .clerk_side_note()
            .unwrap(),
        "Clerk's target frontend-api.clerk.services does not resolve (NXDOMAIN) right now: \
         that is on Clerk's side, the records are right"
    );
    assert!(
        v(vec![], &["a.clerk.services", "b.clerk.services"])
            .clerk_side_note()
            .unwrap()
            .starts_with("Clerk's targets a.clerk.services, b.clerk.services do not resolve")
    );
}

#[tokio::test]
async fn unreachable_server_is_an_error_not_missing() {
    let v = Verifier::new(VerifierConfig {
        server: Some("127.0.0.1:9".parse().unwrap()),
        timeout: Duration::from_millis(300),
        attempts: 1,
    })
    .unwrap();
    let out = v
        .verify(&[("clerk.a.example.com", "frontend-api.clerk.services", true)])
        .await;
    assert!(!out.verified);
    assert!(
        matches!(&out.problems[..], [Problem::Error { host, .. }] if host == "clerk.a.example.com"),
        "{out:?}"
    );
}
