use super::*;
use crate::api::{ClerkDomainSpec, DeletionPolicy};
use crate::clerk::CnameTarget as ClerkTarget;

fn obj(generation: i64, status: Option<ClerkDomainStatus>) -> ClerkDomain {
    let mut o = ClerkDomain::new(
        "a",
        ClerkDomainSpec {
            domain: "a.example.com".into(),
            is_satellite: true,
            proxy_url: None,
            is_secondary: None,
            secret_ref: None,
            deletion_policy: DeletionPolicy::Delete,
            dns: None,
        },
    );
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

#[test]
fn failures_keep_ready_only_while_it_is_known_true() {
    let d = domain();
    let ok = next_status(
        &obj(1, None),
        &Outcome::Synced {
            domain: &d,
            adopted: true,
            applied_is_secondary: None,
        },
        &Extras::default(),
        t(10),
    );
    assert_eq!(ok.adopted, Some(true));
    // Clerk unreachable: registration still holds, Synced flips.
    let down = Outcome::Failed {
        reason: "ClerkUnreachable",
        message: "connection refused",
        domain: None,
    };
    let st = next_status(&obj(1, Some(ok.clone())), &down, &Extras::default(), t(20));
    assert_eq!(cond(&st, "Ready").status, "True");
    assert_eq!(cond(&st, "Synced").status, "False");
    assert_eq!(cond(&st, "Synced").reason, "ClerkUnreachable");
    assert_eq!(
        cond(&st, "Synced").last_transition_time,
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(20))
    );
    // Wrong key: we no longer know; Ready goes False with the reason.
    let bad = Outcome::Failed {
        reason: "ClerkUnauthorized",
        message: "key is invalid",
        domain: None,
    };
    let st = next_status(&obj(1, Some(ok.clone())), &bad, &Extras::default(), t(30));
    assert_eq!(cond(&st, "Ready").status, "False");
    assert_eq!(cond(&st, "Ready").reason, "ClerkUnauthorized");
    // A failed PATCH with the domain in hand: Ready stays True and fields refresh.
    let patch_failed = Outcome::Failed {
        reason: "ClerkRejected",
        message: "bad",
        domain: Some(&d),
    };
    let st = next_status(&obj(2, Some(ok)), &patch_failed, &Extras::default(), t(40));
    assert_eq!(cond(&st, "Ready").status, "True");
    assert_eq!(cond(&st, "Synced").message, "bad");
    // Never registered and failing: Ready False.
    let st = next_status(&obj(1, None), &down, &Extras::default(), t(50));
    assert_eq!(cond(&st, "Ready").status, "False");
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
        pending_domain: None,
        ..Default::default()
    };
    let st = next_status(&obj(1, None), &outcome, &extras, t(1));
    assert_eq!(st.instance_id.as_deref(), Some("ins_1"));
    assert_eq!(st.last_handled_reconcile_at.as_deref(), Some("now"));
    let again = next_status(&obj(1, Some(st.clone())), &outcome, &Extras::default(), t(2));
    assert_eq!(again, st);
    // Paused keeps Ready as it was.
    let paused = Outcome::Failed {
        reason: "Paused",
        message: "paused",
        domain: None,
    };
    let p = next_status(&obj(1, Some(st)), &paused, &Extras::default(), t(3));
    assert_eq!(cond(&p, "Ready").status, "True");
    assert_eq!(cond(&p, "Synced").reason, "Paused");
}
