//! `FrontendAPIReachable` (with `--frontend-api-check`): the Frontend API's health endpoint over
//! the domain's own host, probed on every resync while healthy and with backoff (15 s, 30 s,
//! 1 min, ... up to the resync period) while not, each probe bounded by the prober's timeout
//! (see [`probes`](super::probes)). It informs: it never changes `Ready`. A changed verdict is
//! announced with an Event.

use super::Context;
use super::memory::Probe;
use super::probes;
use super::reason::Reason;
use crate::api::{ClerkDomain, condition, condition_type};
use crate::clerk::Domain;
use crate::frontend_api::Health;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use std::time::Duration;

/// What the step decided.
pub(crate) enum FrontendStep {
    /// The check is off or does not apply: drop the condition.
    Drop,
    /// Not due: keep the condition as it is.
    Keep,
    /// Probed now: this condition, and the next look (sooner than the resync while failing).
    Probed {
        condition: Condition,
        recheck: Option<Duration>,
    },
}

/// The Frontend API host Clerk reports for `domain` (`frontend_api_url`'s host) and the target
/// of its CNAME record; `None` for proxied domains (their Frontend API is the proxy) and
/// without a URL.
pub(crate) fn host_of(domain: &Domain) -> Option<(String, Option<String>)> {
    if domain.proxy_url.as_deref().is_some_and(|p| !p.is_empty()) {
        return None;
    }
    let url = url::Url::parse(&domain.frontend_api_url).ok()?;
    let host = url.host_str()?.to_string();
    let same = |h: &str| crate::dns::normalize_name(h) == crate::dns::normalize_name(&host);
    let target = domain
        .records()
        .into_iter()
        .find(|t| t.is_type("CNAME") && same(&t.host))
        .map(|t| t.value);
    Some((host, target))
}

/// `FrontendAPIReachable` for `obj` on a production instance.
pub(crate) async fn frontend(
    ctx: &Context,
    obj: &ClerkDomain,
    domain: &Domain,
    production: bool,
    forced: bool,
) -> FrontendStep {
    let (Some(prober), true, Some((host, target))) = (&ctx.frontend, production, host_of(domain)) else {
        return FrontendStep::Drop;
    };
    let key = super::steps::key(obj);
    let generation = obj.metadata.generation;
    let previous = obj.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == condition_type::FRONTEND_API_REACHABLE)
    });
    let fresh = previous.is_some_and(|c| c.observed_generation == generation);
    if !probes::due(ctx, &key, Probe::FrontendApi, fresh, forced) {
        return FrontendStep::Keep;
    }
    let limit = prober.timeout();
    let health = probes::bounded(limit, prober.probe(&host, target.as_deref()), || {
        Health::Unreachable(format!("no answer within {}s", limit.as_secs()))
    })
    .await;
    let url = prober.url(&host);
    let recheck = probes::probed(ctx, &key, Probe::FrontendApi, health.is_healthy());
    if let Some(delay) = recheck {
        tracing::info!(object = %key, reason = %reason(&health), retry_in_secs = delay.as_secs(), "Frontend API not reachable");
    }
    let condition = condition(
        condition_type::FRONTEND_API_REACHABLE,
        health.is_healthy(),
        reason(&health).as_str(),
        health.message(&url),
        generation,
        jiff::Timestamp::now(),
    );
    announce(ctx, obj, previous, &condition).await;
    FrontendStep::Probed { condition, recheck }
}

/// An Event when the verdict changes (status or reason): Normal when healthy, Warning when not.
async fn announce(ctx: &Context, obj: &ClerkDomain, previous: Option<&Condition>, now: &Condition) {
    if previous.is_some_and(|p| p.status == now.status && p.reason == now.reason) {
        return;
    }
    let type_ = if now.status == "True" {
        super::events::EventType::Normal
    } else {
        super::events::EventType::Warning
    };
    super::events::publish(
        ctx,
        obj,
        type_,
        &now.reason,
        "FrontendAPICheck",
        now.message.clone(),
    )
    .await;
}

/// The condition's reason for what the probe found.
pub(crate) fn reason(health: &Health) -> Reason {
    match health {
        Health::Healthy => Reason::FrontendAPIHealthy,
        Health::Unhealthy { .. } => Reason::FrontendAPIUnhealthy,
        Health::TargetUnresolved { .. } => Reason::FrontendAPITargetUnresolved,
        Health::RecordMissing => Reason::FrontendAPIRecordMissing,
        Health::RecordWrong { .. } => Reason::FrontendAPIRecordWrong,
        Health::Certificate(_) => Reason::FrontendAPICertificateInvalid,
        Health::WrongAnswer(_) => Reason::FrontendAPIWrongAnswer,
        Health::Unreachable(_) => Reason::FrontendAPIUnreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(frontend_api_url: &str, proxy_url: Option<&str>) -> Domain {
        serde_json::from_value(serde_json::json!({
            "object": "domain", "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
            "frontend_api_url": frontend_api_url, "development_origin": "",
            "proxy_url": proxy_url,
            "cname_targets": [
                {"host": "clerk.a.example.com", "value": "frontend-api.clerk.services", "required": true},
                {"host": "clkmail.a.example.com", "value": "mail.x.clerk.services", "required": true}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn the_host_is_clerks_frontend_api_host_with_its_cname_target() {
        assert_eq!(
            host_of(&domain("https://clerk.a.example.com", None)),
            Some((
                "clerk.a.example.com".into(),
                Some("frontend-api.clerk.services".into())
            ))
        );
        // A host without a CNAME record of Clerk's: probed, no target to compare with.
        assert_eq!(
            host_of(&domain("https://x.clerk.accounts.dev", None)),
            Some(("x.clerk.accounts.dev".into(), None))
        );
        // Proxied: the Frontend API is the proxy (its own probe), not probed here.
        assert_eq!(
            host_of(&domain(
                "https://a.example.com/__clerk",
                Some("https://a.example.com/__clerk")
            )),
            None
        );
        assert_eq!(host_of(&domain("", None)), None);
    }

    #[test]
    fn each_outcome_has_its_own_reason_and_none_touches_health() {
        use super::super::reason::Class;
        let outcomes = [
            Health::Healthy,
            Health::Unhealthy {
                status: 503,
                message: "x".into(),
            },
            Health::TargetUnresolved { target: "t".into() },
            Health::RecordMissing,
            Health::RecordWrong {
                found: vec![],
                want: "b".into(),
            },
            Health::Certificate("bad".into()),
            Health::WrongAnswer("x".into()),
            Health::Unreachable("x".into()),
        ];
        let reasons: std::collections::HashSet<Reason> = outcomes.iter().map(reason).collect();
        assert_eq!(reasons.len(), outcomes.len());
        assert!(reasons.iter().all(|r| r.class() == Class::Check));
    }
}
