use super::*;
use crate::api::ClerkDomainSpec;
use crate::clerk::CnameTarget as ClerkTarget;
use crate::controller::reason::Reason;

fn obj(generation: i64, status: Option<ClerkDomainStatus>) -> ClerkDomain {
    let mut o = ClerkDomain::new("a", ClerkDomainSpec::for_domain("a.example.com"));
    o.metadata.generation = Some(generation);
    o.status = status;
    o
}

fn domain() -> Domain {
    Domain {
        object: "domain".into(),
        id: "dmn_a".into(),
        name: "a.example.com".into(),
        is_satellite: true,
        frontend_api_url: "https://clerk.a.example.com".into(),
        accounts_portal_url: None,
        proxy_url: None,
        development_origin: String::new(),
        cname_targets: Some(vec![ClerkTarget {
            host: "clerk.a.example.com".into(),
            value: "frontend-api.clerk.services".into(),
            required: true,
        }]),
        dns_targets: None,
    }
}

fn t(s: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(s).unwrap()
}

fn cond<'a>(
    st: &'a ClerkDomainStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    st.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

#[test]
fn synced_fills_everything_and_is_idempotent() {
    let d = domain();
    let outcome = Outcome::Synced {
        domain: &d,
        adopted: false,
        applied_is_secondary: None,
    };
    let first = next_status(&obj(1, None), &outcome, &Extras::default(), t(10));
    assert_eq!(first.domain_id.as_deref(), Some("dmn_a"));
    assert_eq!(first.cname_targets.len(), 1);
    assert_eq!(
        first.dns_records,
        [crate::api::DnsRecord {
            host: "clerk.a.example.com".into(),
            record_type: "CNAME".into(),
            value: "frontend-api.clerk.services".into(),
            required: true,
            automation_disposition: None,
            problem: None,
        }]
    );
    // A verification's problems land on the required record of their host, and stay until the
    // next verification.
    let checked = Extras {
        record_problems: Some(vec![("Clerk.A.example.com.".into(), "no CNAME record".into())]),
        ..Default::default()
    };
    let found = next_status(&obj(1, Some(first.clone())), &outcome, &checked, t(100));
    assert_eq!(found.dns_records[0].problem.as_deref(), Some("no CNAME record"));
    let kept = next_status(&obj(1, Some(found.clone())), &outcome, &Extras::default(), t(101));
    assert_eq!(kept, found);
    let fixed = Extras {
        record_problems: Some(vec![]),
        ..Default::default()
    };
    let cleared = next_status(&obj(1, Some(found)), &outcome, &fixed, t(102));
    assert_eq!(cleared.dns_records[0].problem, None);
    assert_eq!(
        first.frontend_api_url.as_deref(),
        Some("https://clerk.a.example.com")
    );
    assert_eq!(first.development_origin, None);
    assert_eq!(first.observed_generation, Some(1));
    assert_eq!(cond(&first, "Ready").status, "True");
    assert_eq!(cond(&first, "Synced").reason, "InSync");
    // Same outcome later: no change at all, so no write.
    let again = next_status(&obj(1, Some(first.clone())), &outcome, &Extras::default(), t(99));
    assert_eq!(again, first);
    // New generation: only observedGeneration fields move; transition times stay.
    let next = next_status(&obj(2, Some(first.clone())), &outcome, &Extras::default(), t(200));
    assert_eq!(next.observed_generation, Some(2));
    assert_eq!(
        cond(&next, "Ready").last_transition_time,
        cond(&first, "Ready").last_transition_time
    );
}

/// (case, generation, previous status, outcome, Ready, Ready reason, Reconciling, Stalled)
type Case<'a> = (
    &'a str,
    i64,
    Option<ClerkDomainStatus>,
    Outcome<'a>,
    &'a str,
    &'a str,
    bool,
    bool,
);

fn has(st: &ClerkDomainStatus, type_: &str) -> bool {
    st.conditions.iter().any(|c| c.type_ == type_)
}

/// Ready means "the current generation is realized"; Reconciling and Stalled say why not.
#[test]
fn failure_conditions_table() {
    let d = domain();
    let synced = |generation| {
        next_status(
            &obj(generation, None),
            &Outcome::Synced {
                domain: &d,
                adopted: true,
                applied_is_secondary: None,
            },
            &Extras::default(),
            t(10),
        )
    };
    let ok = synced(1);
    assert_eq!(ok.adopted, Some(true));
    assert!(!has(&ok, "Reconciling") && !has(&ok, "Stalled"));
    let fail = |reason, domain| Outcome::Failed {
        reason,
        message: "clerk said no",
        domain,
        gone: false,
    };
    let gone = |reason| Outcome::Failed {
        reason,
        message: "clerk said no",
        domain: None,
        gone: true,
    };
    // (case, generation, previous status, outcome, Ready, Ready reason, Reconciling, Stalled)
    #[rustfmt::skip]
    let cases: Vec<Case<'_>> = vec![
        ("transient, generation applied: Ready stays", 1, Some(ok.clone()), fail(Reason::ClerkUnreachable, None), "True", "Registered", true, false),
        ("transient, new generation not applied: UpdatePending, domain kept", 2, Some(ok.clone()), fail(Reason::ClerkUnavailable, Some(&d)), "False", "UpdatePending", true, false),
        ("transient, never registered", 1, None, fail(Reason::ClerkUnreachable, None), "False", "ClerkUnreachable", true, false),
        ("terminal: Ready False and Stalled", 1, Some(ok.clone()), fail(Reason::ClerkUnauthorized, None), "False", "ClerkUnauthorized", false, true),
        ("terminal with the domain in hand", 2, Some(ok.clone()), fail(Reason::ClerkRejected, Some(&d)), "False", "ClerkRejected", false, true),
        ("ownership refusals stall", 1, None, fail(Reason::AlreadyOwned, None), "False", "AlreadyOwned", false, true),
        ("instance changed stalls", 1, Some(ok.clone()), fail(Reason::InstanceChanged, None), "False", "InstanceChanged", false, true),
        ("paused, applied: Ready stays", 1, Some(ok.clone()), fail(Reason::Paused, None), "True", "Registered", false, false),
        ("paused with a new generation: not Ready", 2, Some(ok.clone()), fail(Reason::Paused, None), "False", "Paused", false, false),
        ("domain gone, re-create fails transiently: not Ready", 1, Some(ok.clone()), gone(Reason::ClerkUnavailable), "False", "ClerkUnavailable", true, false),
    ];
    for (case, generation, previous, outcome, ready, reason, reconciling, stalled) in cases {
        // The registered domain never disappears from status on a failure.
        let want_id = match &outcome {
            Outcome::Failed { domain: Some(d), .. } => Some(d.id.clone()),
            _ => previous.as_ref().and_then(|p| p.domain_id.clone()),
        };
        let st = next_status(&obj(generation, previous), &outcome, &Extras::default(), t(20));
        let r = cond(&st, "Ready");
        assert_eq!((r.status.as_str(), r.reason.as_str()), (ready, reason), "{case}");
        assert_eq!(r.observed_generation, Some(generation), "{case}");
        assert_eq!(st.observed_generation, Some(generation), "{case}");
        assert_eq!(has(&st, "Reconciling"), reconciling, "{case}");
        assert_eq!(has(&st, "Stalled"), stalled, "{case}");
        assert_eq!(cond(&st, "Synced").status, "False", "{case}");
        assert_eq!(st.domain_id, want_id, "{case}");
    }
}

/// Success after a failure clears Reconciling and Stalled.
#[test]
fn success_after_a_failure_clears_reconciling_and_stalled() {
    let d = domain();
    let synced = Outcome::Synced {
        domain: &d,
        adopted: false,
        applied_is_secondary: None,
    };
    let ok = next_status(&obj(1, None), &synced, &Extras::default(), t(10));
    let rejected = Outcome::Failed {
        reason: Reason::ClerkRejected,
        message: "clerk said no",
        domain: None,

        gone: false,
    };
    let failed = next_status(&obj(2, Some(ok)), &rejected, &Extras::default(), t(30));
    assert!(has(&failed, "Stalled"));
    let healed = next_status(&obj(2, Some(failed)), &synced, &Extras::default(), t(40));
    assert!(!has(&healed, "Reconciling") && !has(&healed, "Stalled"));
    assert_eq!(cond(&healed, "Ready").status, "True");
}

#[test]
fn extras_are_recorded_and_kept() {
    let d = domain();
    let outcome = Outcome::Synced {
        domain: &d,
        adopted: false,
        applied_is_secondary: None,
    };
    let extras = Extras {
        instance_id: Some("ins_1"),
        handled_reconcile_at: Some("now"),
        ..Default::default()
    };
    let st = next_status(&obj(1, None), &outcome, &extras, t(1));
    assert_eq!(st.instance_id.as_deref(), Some("ins_1"));
    assert_eq!(st.last_handled_reconcile_at.as_deref(), Some("now"));
    let again = next_status(&obj(1, Some(st.clone())), &outcome, &Extras::default(), t(2));
    assert_eq!(again, st);
    // Paused keeps Ready as it was.
    let paused = Outcome::Failed {
        reason: Reason::Paused,
        message: "paused",
        domain: None,

        gone: false,
    };
    let p = next_status(&obj(1, Some(st)), &paused, &Extras::default(), t(3));
    assert_eq!(cond(&p, "Ready").status, "True");
    assert_eq!(cond(&p, "Synced").reason, "Paused");
}
