//! DNS automation after a successful sync: publish Clerk's records (CNAMEs, and TXT when
//! `spec.dns.publishTXT` asks) as an external-dns DNSEndpoint (`DNSPublished`), check that they
//! resolve (`DNSVerified`), ask Clerk whether the proxy works (`ProxyVerified`, with the proxy
//! health in its message), and probe the Frontend API's health (`FrontendAPIReachable`). `Ready`
//! stays about Clerk registration.

use super::Context;
use super::children::{Applied, apply_owned, delete_owned, is_not_found};
use crate::api::{ClerkDomain, DnsSpec, FIELD_MANAGER, condition, condition_type};
use crate::clerk::{ClerkInstance, DnsTarget, Domain};
use crate::dns::endpoint::{DNSEndpoint, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Owner, desired_endpoint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, ResourceExt};
use std::time::Duration;

use super::frontend::{FrontendStep, frontend};
use super::proxy::{ProxyStep, proxy};
use super::{probes, proxy_health};

/// What DNS automation found: conditions to set or drop, and when to look again.
#[derive(Default)]
pub(crate) struct DnsOutcome {
    pub(crate) conditions: Vec<Condition>,
    pub(crate) drop_conditions: Vec<&'static str>,
    /// Sooner than the resync period while DNS is not verified yet.
    pub(crate) recheck: Option<Duration>,
    /// Set when Clerk's proxy check ran now (`status.lastProxyCheckTime`).
    pub(crate) proxy_checked_at: Option<String>,
    /// What verification found wrong, by host (`status.dnsRecords[].problem`); `Some(empty)`
    /// when every checked record verified, `None` when nothing was checked.
    pub(crate) record_problems: Option<Vec<(String, String)>>,
}

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
    let records = Records {
        all: domain.records(),
        types: DnsSpec::record_types(obj.spec.dns.as_ref()),
    };
    published(ctx, obj, &records, at, &mut out).await;
    verified(ctx, obj, &records, at, &mut out).await;
    // Clerk's proxy check and the probes run concurrently (see `probes` for the bound).
    let (verdict, probe, front) = tokio::join!(
        async {
            match production {
                true => proxy(clerk, obj, domain, forced, at.now).await,
                false => ProxyStep::Drop,
            }
        },
        proxy_health::probe(ctx, obj, domain, production, forced),
        frontend(ctx, obj, domain, production, forced),
    );
    match proxy_health::merge(verdict, obj, &probe) {
        ProxyStep::Drop => out.drop_conditions.push(condition_type::PROXY_VERIFIED),
        ProxyStep::Keep(c) => out.conditions.extend(c),
        ProxyStep::Checked {
            condition,
            checked_at,
        } => {
            out.conditions.push(condition);
            out.proxy_checked_at = Some(checked_at);
        }
    }
    proxy_health::announce(ctx, obj, &probe).await;
    if let proxy_health::ProbeStep::Probed { recheck, .. } = probe {
        out.recheck = probes::sooner(out.recheck, recheck);
    }
    match front {
        FrontendStep::Drop => out.drop_conditions.push(condition_type::FRONTEND_API_REACHABLE),
        FrontendStep::Keep => {}
        FrontendStep::Probed { condition, recheck } => {
            out.conditions.push(condition);
            out.recheck = probes::sooner(out.recheck, recheck);
        }
    }
    out
}

/// Every record Clerk expects for the domain, and the types the spec publishes and verifies.
struct Records {
    all: Vec<DnsTarget>,
    types: &'static [&'static str],
}

impl Records {
    /// The required records of the published types.
    fn required(&self) -> impl Iterator<Item = &DnsTarget> {
        self.all
            .iter()
            .filter(|t| t.required && self.types.iter().any(|k| t.is_type(k)))
    }

    /// The published types for a message: `CNAME` or `CNAME and TXT`.
    fn label(&self) -> String {
        self.types.join(" and ")
    }

    /// A note on required TXT records that are not published or verified, for a message.
    fn unchecked_note(&self) -> Option<String> {
        if self.types.contains(&"TXT") {
            return None;
        }
        let n = self.all.iter().filter(|t| t.required && t.is_type("TXT")).count();
        (n > 0).then(|| {
            format!(
                "{n} required TXT record(s) not checked: set spec.dns.publishTXT to publish and verify them"
            )
        })
    }
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
async fn published(ctx: &Context, obj: &ClerkDomain, records: &Records, at: At, out: &mut DnsOutcome) {
    let wanted = obj
        .spec
        .dns
        .as_ref()
        .and_then(|d| d.external_dns.as_ref())
        .filter(|e| e.enabled);
    match wanted {
        Some(ext) => {
            let (ok, reason, message) = publish(ctx, obj, records, ext).await;
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

/// `DNSVerified`: whether the required records of the published types resolve as Clerk
/// expects (when verification is on); rechecked sooner, with backoff, while they do not.
async fn verified(ctx: &Context, obj: &ClerkDomain, records: &Records, at: At, out: &mut DnsOutcome) {
    let required: Vec<DnsTarget> = records.required().cloned().collect();
    out.record_problems = Some(vec![]);
    let Some(verifier) = &ctx.dns else {
        out.drop_conditions.push(condition_type::DNS_VERIFIED);
        return;
    };
    let label = records.label();
    if required.is_empty() {
        let mut message = format!("Clerk requires no {label} records for this domain");
        if let Some(note) = records.unchecked_note() {
            message = format!("{message}; {note}");
        }
        out.conditions
            .push(at.condition(condition_type::DNS_VERIFIED, true, "NoRecordsRequired", message));
        return;
    }
    let v = verifier.verify(&required).await;
    out.record_problems = Some(
        v.problems
            .iter()
            .map(|p| {
                let text = p.to_string();
                let what = text.strip_prefix(&format!("{}: ", p.host())).unwrap_or(&text);
                (p.host().to_string(), what.to_string())
            })
            .collect(),
    );
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    if v.verified {
        ctx.memory.dns_verified(&key);
        let n = required.len();
        let mut msg = format!("all {n} required {label} records point to Clerk's targets");
        for note in [v.clerk_side_note(), records.unchecked_note()]
            .into_iter()
            .flatten()
        {
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

/// Server-side apply the DNSEndpoint. Returns (ok, reason, message) for `DNSPublished`.
async fn publish(
    ctx: &Context,
    obj: &ClerkDomain,
    records: &Records,
    ext: &crate::api::ExternalDnsSpec,
) -> (bool, &'static str, String) {
    let Some(owner) = Owner::of(obj) else {
        return (false, "NotPublished", "the object has no uid yet".into());
    };
    if !ctx.stores.served.dns_endpoint() {
        return not_installed();
    }
    let desired = desired_endpoint(
        &owner,
        &records.all,
        records.types,
        ext.record_ttl,
        &ext.provider_specific,
    );
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
            format!("DNSEndpoint {name} holds {count} {} records", records.label()),
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
