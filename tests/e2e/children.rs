//! Owned children and the optional CRD, on a control plane of its own that starts without
//! external-dns's CRD, with the operator as a process holding the chart's ServiceAccount token
//! (so the chart's RBAC is enough for all of it): it waits for the CRD (readiness body, metric,
//! one Warning Event on its Pod), starts publishing once it is applied (no restart), and a
//! deleted or edited child (DNSEndpoint, exported ConfigMap) comes back at once, through the
//! owned-children watch (the resync period is far away).

use crate::helm::Release;
use anyhow::{Context as _, ensure};
use clerk_operator::api::ClerkDomain;
use clerk_operator::dns::endpoint::DNSEndpoint;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::operator_process::OperatorProcess;
use test_kit::real_dns::install_external_dns_crd;
use test_kit::*;

const CRD: &str = "dnsendpoints.externaldns.k8s.io";
const POD: &str = "clerk-operator-5c7d9-x2k4q";

/// Poll `check` every 200 ms until it holds, at most `CONVERGE`; on failure the operator's log.
async fn eventually_or_log<F, Fut>(what: &str, op: &OperatorProcess, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    test_kit::eventually(what, CONVERGE, Duration::from_millis(200), || {
        let holds = check();
        async move { Ok(holds.await?.then_some(()).ok_or_else(|| op.log_tail(30))) }
    })
    .await
}

fn published(o: &ClerkDomain, status: &str, reason: &str) -> bool {
    condition(o, "DNSPublished").is_some_and(|c| c.status == status && c.reason == reason)
}

/// The Warning Events `OptionalCRDMissing` about the operator's Pod.
async fn pod_warnings(events: &Api<Event>) -> anyhow::Result<Vec<Event>> {
    Ok(events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(POD)
                && e.reason.as_deref() == Some("OptionalCRDMissing")
        })
        .collect())
}

/// Start without external-dns's CRD, apply it, see it used; then the children come back.
pub async fn optional_crd_is_awaited_and_used_without_restart(
    _shared: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let cp = Arc::new(ControlPlane::start());
    cp.install_crds();
    let rel = Release::install(cp.clone(), "crdwait", true).await?;
    let mut op = OperatorProcess::spawn(&rel.operator(POD, false))?;
    // Missing: ready (the rest works) with the CRD named in the body, the metric, one Event.
    let missing_line = format!("missing optional CRD {CRD}");
    eventually_or_log("reporting the missing CRD", &op, || async {
        let (status, body) = op.http_get("/readyz").await?;
        Ok(status == 200 && body.contains(&missing_line))
    })
    .await?;
    let crd_label = format!("crd=\"{CRD}\"");
    ensure!(op.metric_sum("clerk_operator_crd_missing", &[&crd_label]).await? == 1.0);
    let events: Api<Event> = Api::namespaced(rel.client.clone(), &rel.ns);
    eventually_or_log("warning on its Pod", &op, || async {
        Ok(!pod_warnings(&events).await?.is_empty())
    })
    .await?;
    let warning = pod_warnings(&events).await?.remove(0);
    ensure!(warning.type_.as_deref() == Some("Warning"), "{warning:?}");
    let regarding = warning.regarding.clone().unwrap_or_default();
    ensure!(
        regarding.kind.as_deref() == Some("Pod") && regarding.namespace.as_deref() == Some(rel.ns.as_str())
    );

    let (client, ns) = (rel.client.clone(), rel.app_ns.as_str());
    let domains = rel.domains();
    let spec = json!({"domain": "site.example.com", "dns": {"externalDNS": {"enabled": true}},
                      "export": {"configMapName": "site-clerk"}});
    rel.create_domain("site", spec).await?;
    wait_for(&domains, "site", "waiting for the CRD", CONVERGE, |o| {
        is_true(o, "Ready") && published(o, "False", "ExternalDNSNotInstalled")
    })
    .await
    .with_context(|| op.log_tail(30))?;

    // Applied: used without a restart.
    install_external_dns_crd(&cp)?;
    wait_for(&domains, "site", "published", CONVERGE, |o| {
        published(o, "True", "Published")
    })
    .await
    .with_context(|| op.log_tail(30))?;
    let endpoints: Api<DNSEndpoint> = Api::namespaced(client.clone(), ns);
    ensure!(endpoints.get_opt("site").await?.is_some(), "no DNSEndpoint");
    ensure!(op.is_running(), "the operator restarted: {}", op.log_tail(20));
    ensure!(op.metric_sum("clerk_operator_crd_missing", &[&crd_label]).await? == 0.0);
    let (status, body) = op.http_get("/readyz").await?;
    ensure!(status == 200 && body == "ready", "/readyz {status} {body}");
    ensure!(pod_warnings(&events).await?.len() == 1, "one Warning Event only");
    let forbidden = op.log_lines(&["forbidden"]);
    ensure!(
        forbidden.is_empty(),
        "the chart's RBAC is not enough: {forbidden:#?}"
    );

    children_come_back(&client, ns, &op).await
}

/// A deleted or edited DNSEndpoint or ConfigMap of `site` is put back by the next reconcile,
/// which the owned-children watch starts (resync is 5 minutes away).
async fn children_come_back(client: &kube::Client, ns: &str, op: &OperatorProcess) -> anyhow::Result<()> {
    let endpoints: Api<DNSEndpoint> = Api::namespaced(client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = wait_for(&configmaps, "site-clerk", "exported", CONVERGE, |_| true).await?;
    let want_data = cm.data.clone().unwrap_or_default();
    let want_spec = endpoints.get("site").await?.spec;

    let old_uid = endpoints.get("site").await?.uid();
    endpoints.delete("site", &Default::default()).await?;
    eventually_or_log("DNSEndpoint recreated", op, || async {
        let ep = endpoints.get_opt("site").await?;
        Ok(ep.is_some_and(|e| e.uid() != old_uid && e.spec == want_spec))
    })
    .await?;
    let edit = json!({"spec": {"endpoints": [{"dnsName": "evil.example.com", "recordType": "CNAME", "targets": ["x.example.net"]}]}});
    endpoints
        .patch("site", &PatchParams::default(), &Patch::Merge(edit))
        .await?;
    eventually_or_log("DNSEndpoint restored", op, || async {
        Ok(endpoints.get("site").await?.spec == want_spec)
    })
    .await?;

    let old_uid = cm.uid();
    configmaps.delete("site-clerk", &Default::default()).await?;
    eventually_or_log("ConfigMap recreated", op, || async {
        let cm = configmaps.get_opt("site-clerk").await?;
        Ok(cm.is_some_and(|c| c.uid() != old_uid && c.data.clone().unwrap_or_default() == want_data))
    })
    .await?;
    // The precondition the operator's apply carries: an apply at a resourceVersion the object has
    // left is refused (409), forced or not, so a child replaced between the ownership check and
    // the write is never overwritten.
    let stale = configmaps.get("site-clerk").await?.resource_version();
    let touch = json!({"metadata": {"annotations": {"e2e.clerk-operator.io/touched": "1"}}});
    configmaps
        .patch("site-clerk", &PatchParams::default(), &Patch::Merge(touch))
        .await?;
    let probe = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "site-clerk", "namespace": ns, "resourceVersion": stale}});
    let refused = configmaps
        .patch(
            "site-clerk",
            &PatchParams::apply("precondition-probe").force(),
            &Patch::Apply(&probe),
        )
        .await;
    ensure!(
        matches!(&refused, Err(kube::Error::Api(s)) if s.code == 409),
        "an apply at a stale resourceVersion was not refused: {refused:?}"
    );
    let edit = json!({"data": {"CLERK_PUBLISHABLE_KEY": "pk_live_edited"}});
    configmaps
        .patch("site-clerk", &PatchParams::default(), &Patch::Merge(edit))
        .await?;
    eventually_or_log("ConfigMap restored", op, || async {
        Ok(configmaps.get("site-clerk").await?.data.unwrap_or_default() == want_data)
    })
    .await
}
