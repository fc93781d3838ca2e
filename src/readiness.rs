//! `clerk-operator status` (also `kubectl clerk status`): what the cluster says about each
//! ClerkDomain's readiness, as Clerk's `deploy status` shows it: one row per check (registration,
//! DNS, SSL, email, proxy, Frontend API) and the DNS records still missing. It reads ClerkDomains
//! from the cluster only; it never talks to Clerk.
//!
//! A row reads the conditions the operator wrote (DNS: `DNSVerified` and, with Clerk's Platform
//! API, `ClerkDNSVerified`; SSL: `SSLIssued`; Email: `MailVerified`; Proxy: `ProxyVerified` and
//! `ClerkProxyVerified`). A row whose conditions are absent is "not
//! checked" and does not count; the command fails (exit 1) when the domain is not registered
//! for its current generation or a present check is False or Unknown.

use crate::api::{ClerkDomain, DnsSpec, condition_type};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;

pub mod command;
mod zone;

pub use zone::{ZONE_TTL, zone_fragment};

/// The readiness of one ClerkDomain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainReport {
    pub namespace: String,
    pub name: String,
    /// `spec.domain`.
    pub domain: String,
    /// True when every check that ran passes and the domain is registered.
    pub passed: bool,
    pub checks: Vec<Check>,
    /// Records that did not verify or were not checked (required ones first).
    pub missing_records: Vec<MissingRecord>,
}

/// One row: a check and what the conditions behind it say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// `Registered`, `DNS`, `SSL`, `Email`, `Proxy` or `Frontend API`.
    pub name: &'static str,
    pub state: State,
    /// The condition's reason and message (the first failing one, else the first present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a row says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Every condition behind it is True.
    Pass,
    /// A condition behind it is False.
    Fail,
    /// A condition is Unknown, or describes an older generation.
    Pending,
    /// No condition behind it is present (the check is off or does not apply).
    NotChecked,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Pass => "ok",
            State::Fail => "FAILED",
            State::Pending => "pending",
            State::NotChecked => "-",
        }
    }
}

/// A record Clerk expects that is not known to be in place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingRecord {
    pub host: String,
    pub record_type: String,
    pub value: String,
    pub required: bool,
    /// What verification found; absent when the record was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The rows: each check's name and the condition types behind it.
const ROWS: [(&str, &[&str]); 6] = [
    ("Registered", &[condition_type::READY]),
    (
        "DNS",
        &[condition_type::DNS_VERIFIED, condition_type::CLERK_DNS_VERIFIED],
    ),
    ("SSL", &[condition_type::SSL_ISSUED]),
    ("Email", &[condition_type::MAIL_VERIFIED]),
    (
        "Proxy",
        &[
            condition_type::PROXY_VERIFIED,
            condition_type::CLERK_PROXY_VERIFIED,
        ],
    ),
    ("Frontend API", &[condition_type::FRONTEND_API_REACHABLE]),
];

/// The report of one ClerkDomain as stored in the cluster.
pub fn report(obj: &ClerkDomain) -> DomainReport {
    let conditions: &[Condition] = obj.status.as_ref().map_or(&[], |s| &s.conditions);
    let generation = obj.metadata.generation;
    let checks: Vec<Check> = ROWS
        .iter()
        .map(|(name, types)| check(name, types, conditions, generation))
        .collect();
    let registered = checks[0].state == State::Pass;
    let passed = registered
        && checks
            .iter()
            .all(|c| matches!(c.state, State::Pass | State::NotChecked));
    DomainReport {
        namespace: obj.metadata.namespace.clone().unwrap_or_default(),
        name: obj.metadata.name.clone().unwrap_or_default(),
        domain: obj.spec.domain.clone(),
        passed,
        checks,
        missing_records: missing(obj, conditions),
    }
}

fn check(name: &'static str, types: &[&str], conditions: &[Condition], generation: Option<i64>) -> Check {
    let present: Vec<&Condition> = conditions
        .iter()
        .filter(|c| types.contains(&c.type_.as_str()))
        .collect();
    // Clerk's Platform API still checking is pending, not failed.
    let checking = |c: &Condition| matches!(c.reason.as_str(), "ClerkCheckPending" | "ClerkCheckRunning");
    let state_of = |c: &Condition| match c.status.as_str() {
        "False" if checking(c) => State::Pending,
        "False" => State::Fail,
        "True" if c.observed_generation.is_none() || c.observed_generation == generation => State::Pass,
        _ => State::Pending,
    };
    let worst = present
        .iter()
        .map(|c| (state_of(c), *c))
        .min_by_key(|(s, _)| match s {
            State::Fail => 0,
            State::Pending => 1,
            _ => 2,
        });
    match worst {
        None => Check {
            name,
            state: State::NotChecked,
            reason: None,
            message: None,
        },
        Some((state, c)) => Check {
            name,
            state,
            reason: Some(c.reason.clone()),
            message: Some(c.message.clone()),
        },
    }
}

/// The records that did not verify (with the problem found) and those not checked: every
/// record when DNS verification did not run, else the required ones of a type the spec does not
/// publish. Required first, then in status order.
fn missing(obj: &ClerkDomain, conditions: &[Condition]) -> Vec<MissingRecord> {
    let Some(st) = obj.status.as_ref() else {
        return vec![];
    };
    let verified = conditions.iter().any(|c| c.type_ == condition_type::DNS_VERIFIED);
    let types = DnsSpec::record_types(obj.spec.dns.as_ref());
    let mut out: Vec<MissingRecord> = records_of(st)
        .into_iter()
        .filter(|r| {
            let checked = verified && types.iter().any(|t| t.eq_ignore_ascii_case(&r.record_type));
            r.problem.is_some() || !checked
        })
        .collect();
    out.sort_by_key(|r| !r.required);
    out
}

/// `status.dnsRecords`, or `status.cnameTargets` as CNAMEs when an older operator wrote status.
fn records_of(st: &crate::api::ClerkDomainStatus) -> Vec<MissingRecord> {
    if st.dns_records.is_empty() {
        return st
            .cname_targets
            .iter()
            .map(|t| MissingRecord {
                host: t.host.clone(),
                record_type: "CNAME".into(),
                value: t.value.clone(),
                required: t.required,
                problem: None,
            })
            .collect();
    }
    st.dns_records
        .iter()
        .map(|r| MissingRecord {
            host: r.host.clone(),
            record_type: r.record_type.clone(),
            value: r.value.clone(),
            required: r.required,
            problem: r.problem.clone(),
        })
        .collect()
}

/// The reports as a table, one block per domain.
pub fn table(reports: &[DomainReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let verdict = if r.passed { "ready" } else { "NOT READY" };
        out.push_str(&format!("{}/{}  {}  {verdict}\n", r.namespace, r.name, r.domain));
        for c in &r.checks {
            let detail = match (&c.reason, &c.message) {
                (Some(reason), Some(m)) if !m.is_empty() => format!("{reason}: {m}"),
                (Some(reason), _) => reason.clone(),
                _ => "not checked".into(),
            };
            out.push_str(&format!("  {:<13} {:<8} {detail}\n", c.name, c.state.word()));
        }
        if !r.missing_records.is_empty() {
            out.push_str("  Records still missing or not checked:\n");
            for m in &r.missing_records {
                let required = if m.required { "required" } else { "optional" };
                let problem = m.problem.as_deref().unwrap_or("not checked");
                out.push_str(&format!(
                    "    {} {} {:?} ({required}): {problem}\n",
                    m.record_type, m.host, m.value
                ));
            }
        }
        out.push('\n');
    }
    out
}

/// Whether every report passed (the exit code: 0 when true).
pub fn all_passed(reports: &[DomainReport]) -> bool {
    reports.iter().all(|r| r.passed)
}

#[cfg(test)]
mod tests;
