//! The fake's Platform API domain readiness: what `GET …/domains/{id}/status` answers for a
//! domain, given the DNS checks started with `POST …/dns_check` and a [`PlatformRule`].
//!
//! Before any check, DNS is `not_started`; a check runs for `check_ms` (`in_progress`), then
//! DNS is `complete`, with every CNAME verified when the rule finds the records. Certificates
//! (SSL) are issued once DNS verified, unless the rule makes issuance fail; mail is required on
//! a primary domain only and follows DNS; the proxy part (only with a proxy URL) follows the
//! domain's latest proxy check. The overall status is `complete` when every required part is.

use clerk_model::platform::{CnameStatus, DnsStatus, DomainStatus, FailureHint, PartStatus, SslStatus};
use clerk_model::{Domain, ProxyCheck};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the fake's Platform API decides a domain's readiness (`PUT /__fake/platform-rule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PlatformRule {
    /// A DNS check finds every record (else none).
    pub records_found: bool,
    /// Certificate issuance fails once DNS verified.
    pub ssl_fails: bool,
    /// How long a DNS check runs, in milliseconds (0: it completes at once).
    pub check_ms: u64,
    /// After a check started, another is refused with 409 for this long, in milliseconds.
    pub cooldown_ms: u64,
}

impl Default for PlatformRule {
    fn default() -> Self {
        Self {
            records_found: true,
            ssl_fails: false,
            check_ms: 0,
            cooldown_ms: 10_000,
        }
    }
}

/// The start of a domain's latest DNS check, in Unix milliseconds.
pub type CheckStart = i64;

/// Whether a new DNS check must be refused (409): one is running or started within the
/// cooldown.
pub fn check_refused(last: Option<CheckStart>, rule: &PlatformRule, now_ms: i64) -> bool {
    let window = rule.check_ms.max(rule.cooldown_ms) as i64;
    last.is_some_and(|t| now_ms.saturating_sub(t) < window)
}

/// The readiness of `d` at `now_ms`.
pub fn domain_status(
    d: &Domain,
    last: Option<CheckStart>,
    proxy_check: Option<&ProxyCheck>,
    rule: &PlatformRule,
    now_ms: i64,
) -> DomainStatus {
    let done = last.is_some_and(|t| now_ms.saturating_sub(t) >= rule.check_ms as i64);
    let dns = dns_status(d, last.is_some(), done, rule);
    let dns_ok = done && dns.cnames.values().all(|c| c.verified || !c.required);
    let ssl = ssl_status(dns_ok, rule);
    let host = d.name.split(':').next().unwrap_or(&d.name);
    let mut ssl_hosts = BTreeMap::new();
    if d.proxy_url.is_none() {
        ssl_hosts.insert(format!("clerk.{host}"), ssl.clone());
    }
    if !d.is_satellite {
        ssl_hosts.insert(format!("accounts.{host}"), ssl.clone());
    }
    let mail = PartStatus {
        status: word(dns_ok && !d.is_satellite).into(),
        required: !d.is_satellite,
    };
    let proxy = d.proxy_url.as_ref().map(|_| PartStatus {
        status: word(proxy_check.is_some_and(|c| c.successful)).into(),
        required: true,
    });
    let parts_ok = [
        (ssl.status == "complete", ssl.required),
        (mail.status == "complete", mail.required),
        proxy
            .as_ref()
            .map_or((true, false), |p| (p.status == "complete", p.required)),
    ];
    let complete = dns_ok && parts_ok.iter().all(|(ok, required)| *ok || !required);
    DomainStatus {
        dns,
        ssl,
        ssl_hosts,
        mail: Some(mail),
        proxy,
        status: if complete { "complete" } else { "incomplete" }.into(),
    }
}

fn word(complete: bool) -> &'static str {
    if complete { "complete" } else { "not_started" }
}

fn dns_status(d: &Domain, started: bool, done: bool, rule: &PlatformRule) -> DnsStatus {
    let host = d.name.split(':').next().unwrap_or(&d.name);
    let cnames = d
        .cname_targets
        .iter()
        .flatten()
        .map(|t| {
            let sub = t
                .host
                .strip_suffix(&format!(".{host}"))
                .unwrap_or(&t.host)
                .to_string();
            let verified = done && rule.records_found;
            let hints = (done && !verified).then(|| {
                vec![FailureHint {
                    code: "cname_missing".into(),
                    message: format!("{} has no CNAME record pointing to {}", t.host, t.value),
                }]
            });
            let status = CnameStatus {
                actual: done.then(|| if verified { vec![t.value.clone()] } else { vec![] }),
                clerk_subdomain: sub.clone(),
                from: t.host.clone(),
                to: t.value.clone(),
                verified,
                required: t.required,
                failure_hints: hints,
            };
            (sub, status)
        })
        .collect();
    let status = match (started, done) {
        (false, _) => "not_started",
        (true, false) => "in_progress",
        (true, true) => "complete",
    };
    DnsStatus {
        status: status.into(),
        cnames,
    }
}

fn ssl_status(dns_ok: bool, rule: &PlatformRule) -> SslStatus {
    let (status, hints) = match (dns_ok, rule.ssl_fails) {
        (false, _) => ("not_started", None),
        (true, true) => (
            "failed",
            Some(vec![FailureHint {
                code: "ssl_issuance_failed".into(),
                message: "the certificate authority refused to issue a certificate (CAA record?)".into(),
            }]),
        ),
        (true, false) => ("complete", None),
    };
    SslStatus {
        status: status.into(),
        required: true,
        failure_hints: hints,
    }
}

#[cfg(test)]
mod tests;
