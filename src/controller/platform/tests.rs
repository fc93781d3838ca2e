use super::*;
use serde_json::json;

fn at() -> At {
    At {
        generation: Some(3),
        now: jiff::Timestamp::from_second(1_000).unwrap(),
    }
}

fn status(v: serde_json::Value) -> DomainStatus {
    serde_json::from_value(v).unwrap()
}

fn find<'a>(out: &'a PlatformOutcome, t: &str) -> &'a Condition {
    out.conditions.iter().find(|c| c.type_ == t).unwrap()
}

#[test]
fn parts_become_conditions_with_hints_and_the_overall_status() {
    let s = status(json!({
        "dns": {"status": "complete", "cnames": {"clerk": {
            "clerk_subdomain": "clerk", "from": "clerk.a.example.com", "to": "x", "verified": true,
            "required": true, "failure_hints": null}}},
        "ssl": {"status": "failed", "required": true, "failure_hints": [
            {"code": "ssl_issuance_failed", "message": "CAA record forbids it"}]},
        "mail": {"status": "not_started", "required": false},
        "status": "incomplete"
    }));
    let out = from_status(&s, false, at());
    let dns = find(&out, ct::CLERK_DNS_VERIFIED);
    assert_eq!(
        (dns.status.as_str(), dns.reason.as_str()),
        ("True", "ClerkCheckComplete")
    );
    let ssl = find(&out, ct::SSL_ISSUED);
    assert_eq!(
        (ssl.status.as_str(), ssl.reason.as_str()),
        ("False", "ClerkCheckFailed")
    );
    assert!(
        ssl.message.contains("ssl_issuance_failed: CAA record forbids it"),
        "{}",
        ssl.message
    );
    assert!(
        ssl.message.contains("overall status: incomplete"),
        "{}",
        ssl.message
    );
    let mail = find(&out, ct::MAIL_VERIFIED);
    assert_eq!(
        (mail.status.as_str(), mail.reason.as_str()),
        ("True", "ClerkCheckNotRequired")
    );
    assert_eq!(out.drop_conditions, vec![ct::CLERK_PROXY_VERIFIED]);
    assert_eq!(ssl.observed_generation, Some(3));
    assert!(settled(&out.conditions), "a failure in Clerk's words is settled");
}

#[test]
fn a_finished_dns_check_with_a_missing_record_fails_and_a_running_one_says_so() {
    let s = status(json!({
        "dns": {"status": "complete", "cnames": {"clerk": {
            "clerk_subdomain": "clerk", "from": "clerk.a.example.com", "to": "x", "verified": false,
            "required": true, "failure_hints": [{"code": "cname_missing", "message": "no record"}]}}},
        "ssl": {"status": "not_started", "required": true, "failure_hints": null},
        "proxy": {"status": "complete", "required": true},
        "status": "incomplete"
    }));
    let out = from_status(&s, false, at());
    let dns = find(&out, ct::CLERK_DNS_VERIFIED);
    assert_eq!(dns.reason, "ClerkCheckFailed");
    assert!(dns.message.contains("cname_missing: no record"));
    assert_eq!(find(&out, ct::CLERK_PROXY_VERIFIED).status, "True");
    assert_eq!(out.drop_conditions, vec![ct::MAIL_VERIFIED]);
    let running = from_status(&s, true, at());
    let ssl = find(&running, ct::SSL_ISSUED);
    assert_eq!(ssl.reason, "ClerkCheckRunning");
    assert!(!settled(&running.conditions));
}

#[test]
fn rechecks_grow_from_fifteen_seconds_to_five_minutes() {
    let waits: Vec<u64> = (1..=7).map(|a| recheck_after(a).as_secs()).collect();
    assert_eq!(waits, vec![15, 30, 60, 120, 240, 300, 300]);
    assert_eq!(recheck_after(u32::MAX), MAX_RECHECK);
}

/// Clerk's answer `status` to a Platform request, with a trace ID that differs every time.
fn answered(status: u16) -> ClerkError {
    ClerkError::Api {
        operation: "PlatformGetApplicationDomainStatus",
        error: crate::clerk::ClerkApiError {
            status,
            errors: vec![],
            trace_id: Some("trace_changes_every_time".into()),
            retry_after: None,
        },
    }
}

#[test]
fn errors_name_the_setting_and_never_the_token() {
    let (r, m) = explain(&answered(401), "app_1", "dmn_1");
    assert_eq!(r, Reason::PlatformUnauthorized);
    assert!(m.contains("tokenSecretRef"));
    assert!(!m.contains("trace_changes_every_time"), "{m}");
    let (r, m) = explain(&answered(404), "app_1", "dmn_1");
    assert_eq!(r, Reason::PlatformNotFound);
    assert!(m.contains("app_1") && m.contains("dmn_1"));
    assert_eq!(explain(&answered(503), "a", "d").0, Reason::PlatformUnavailable);
    let out = unknown(at(), Reason::PlatformUnauthorized, m);
    assert!(out.conditions.iter().all(|c| c.status == "Unknown"));
    assert_eq!(out.conditions.len(), 3);
}

#[test]
fn a_dns_check_is_due_for_a_new_generation_a_forced_resync_or_after_a_failed_reading() {
    let mut obj = ClerkDomain::new("a", crate::api::ClerkDomainSpec::for_domain("a.example.com"));
    obj.metadata.generation = Some(3);
    assert!(check_due(&obj, Some(3), false), "never read");
    let mut st = crate::api::ClerkDomainStatus {
        conditions: from_status(&DomainStatus::default(), false, at()).conditions,
        ..Default::default()
    };
    obj.status = Some(st.clone());
    assert!(!check_due(&obj, Some(3), false));
    assert!(check_due(&obj, Some(3), true), "forced");
    assert!(check_due(&obj, Some(4), false), "new generation");
    st.conditions = unknown(at(), Reason::PlatformUnauthorized, String::new()).conditions;
    obj.status = Some(st);
    assert!(check_due(&obj, Some(3), false), "after a failed reading");
}

#[test]
fn a_request_the_client_did_not_send_keeps_the_conditions_until_its_wait_ends() {
    let turn_at = tokio::time::Instant::now() + Duration::from_secs(40);
    let queued = ClerkError::Queued {
        operation: "PlatformGetApplicationDomainStatus",
        turn_at,
    };
    let out = postponed(&queued);
    assert!(out.conditions.is_empty() && out.drop_conditions.is_empty());
    assert!(out.recheck.is_some_and(|d| d > Duration::from_secs(30)));
    let fenced = ClerkError::NotLeader {
        operation: "PlatformTriggerDNSCheck",
    };
    assert_eq!(postponed(&fenced).recheck, Some(FIRST_RECHECK));
}
