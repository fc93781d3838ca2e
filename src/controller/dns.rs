//! DNS automation after a successful sync: publish the CNAME records as an external-dns
//! DNSEndpoint (`DNSPublished`), check that they resolve (`DNSVerified`), and ask Clerk whether
//! the proxy works (`ProxyVerified`). `Ready` stays about Clerk registration.

use super::Context;
use super::children::{Applied, apply_owned, delete_owned, is_not_found};
use crate::api::{ClerkDomain, FIELD_MANAGER, condition, condition_type};
use crate::clerk::{ClerkInstance, CreateProxyCheck, Domain};
use crate::dns::endpoint::{DNSEndpoint, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Owner, desired_endpoint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, ResourceExt};
use std::time::Duration;

/// What DNS automation found: conditions to set or drop, and when to look again.
#[derive(Default)]
pub(crate) struct DnsOutcome {
    pub(crate) conditions: Vec<Condition>,
    pub(crate) drop_conditions: Vec<&'static str>,
    /// Sooner than the resync period while DNS is not verified yet.
    pub(crate) recheck: Option<Duration>,
    /// Set when Clerk's proxy check ran now (`status.lastProxyCheckTime`).
    pub(crate) proxy_checked_at: Option<String>,
}

/// A failing proxy check is repeated at most this often.
pub(crate) const PROXY_RECHECK: Duration = Duration::from_secs(300);

/// Run the three checks for `obj`, whose Clerk domain is `domain`.
pub(crate) async fn reconcile(
    ctx: &Context,
    obj: &ClerkDomain,
    domain: &Domain,
    clerk: &ClerkInstance,
    production: bool,
    forced: bool,
) -> DnsOutcome {
    let mut out = DnsOutcome::default();
    let at = At {
        generation: obj.metadata.generation,
        now: jiff::Timestamp::now(),
    };
    let targets = domain.cname_targets.clone().unwrap_or_default();
    published(ctx, obj, &targets, at, &mut out).await;
    verified(ctx, obj, &targets, at, &mut out).await;
    if production {
        proxy(clerk, obj, domain, forced, at, &mut out).await;
    } else {
        out.drop_conditions.push(condition_type::PROXY_VERIFIED);
    }
    out
}

/// The generation and time the conditions of one reconcile are written for.
#[derive(Clone, Copy)]
struct At {
    generation: Option<i64>,
    now: jiff::Timestamp,
}

impl At {
    fn condition(self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> Condition {
        condition(type_, ok, reason, message, self.generation, self.now)
    }
}

/// `DNSPublished`: the DNSEndpoint when external-dns is enabled; removed (with the condition)
/// when it is not.
async fn published(
    ctx: &Context,
    obj: &ClerkDomain,
    targets: &[crate::clerk::CnameTarget],
    at: At,
    out: &mut DnsOutcome,
) {
    let wanted = obj
        .spec
        .dns
        .as_ref()
        .and_then(|d| d.external_dns.as_ref())
        .filter(|e| e.enabled);
    match wanted {
        Some(ext) => {
            let (ok, reason, message) = publish(ctx, obj, targets, ext).await;
            out.conditions
                .push(at.condition(condition_type::DNS_PUBLISHED, ok, reason, message));
        }
        None => match unpublish(ctx, obj).await {
            Ok(()) => out.drop_conditions.push(condition_type::DNS_PUBLISHED),
            Err(message) => {
                // Keep a condition, so the next reconcile tries again.
                out.recheck = Some(Duration::from_secs(30));
                out.conditions.push(at.condition(
                    condition_type::DNS_PUBLISHED,
                    false,
                    "UnpublishFailed",
                    message,
                ));
            }
        },
    }
}

/// `DNSVerified`: whether the required records resolve to Clerk's targets (when verification
/// is on); rechecked sooner, with backoff, while they do not.
async fn verified(
    ctx: &Context,
    obj: &ClerkDomain,
    targets: &[crate::clerk::CnameTarget],
    at: At,
    out: &mut DnsOutcome,
) {
    let required = targets.iter().filter(|t| t.required).count();
    let Some(verifier) = &ctx.dns else {
        out.drop_conditions.push(condition_type::DNS_VERIFIED);
        return;
    };
    if required == 0 {
        let message = "Clerk requires no CNAME records for this domain";
        out.conditions
            .push(at.condition(condition_type::DNS_VERIFIED, true, "NoRecordsRequired", message));
        return;
    }
    let v = verifier.verify(targets).await;
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    if v.verified {
        ctx.memory.dns_verified(&key);
        let mut msg = format!("all {required} required CNAME records point to Clerk's targets");
        if let Some(note) = v.clerk_side_note() {
            msg = format!("{msg}; {note}");
        }
        out.conditions
            .push(at.condition(condition_type::DNS_VERIFIED, true, "Verified", msg));
    } else {
        let attempt = ctx.memory.dns_unverified(&key);
        // 15 s, 30 s, 1 min, ... until the resync period takes over.
        out.recheck = Some(Duration::from_secs(15).saturating_mul(1 << attempt.saturating_sub(1).min(10)));
        out.conditions
            .push(at.condition(condition_type::DNS_VERIFIED, false, v.reason(), v.summary()));
    }
}

/// `ProxyVerified` (production instances with a proxy): Clerk's own proxy check, at most once
/// per generation (or per forced resync) while it succeeds, and every 5 minutes while it fails.
async fn proxy(
    clerk: &ClerkInstance,
    obj: &ClerkDomain,
    domain: &Domain,
    forced: bool,
    at: At,
    out: &mut DnsOutcome,
) {
    let Some(proxy) = obj.spec.proxy_url.as_ref().filter(|p| !p.is_empty()) else {
        out.drop_conditions.push(condition_type::PROXY_VERIFIED);
        return;
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
    if !proxy_check_due(previous, last_check, at.generation, forced, at.now) {
        if let Some(c) = previous {
            let mut c = c.clone();
            c.observed_generation = at.generation;
            out.conditions.push(c);
        }
        return;
    }
    let body = CreateProxyCheck {
        domain_id: domain.id.clone(),
        proxy_url: proxy.clone(),
    };
    out.proxy_checked_at = Some(at.now.to_string());
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
    out.conditions
        .push(at.condition(condition_type::PROXY_VERIFIED, ok, reason, message));
}

/// Server-side apply the DNSEndpoint. Returns (ok, reason, message) for `DNSPublished`.
async fn publish(
    ctx: &Context,
    obj: &ClerkDomain,
    targets: &[crate::clerk::CnameTarget],
    ext: &crate::api::ExternalDnsSpec,
) -> (bool, &'static str, String) {
    let Some(owner) = Owner::of(obj) else {
        return (false, "NotPublished", "the object has no uid yet".into());
    };
    if !ctx.stores.served.dns_endpoint() {
        return not_installed();
    }
    let desired = desired_endpoint(&owner, targets, ext.record_ttl, &ext.provider_specific);
    let count = desired.spec.endpoints.len();
    let api: Api<DNSEndpoint> = Api::namespaced(ctx.client.clone(), owner.namespace);
    let name = owner.name;
    // Compared by spec, labels and ownerReference, like the ConfigMap of the export.
    let unchanged = |current: &DNSEndpoint| {
        current.spec == desired.spec
            && current.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE)
    };
    match apply_owned(&api, owner.uid, FIELD_MANAGER, desired.clone(), unchanged).await {
        Ok(Applied::Written | Applied::Unchanged) => (
            true,
            "Published",
            format!("DNSEndpoint {name} holds {count} CNAME records"),
        ),
        Ok(Applied::NotOwned) => (
            false,
            "DNSEndpointNotOwned",
            format!(
                "DNSEndpoint {name} exists and is not owned by this ClerkDomain; the operator never \
                 overwrites or deletes it: delete or rename it to let the operator publish"
            ),
        ),
        Err(e) if is_not_found(&e) => not_installed(),
        Err(e) => (false, "PublishFailed", e.to_string()),
    }
}

/// `DNSPublished` while external-dns's CRD is not served.
fn not_installed() -> (bool, &'static str, String) {
    (
        false,
        "ExternalDNSNotInstalled",
        "the DNSEndpoint CRD (externaldns.k8s.io/v1alpha1) is not installed: install external-dns's CRD \
         and run external-dns with --source=crd; the operator publishes as soon as it is served"
            .into(),
    )
}

/// Delete our DNSEndpoint if external-dns publishing was turned off. A DNSEndpoint this object
/// does not own is left alone. `Err` says why the delete has to be tried again.
async fn unpublish(ctx: &Context, obj: &ClerkDomain) -> Result<(), String> {
    let has_condition = obj.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == condition_type::DNS_PUBLISHED)
    });
    let Some(owner) = Owner::of(obj).filter(|_| has_condition && ctx.stores.served.dns_endpoint()) else {
        return Ok(());
    };
    let api: Api<DNSEndpoint> = Api::namespaced(ctx.client.clone(), owner.namespace);
    match delete_owned(&api, owner.name, owner.uid).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "could not delete the DNSEndpoint");
            Err(format!("deleting the DNSEndpoint: {e}"))
        }
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
