//! The status the operator wants an object to have, computed purely from what happened.

use super::reason::{Class, Reason};
use crate::api::{
    ClerkDomain, ClerkDomainStatus, CnameTarget, DnsRecord, condition, condition_type, set_condition,
};
use crate::clerk::Domain;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The result of one reconcile, as far as status is concerned.
#[derive(Clone, Debug)]
pub enum Outcome<'a> {
    /// Clerk matches the spec.
    Synced {
        domain: &'a Domain,
        adopted: bool,
        applied_is_secondary: Option<bool>,
    },
    /// Something failed; `domain` is the domain the object owns as Clerk last reported it.
    /// `gone`: Clerk no longer holds the domain the status records (a re-create failed).
    Failed {
        reason: Reason,
        message: &'a str,
        domain: Option<&'a Domain>,
        gone: bool,
    },
}

/// Facts recorded alongside any outcome; `None` keeps what status already says.
#[derive(Clone, Debug, Default)]
pub struct Extras<'a> {
    /// `status.instanceId`.
    pub instance_id: Option<&'a str>,
    /// `status.lastHandledReconcileAt`.
    pub handled_reconcile_at: Option<&'a str>,
    /// `status.pendingDomain`: `Some(Some(name))` records a create about to be sent,
    /// `Some(None)` clears it (Clerk answered definitively).
    pub pending_domain: Option<Option<&'a str>>,
    /// `status.lastProxyCheckTime`.
    pub proxy_checked_at: Option<String>,
    /// More conditions to set (DNS automation), and condition types to drop.
    pub conditions: Vec<Condition>,
    pub drop_conditions: Vec<&'static str>,
    /// `status.exportedConfigMap`: `Some(None)` clears it.
    pub exported_config_map: Option<Option<String>>,
    /// What DNS verification found wrong, as `(host, problem)`: sets `problem` of the required
    /// records at those hosts and clears it elsewhere. `None` keeps what status says.
    pub record_problems: Option<Vec<(String, String)>>,
}

/// The next status of `obj` after `outcome`. Equal to the current status when nothing changed,
/// so the caller can skip the write (`lastTransitionTime` only moves when a status flips).
///
/// The conditions, as kstatus (Flux) and Argo CD read them:
/// - `Ready=True` only when the domain exists on the pinned instance and Clerk matches the spec
///   of `metadata.generation`; a failure to create it again after it vanished sets it False. A failure keeps `Ready=True` only if that generation was already
///   applied; otherwise `Ready=False` (`UpdatePending` when a domain is registered, whose ID and
///   records stay in status).
/// - `Synced`: the last attempt's result, with Clerk's words when it failed.
/// - `Reconciling=True` while a transient failure is retried with backoff; `Stalled=True` when
///   retrying cannot help. Neither is present otherwise.
pub fn next_status(
    obj: &ClerkDomain,
    outcome: &Outcome<'_>,
    extras: &Extras<'_>,
    now: jiff::Timestamp,
) -> ClerkDomainStatus {
    let old = obj.status.clone().unwrap_or_default();
    let mut st = with_extras(old.clone(), extras);
    st.observed_generation = obj.metadata.generation;
    let mut conditions = Conditions {
        st: &mut st,
        generation: obj.metadata.generation,
        now,
    };
    match outcome {
        Outcome::Synced {
            domain,
            adopted,
            applied_is_secondary,
        } => conditions.synced(domain, *adopted, *applied_is_secondary),
        Outcome::Failed {
            reason,
            message,
            domain,
            gone,
        } => conditions.failed(&old, (*reason, message), *domain, *gone),
    }
    mark_problems(&mut st, &old, extras.record_problems.as_deref());
    st
}

/// `problem` of each record: from this verification when it ran, else as it was (by host and
/// type); only required records carry one.
fn mark_problems(st: &mut ClerkDomainStatus, old: &ClerkDomainStatus, problems: Option<&[(String, String)]>) {
    let same = |a: &str, b: &str| crate::dns::normalize_name(a) == crate::dns::normalize_name(b);
    for r in &mut st.dns_records {
        r.problem = match problems {
            Some(found) => found
                .iter()
                .find(|(host, _)| r.required && same(host, &r.host))
                .map(|(_, p)| p.clone()),
            None => old
                .dns_records
                .iter()
                .find(|o| same(&o.host, &r.host) && o.record_type == r.record_type && o.value == r.value)
                .and_then(|o| o.problem.clone())
                .filter(|_| r.required),
        };
    }
}

/// `old` with what the reconcile found besides its outcome.
fn with_extras(mut st: ClerkDomainStatus, extras: &Extras<'_>) -> ClerkDomainStatus {
    if let Some(id) = extras.instance_id {
        st.instance_id = Some(id.to_string());
    }
    if let Some(at) = extras.handled_reconcile_at {
        st.last_handled_reconcile_at = Some(at.to_string());
    }
    if let Some(p) = extras.pending_domain {
        st.pending_domain = p.map(str::to_string);
    }
    if let Some(at) = &extras.proxy_checked_at {
        st.last_proxy_check_time = Some(at.clone());
    }
    if let Some(cm) = &extras.exported_config_map {
        st.exported_config_map = cm.clone();
    }
    for c in &extras.conditions {
        set_condition(&mut st.conditions, c.clone());
    }
    st.conditions
        .retain(|c| !extras.drop_conditions.contains(&c.type_.as_str()));
    st
}

/// The outcome's conditions, written into a status for one generation at one time.
struct Conditions<'s> {
    st: &'s mut ClerkDomainStatus,
    generation: Option<i64>,
    now: jiff::Timestamp,
}

impl Conditions<'_> {
    fn set(&mut self, type_: &str, ok: bool, reason: Reason, message: &str) {
        let c = condition(type_, ok, reason.as_str(), message, self.generation, self.now);
        set_condition(&mut self.st.conditions, c);
    }

    fn drop(&mut self, type_: &str) {
        self.st.conditions.retain(|c| c.type_ != type_);
    }

    fn synced(&mut self, domain: &Domain, adopted: bool, applied_is_secondary: Option<bool>) {
        // Another domain than the recorded one, not adopted: the object created it.
        if adopted {
            self.st.adopted = Some(true);
        } else if self.st.domain_id.as_deref() != Some(domain.id.as_str()) {
            self.st.adopted = None;
        }
        fill_from_domain(self.st, domain);
        self.st.pending_domain = None;
        self.st.applied_is_secondary = applied_is_secondary;
        let message = format!("Domain {} is registered in Clerk and matches the spec", domain.id);
        self.set(condition_type::READY, true, Reason::Registered, &message);
        self.set(
            condition_type::SYNCED,
            true,
            Reason::InSync,
            "Clerk matches the spec",
        );
        self.drop(condition_type::RECONCILING);
        self.drop(condition_type::STALLED);
    }

    fn failed(
        &mut self,
        old: &ClerkDomainStatus,
        (reason, message): (Reason, &str),
        domain: Option<&Domain>,
        gone: bool,
    ) {
        if let Some(d) = domain {
            fill_from_domain(self.st, d);
        }
        let generation = self.generation;
        let applied = old.conditions.iter().any(|c| {
            c.type_ == condition_type::READY && c.status == "True" && c.observed_generation == generation
        });
        let class = reason.class();
        if gone {
            // Ready only while Clerk holds the object's domain.
            let id = old.domain_id.as_deref().unwrap_or("(none)");
            let m = format!("Clerk no longer holds domain {id}; creating it again failed: {message}");
            self.set(condition_type::READY, false, reason, &m);
        } else if applied && class != Class::Terminal {
            // The current generation is realized; only this attempt failed.
            let ready = self
                .st
                .conditions
                .iter_mut()
                .find(|c| c.type_ == condition_type::READY);
            if let Some(c) = ready {
                c.observed_generation = generation;
            }
        } else if self.st.domain_id.is_some() && class == Class::Transient {
            let g = generation.unwrap_or_default();
            let m = format!("generation {g} is not applied in Clerk yet: {message}");
            self.set(condition_type::READY, false, Reason::UpdatePending, &m);
        } else {
            self.set(condition_type::READY, false, reason, message);
        }
        self.set(condition_type::SYNCED, false, reason, message);
        match class {
            Class::Terminal => {
                self.set(condition_type::STALLED, true, reason, message);
                self.drop(condition_type::RECONCILING);
            }
            Class::Transient => {
                self.set(condition_type::RECONCILING, true, reason, message);
                self.drop(condition_type::STALLED);
            }
            Class::Ok | Class::Paused | Class::Check => {
                self.drop(condition_type::RECONCILING);
                self.drop(condition_type::STALLED);
            }
        }
    }
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
    st.dns_records = d
        .records()
        .into_iter()
        .map(|t| DnsRecord {
            host: t.host,
            record_type: t.record_type,
            value: t.value,
            required: t.required,
            automation_disposition: t.automation_disposition,
            problem: None,
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
mod tests;
