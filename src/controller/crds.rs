//! Custom resources the operator uses but does not install: external-dns's DNSEndpoint
//! (`externaldns.k8s.io/v1alpha1`), needed only by ClerkDomains with `spec.dns.externalDNS`.
//!
//! Contract: the operator starts without them and waits. While the API server does not serve
//! one, `/readyz` names it in its body (the Pod stays ready: everything else works, and a
//! cluster without external-dns is a valid setup), `clerk_operator_crd_missing{crd}` is 1, one
//! Warning Event `OptionalCRDMissing` is published on the operator's Pod, and ClerkDomains that
//! want it get `DNSPublished=False` (`ExternalDNSNotInstalled`) without a request. Discovery is
//! asked again every [`CHECK_EVERY`] (it needs no RBAC rule); once the CRD is served, the
//! DNSEndpoint watch starts, the ClerkDomains that want one are reconciled, all without a restart.

use super::Context;
use super::events::EventType;
pub use super::served::{CHECK_EVERY, DNS_ENDPOINT_CRD, Served};
use super::served::{DNS_ENDPOINT_GROUP_VERSION, dns_endpoint_served};
use crate::http::Health;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::Event;
use std::sync::Arc;

/// Follow discovery until the process stops, reporting each change (see the module's contract).
pub async fn follow(ctx: Arc<Context>, health: Health) {
    let mut last: Option<bool> = None;
    loop {
        let served = match dns_endpoint_served(&ctx.client).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "discovery failed; asking again");
                ctx.stores.served.dns_endpoint()
            }
        };
        if last != Some(served) {
            report(&ctx, &health, served).await;
            last = Some(served);
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Report that the DNSEndpoint CRD is served (`true`) or missing.
async fn report(ctx: &Context, health: &Health, served: bool) {
    ctx.metrics.set_crd_missing(DNS_ENDPOINT_CRD, !served);
    let was = ctx.stores.served.set_dns_endpoint(served);
    if served {
        health.set_missing(DNS_ENDPOINT_CRD, None);
        if !was {
            tracing::info!(
                crd = DNS_ENDPOINT_CRD,
                "optional CRD is served now; publishing DNSEndpoints"
            );
            wake_external_dns_users(ctx);
        }
        return;
    }
    let message = format!(
        "the optional CRD {DNS_ENDPOINT_CRD} ({DNS_ENDPOINT_GROUP_VERSION}) is not served: ClerkDomains \
         with spec.dns.externalDNS get DNSPublished=False until external-dns's CRD is installed; the \
         operator starts using it without a restart"
    );
    tracing::warn!(crd = DNS_ENDPOINT_CRD, "{message}");
    health.set_missing(DNS_ENDPOINT_CRD, Some(message.clone()));
    pod_warning(ctx, message).await;
}

/// Reconcile every ClerkDomain that publishes to external-dns.
fn wake_external_dns_users(ctx: &Context) {
    for d in ctx.stores.domains.state() {
        let wants = d
            .spec
            .dns
            .as_ref()
            .and_then(|dns| dns.external_dns.as_ref())
            .is_some_and(|e| e.enabled);
        if wants && let (Some(ns), Some(name)) = (&d.metadata.namespace, &d.metadata.name) {
            ctx.memory.wake_domain(ns, name);
        }
    }
}

/// One Warning Event on the operator's Pod (when it knows its Pod: `POD_NAME`).
async fn pod_warning(ctx: &Context, note: String) {
    let Some((namespace, pod)) = ctx.config.pod.clone() else {
        return;
    };
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod),
        namespace: Some(namespace),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "OptionalCRDMissing".into(),
        note: Some(crate::api::truncate(note, 1000)),
        action: "WaitForCRD".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, "could not publish the Event on the operator's Pod");
    }
}
