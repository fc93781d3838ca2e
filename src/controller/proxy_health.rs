//! Proxy health (with `--frontend-api-check`, on production domains with `spec.proxyUrl`):
//! `GET <spec.proxyUrl>/v1/proxy-health?domain_id=<id>` through the user's proxy, on the schedule
//! and bound of the other probes ([`probes`](super::probes)). It adds to `ProxyVerified`'s
//! message, whose status and reason stay Clerk's own proxy check ([`proxy`](super::proxy)):
//! the `X-Forwarded-For` value Clerk saw, with a warning when it is no end user's address (a
//! private, loopback, link-local, CGNAT or unique-local address, or a CDN's edge), or why the
//! probe failed. It never fails the condition and never changes `Ready`. A changed report is
//! announced with an Event: Warning for a suspect address or a failed probe, Normal otherwise.

use super::Context;
use super::events::EventType;
use super::memory::Probe;
use super::probes;
use super::proxy::ProxyStep;
use super::reason::Reason;
use crate::api::{ClerkDomain, condition_type};
use crate::clerk::Domain;
use crate::frontend_api::ProxyHealth;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use std::time::Duration;

/// Separates Clerk's verdict from the probe's report in `ProxyVerified`'s message.
const MARK: &str = "; proxy health: ";

/// What the probe did this reconcile.
pub(crate) enum ProbeStep {
    /// Off (no `--frontend-api-check`, no proxy, not production): no report.
    Off,
    /// Not due: the report stays as it is.
    NotDue,
    /// Probed now.
    Probed {
        health: ProxyHealth,
        report: String,
        recheck: Option<Duration>,
    },
}

/// Probe `obj`'s proxy when due.
pub(crate) async fn probe(
    ctx: &Context,
    obj: &ClerkDomain,
    domain: &Domain,
    production: bool,
    forced: bool,
) -> ProbeStep {
    let proxy_url = obj.spec.proxy_url.as_deref().filter(|p| !p.is_empty());
    let (Some(prober), true, Some(proxy_url)) = (&ctx.frontend, production, proxy_url) else {
        return ProbeStep::Off;
    };
    let key = super::steps::key(obj);
    let previous = previous(obj);
    let fresh = previous
        .is_some_and(|c| c.observed_generation == obj.metadata.generation && c.message.contains(MARK));
    if !probes::due(ctx, &key, Probe::ProxyHealth, fresh, forced) {
        return ProbeStep::NotDue;
    }
    let limit = prober.timeout();
    let (url, health) = probes::bounded(limit, prober.proxy_health(proxy_url, &domain.id), || {
        let url = crate::frontend_api::proxy_health::url(proxy_url, &domain.id)
            .map_or_else(|_| proxy_url.to_string(), String::from);
        (
            url,
            ProxyHealth::Unreachable(format!("no answer within {}s", limit.as_secs())),
        )
    })
    .await;
    let ok = matches!(health, ProxyHealth::Healthy { .. });
    let recheck = probes::probed(ctx, &key, Probe::ProxyHealth, ok);
    if let Some(delay) = recheck {
        tracing::info!(object = %key, retry_in_secs = delay.as_secs(), "proxy health probe failed");
    }
    ProbeStep::Probed {
        report: health.message(&url),
        health,
        recheck,
    }
}

/// `obj`'s current `ProxyVerified` condition.
fn previous(obj: &ClerkDomain) -> Option<&Condition> {
    obj.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == condition_type::PROXY_VERIFIED)
    })
}

/// The probe's report in a `ProxyVerified` message, if any.
fn report_of(message: &str) -> Option<&str> {
    message.split_once(MARK).map(|(_, r)| r)
}

/// Put the probe's report into the condition of `step` (Clerk's verdict): the new report when
/// probed, the previous one when not due, none when off.
pub(crate) fn merge(step: ProxyStep, obj: &ClerkDomain, probe: &ProbeStep) -> ProxyStep {
    let old = previous(obj)
        .and_then(|c| report_of(&c.message))
        .map(str::to_string);
    let with = |mut c: Condition| {
        let verdict = c.message.split_once(MARK).map_or(c.message.as_str(), |(v, _)| v);
        let report = match probe {
            ProbeStep::Off => None,
            ProbeStep::NotDue => old.clone(),
            ProbeStep::Probed { report, .. } => Some(report.clone()),
        };
        c.message = match report {
            Some(r) => format!("{verdict}{MARK}{r}"),
            None => verdict.to_string(),
        };
        c
    };
    match step {
        ProxyStep::Drop => ProxyStep::Drop,
        ProxyStep::Keep(c) => ProxyStep::Keep(c.map(with)),
        ProxyStep::Checked {
            condition,
            checked_at,
        } => ProxyStep::Checked {
            condition: with(condition),
            checked_at,
        },
    }
}

/// An Event when the probe's report changed: Warning for a suspect forwarded address or a
/// failed probe, Normal for a public address.
pub(crate) async fn announce(ctx: &Context, obj: &ClerkDomain, probe: &ProbeStep) {
    let ProbeStep::Probed { health, report, .. } = probe else {
        return;
    };
    if previous(obj).and_then(|c| report_of(&c.message)) == Some(report.as_str()) {
        return;
    }
    let (type_, reason) = match health.forwarded() {
        Some(f) if f.is_suspect() => (EventType::Warning, Reason::ProxyForwardedAddressSuspect),
        Some(_) => (EventType::Normal, Reason::ProxyHealthy),
        None => (EventType::Warning, Reason::ProxyHealthFailed),
    };
    super::events::publish(
        ctx,
        obj,
        type_,
        reason.as_str(),
        "ProxyHealthCheck",
        report.clone(),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::condition;

    fn with_message(message: &str) -> ClerkDomain {
        let mut obj = ClerkDomain::new("d", crate::api::ClerkDomainSpec::for_domain("a.example.com"));
        obj.metadata.generation = Some(1);
        let c = condition(
            condition_type::PROXY_VERIFIED,
            true,
            "ProxyWorks",
            message,
            Some(1),
            jiff::Timestamp::UNIX_EPOCH,
        );
        obj.status = Some(crate::api::ClerkDomainStatus {
            conditions: vec![c].into_iter().collect(),
            ..Default::default()
        });
        obj
    }

    fn message(step: &ProxyStep) -> String {
        match step {
            ProxyStep::Keep(Some(c)) | ProxyStep::Checked { condition: c, .. } => c.message.clone(),
            _ => panic!("no condition"),
        }
    }

    #[test]
    fn the_report_follows_clerks_verdict_and_is_kept_while_not_due() {
        let obj = with_message("Clerk reached it; proxy health: old report");
        let kept = previous(&obj).cloned();
        let probed = ProbeStep::Probed {
            health: ProxyHealth::Unreachable("x".into()),
            report: "new report".into(),
            recheck: None,
        };
        let keep = || ProxyStep::Keep(kept.clone());
        assert_eq!(
            message(&merge(keep(), &obj, &probed)),
            "Clerk reached it; proxy health: new report"
        );
        assert_eq!(
            message(&merge(keep(), &obj, &ProbeStep::NotDue)),
            "Clerk reached it; proxy health: old report"
        );
        assert_eq!(message(&merge(keep(), &obj, &ProbeStep::Off)), "Clerk reached it");
        // A new verdict from Clerk keeps the report that is not due.
        let fresh = condition(
            condition_type::PROXY_VERIFIED,
            false,
            "ProxyFailed",
            "Clerk could not",
            Some(1),
            jiff::Timestamp::UNIX_EPOCH,
        );
        let checked = ProxyStep::Checked {
            condition: fresh,
            checked_at: String::new(),
        };
        assert_eq!(
            message(&merge(checked, &obj, &ProbeStep::NotDue)),
            "Clerk could not; proxy health: old report"
        );
    }
}
