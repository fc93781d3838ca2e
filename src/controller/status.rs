//! The status the operator wants an object to have, computed purely from what happened.

use crate::api::{ClerkDomain, ClerkDomainStatus, CnameTarget, condition, condition_type, set_condition};
use crate::clerk::Domain;

/// The result of one reconcile, as far as status is concerned.
#[derive(Clone, Debug)]
pub enum Outcome<'a> {
    /// Clerk matches the spec.
    Synced {
        domain: &'a Domain,
        adopted: bool,
        applied_is_secondary: Option<bool>,
    },
    /// Something failed; `domain` is what Clerk last reported, if anything.
    Failed {
        reason: &'a str,
        message: &'a str,
        domain: Option<&'a Domain>,
    },
}

/// Facts recorded alongside any outcome; `None` keeps what status already says.
#[derive(Clone, Debug, Default)]
pub struct Extras<'a> {
    /// `status.instanceId`.
    pub instance_id: Option<&'a str>,
    /// `status.lastHandledReconcileAt`.
    pub handled_reconcile_at: Option<&'a str>,
    /// `status.pendingDomain`, recorded before a create whose answer was not seen.
    pub pending_domain: Option<&'a str>,
    /// More conditions to set (DNS automation), and condition types to drop.
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    pub drop_conditions: Vec<&'static str>,
}

/// The next status of `obj` after `outcome`. Equal to the current status when nothing changed,
/// so the caller can skip the write (`lastTransitionTime` only moves when a status flips).
pub fn next_status(
    obj: &ClerkDomain,
    outcome: &Outcome<'_>,
    extras: &Extras<'_>,
    now: jiff::Timestamp,
) -> ClerkDomainStatus {
    let old = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let mut st = old.clone();
    st.observed_generation = generation;
    if let Some(id) = extras.instance_id {
        st.instance_id = Some(id.to_string());
    }
    if let Some(at) = extras.handled_reconcile_at {
        st.last_handled_reconcile_at = Some(at.to_string());
    }
    if let Some(p) = extras.pending_domain {
        st.pending_domain = Some(p.to_string());
    }
    for c in &extras.conditions {
        set_condition(&mut st.conditions, c.clone());
    }
    st.conditions
        .retain(|c| !extras.drop_conditions.contains(&c.type_.as_str()));

    match outcome {
        Outcome::Synced {
            domain,
            adopted,
            applied_is_secondary,
        } => {
            fill_from_domain(&mut st, domain);
            st.pending_domain = None;
            if *adopted {
                st.adopted = Some(true);
            }
            st.applied_is_secondary = *applied_is_secondary;
            let ready = condition(
                condition_type::READY,
                true,
                "Registered",
                format!("Domain {} is registered in Clerk", domain.id),
                generation,
                now,
            );
            set_condition(&mut st.conditions, ready);
            let synced = condition(
                condition_type::SYNCED,
                true,
                "InSync",
                "Clerk matches the spec",
                generation,
                now,
            );
            set_condition(&mut st.conditions, synced);
        }
        Outcome::Failed {
            reason,
            message,
            domain,
        } => {
            if let Some(d) = domain {
                fill_from_domain(&mut st, d);
                let ready = condition(
                    condition_type::READY,
                    true,
                    "Registered",
                    format!("Domain {} is registered in Clerk", d.id),
                    generation,
                    now,
                );
                set_condition(&mut st.conditions, ready);
            } else {
                let was_ready = old
                    .conditions
                    .iter()
                    .any(|c| c.type_ == condition_type::READY && c.status == "True");
                if !(was_ready && old.domain_id.is_some() && is_transient_reason(reason)) {
                    let ready = condition(condition_type::READY, false, reason, *message, generation, now);
                    set_condition(&mut st.conditions, ready);
                } else if let Some(c) = st
                    .conditions
                    .iter_mut()
                    .find(|c| c.type_ == condition_type::READY)
                {
                    c.observed_generation = generation;
                }
            }
            let synced = condition(condition_type::SYNCED, false, reason, *message, generation, now);
            set_condition(&mut st.conditions, synced);
        }
    }
    st
}

/// Reasons for which the last known registration still holds (Clerk could not be asked).
fn is_transient_reason(reason: &str) -> bool {
    matches!(
        reason,
        "ClerkUnreachable" | "ClerkUnavailable" | "ClerkRateLimited" | "CredentialsUnreadable" | "Paused"
    )
}

fn fill_from_domain(st: &mut ClerkDomainStatus, d: &Domain) {
    st.domain_id = Some(d.id.clone());
    st.domain = Some(d.name.clone());
    st.cname_targets = d
        .cname_targets
        .iter()
        .flatten()
        .map(|t| CnameTarget {
            host: t.host.clone(),
            value: t.value.clone(),
            required: t.required,
        })
        .collect();
    st.frontend_api_url = non_empty(&d.frontend_api_url);
    st.accounts_portal_url = d.accounts_portal_url.as_deref().and_then(non_empty);
    st.development_origin = non_empty(&d.development_origin);
    st.proxy_url = d.proxy_url.as_deref().and_then(non_empty);
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
