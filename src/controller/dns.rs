//! DNS automation after a successful sync: publish Clerk's records (CNAMEs, and TXT when
//! `spec.dns.publishTXT` asks) as an external-dns DNSEndpoint (`DNSPublished`), check that they
//! resolve (`DNSVerified`), and ask Clerk whether the proxy works (`ProxyVerified`). `Ready`
//! stays about Clerk registration.

use super::Context;
use crate::api::{ClerkDomain, DnsSpec, FIELD_MANAGER, condition, condition_type};
use crate::clerk::{ClerkInstance, DnsTarget, Domain};
use crate::dns::endpoint::{DNSEndpoint, Owner, controlled_by, desired_endpoint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use std::time::Duration;

use super::proxy::{ProxyStep, proxy};

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
    if production {
        match proxy(clerk, obj, domain, forced, at.now).await {
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
    } else {
        out.drop_conditions.push(condition_type::PROXY_VERIFIED);
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
    let desired = desired_endpoint(
        &owner,
        &records.all,
        records.types,
        ext.record_ttl,
        &ext.provider_specific,
    );
    let count = desired.spec.endpoints.len();
    let api: Api<DNSEndpoint> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    match api.get_opt(&obj.name_any()).await {
        Ok(Some(existing)) if !controlled_by(&existing.metadata, owner.uid) => {
            return (
                false,
                "DNSEndpointNotOwned",
                format!(
                    "DNSEndpoint {} exists and is not owned by this ClerkDomain; the operator never \
                     overwrites or deletes it: delete or rename it to let the operator publish",
                    obj.name_any()
                ),
            );
        }
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return (false, "PublishFailed", e.to_string()),
    }
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch(&obj.name_any(), &pp, &Patch::Apply(&desired)).await {
        Ok(_) => (
            true,
            "Published",
            format!(
                "DNSEndpoint {} holds {count} {} records",
                obj.name_any(),
                records.label()
            ),
        ),
        Err(kube::Error::Api(s)) if s.code == 404 => (
            false,
            "ExternalDNSNotInstalled",
            "the DNSEndpoint CRD (externaldns.k8s.io/v1alpha1) is not installed: install external-dns's CRD \
             and run external-dns with --source=crd"
                .into(),
        ),
        Err(e) => (false, "PublishFailed", e.to_string()),
    }
}

/// Delete our DNSEndpoint if external-dns publishing was turned off. A DNSEndpoint this object
/// does not own is left alone. `Err` says why the delete has to be tried again.
async fn unpublish(ctx: &Context, obj: &ClerkDomain) -> Result<(), String> {
    let has_condition = obj.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == condition_type::DNS_PUBLISHED)
    });
    if !has_condition {
        return Ok(());
    }
    let api: Api<DNSEndpoint> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let existing = match api.get_opt(&obj.name_any()).await {
        Ok(Some(e)) => e,
        Ok(None) => return Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(format!("deleting the DNSEndpoint: {e}")),
    };
    let Some(uid) = obj.metadata.uid.as_deref() else {
        return Ok(());
    };
    if !controlled_by(&existing.metadata, uid) {
        return Ok(());
    }
    // Delete exactly the object checked above.
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: existing.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&obj.name_any(), &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "could not delete the DNSEndpoint");
            Err(format!("deleting the DNSEndpoint: {e}"))
        }
    }
}
