//! `ProxyVerified`: Clerk's own proxy check (`POST /proxy_checks`) and when it is due.

use crate::api::{ClerkDomain, condition, condition_type};
use crate::clerk::{ClerkInstance, CreateProxyCheck, Domain};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use std::time::Duration;

/// A failing proxy check is repeated at most this often.
pub(crate) const PROXY_RECHECK: Duration = Duration::from_secs(300);

/// What the proxy step decided for `ProxyVerified`.
pub(crate) enum ProxyStep {
    /// No proxy: drop the condition.
    Drop,
    /// Keep (or set) this condition; no check ran.
    Keep(Option<Condition>),
    /// Clerk checked the proxy at `checked_at` (RFC 3339).
    Checked {
        condition: Condition,
        checked_at: String,
    },
}

/// `ProxyVerified` (production instances with a proxy): Clerk's own proxy check, at most once
/// per generation (or per forced resync) while it succeeds, and every 5 minutes while it fails.
pub(crate) async fn proxy(
    clerk: &ClerkInstance,
    obj: &ClerkDomain,
    domain: &Domain,
    forced: bool,
    now: jiff::Timestamp,
) -> ProxyStep {
    let generation = obj.metadata.generation;
    let Some(proxy) = obj.spec.proxy_url.as_ref().filter(|p| !p.is_empty()) else {
        return ProxyStep::Drop;
    };
    let status = obj.status.as_ref();
    let previous = status.and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == condition_type::PROXY_VERIFIED)
    });
    let last_check = status
        .and_then(|s| s.last_proxy_check_time.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if !proxy_check_due(previous, last_check, generation, forced, now) {
        return ProxyStep::Keep(previous.map(|c| Condition {
            observed_generation: generation,
            ..c.clone()
        }));
    }
    let body = CreateProxyCheck {
        domain_id: domain.id.clone(),
        proxy_url: proxy.clone(),
    };
    let (ok, reason, message) = match clerk.client.proxy_check(&body).await {
        Ok(check) if check.successful => (
            true,
            "ProxyWorks",
            format!("Clerk reached Clerk's Frontend API through {proxy}"),
        ),
        Ok(_) => (
            false,
            "ProxyFailed",
            format!("Clerk could not reach its Frontend API through {proxy}"),
        ),
        Err(e) => (false, e.reason(), e.stable_message()),
    };
    ProxyStep::Checked {
        condition: condition(
            condition_type::PROXY_VERIFIED,
            ok,
            reason,
            message,
            generation,
            now,
        ),
        checked_at: now.to_string(),
    }
}

/// Whether Clerk's proxy check is due: first time, a new generation or a forced resync, or
/// [`PROXY_RECHECK`] after the last real check while it fails.
pub(crate) fn proxy_check_due(
    previous: Option<&Condition>,
    last_check: Option<jiff::Timestamp>,
    generation: Option<i64>,
    forced: bool,
    now: jiff::Timestamp,
) -> bool {
    match previous {
        None => true,
        Some(c) if c.observed_generation != generation || forced => true,
        Some(c) if c.status == "False" => last_check
            .is_none_or(|t| now.as_second().saturating_sub(t.as_second()) >= PROXY_RECHECK.as_secs() as i64),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn failing_proxy_checks_wait_five_minutes_after_the_last_real_check() {
        // The condition turned False long ago (its transition time is old), but the last real
        // check was a minute ago: not due. This was due on every reconcile before.
        let failed = condition(
            condition_type::PROXY_VERIFIED,
            false,
            "ProxyFailed",
            "",
            Some(1),
            at(0),
        );
        let ok = condition(
            condition_type::PROXY_VERIFIED,
            true,
            "ProxyWorks",
            "",
            Some(1),
            at(0),
        );
        #[rustfmt::skip]
        let cases = [
            ("never checked", None, None, Some(1), false, at(10), true),
            ("failed, checked 1 min ago", Some(&failed), Some(at(3600)), Some(1), false, at(3660), false),
            ("failed, checked 5 min ago", Some(&failed), Some(at(3600)), Some(1), false, at(3900), true),
            ("failed, no recorded check", Some(&failed), None, Some(1), false, at(10), true),
            ("works: not repeated", Some(&ok), Some(at(0)), Some(1), false, at(99_999), false),
            ("new generation", Some(&ok), Some(at(0)), Some(2), false, at(1), true),
            ("forced", Some(&ok), Some(at(0)), Some(1), true, at(1), true),
        ];
        for (case, prev, last, generation, forced, now, want) in cases {
            assert_eq!(
                proxy_check_due(prev, last, generation, forced, now),
                want,
                "{case}"
            );
        }
    }
}
