//! DNS automation against the real apiserver: external-dns DNSEndpoints, DNS verification
//! against a DNS server on loopback, Clerk's proxy check and the proxy-health probe through
//! nginx, and the Frontend API probe.

use anyhow::{Context as _, ensure};
use clerk_operator::api::ClerkDomain;
use clerk_operator::dns::endpoint::DNSEndpoint;
use fake_clerk::ProxyCheckRule;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::dns_server::DnsServer;
use test_kit::real_dns::*;
use test_kit::*;

mod frontend_api;
mod proxy_health;
mod real_chain;
mod real_txt;
pub use frontend_api::*;
pub use proxy_health::*;
pub use real_chain::*;
pub use real_txt::*;

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

async fn wait_condition(
    env: &TestEnv,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> anyhow::Result<ClerkDomain> {
    wait_for(
        &env.domains(),
        name,
        &format!("{type_}={status}/{reason}"),
        CONVERGE,
        |o| condition(o, type_).is_some_and(|c| c.status == status && c.reason == reason),
    )
    .await
}

async fn force_resync(env: &TestEnv, name: &str, value: &str) -> anyhow::Result<()> {
    let patch = Patch::Merge(
        json!({"metadata": {"annotations": {"clerk-operator.io/reconcile-requested-at": value}}}),
    );
    env.domains().patch(name, &PatchParams::default(), &patch).await?;
    Ok(())
}

/// `spec.dns.externalDNS` owns a DNSEndpoint with the required CNAMEs; without external-dns's
/// CRD the condition says so (no error loop); the endpoint follows renames and is
/// garbage-collected with the ClerkDomain.
pub async fn external_dns_endpoint_is_published(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp.clone(), "extdns", Default::default()).await?;
    let spec = "  domain: pub.example.com\n  dns:\n    externalDNS:\n      enabled: true\n      recordTTL: 120\n      providerSpecific: [{name: cloudflare/proxied, value: \"false\"}]\n";
    // No other test installs external-dns's CRD while this one looks at a cluster without it.
    let crd_lock = EXTERNAL_DNS_CRD.lock().await;
    env.create(&manifest("pub", spec)).await?;
    if !external_dns_crd_installed(&cp) {
        let obj = wait_condition(&env, "pub", "DNSPublished", "False", "ExternalDNSNotInstalled").await?;
        ensure!(is_true(&obj, "Ready"), "Ready is about Clerk, not DNS");
        // external-dns's own CRD, from the module hack/external-dns.sh built it from.
        install_external_dns_crd(&cp)?;
        force_resync(&env, "pub", "crd-installed").await?;
    }
    drop(crd_lock);
    let obj = wait_condition(&env, "pub", "DNSPublished", "True", "Published").await?;
    let endpoints: Api<DNSEndpoint> = Api::namespaced(env.client.clone(), &env.ns);
    check_endpoint(&endpoints, &obj).await?;
    endpoint_follows_a_rename(&env, &endpoints).await?;
    // Deleting the ClerkDomain garbage-collects the endpoint (kube-controller-manager).
    env.delete_and_wait("pub").await?;
    wait_gone(&endpoints, "pub", Duration::from_secs(90)).await?;
    Ok(())
}

/// The DNSEndpoint holds one CNAME per required target of `obj`, with the TTL and the
/// providerSpecific properties, and is owned by the ClerkDomain.
async fn check_endpoint(endpoints: &Api<DNSEndpoint>, obj: &ClerkDomain) -> anyhow::Result<()> {
    let ep = endpoints.get("pub").await.context("DNSEndpoint")?;
    let required: Vec<_> = obj
        .status
        .as_ref()
        .unwrap()
        .cname_targets
        .iter()
        .filter(|t| t.required)
        .collect();
    ensure!(
        ep.spec.endpoints.len() == required.len() && !required.is_empty(),
        "{:?}",
        ep.spec.endpoints
    );
    for t in &required {
        let e = ep
            .spec
            .endpoints
            .iter()
            .find(|e| e.dns_name == t.host)
            .with_context(|| format!("no endpoint for {}", t.host))?;
        ensure!(
            e.record_type == "CNAME" && e.targets == vec![t.value.clone()] && e.record_ttl == Some(120),
            "{e:?}"
        );
        // The providerSpecific properties reach every record (the real CRD keeps them).
        let props = e.provider_specific.clone().unwrap_or_default();
        ensure!(
            props.len() == 1 && props[0].name == "cloudflare/proxied" && props[0].value == "false",
            "{e:?}"
        );
    }
    let owner = ep.metadata.owner_references.clone().unwrap_or_default();
    ensure!(
        owner
            .iter()
            .any(|o| o.kind == "ClerkDomain" && o.name == "pub" && o.controller == Some(true))
    );
    Ok(())
}

/// A rename changes Clerk's targets; the endpoint follows.
async fn endpoint_follows_a_rename(env: &TestEnv, endpoints: &Api<DNSEndpoint>) -> anyhow::Result<()> {
    env.domains()
        .patch(
            "pub",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domain": "pub2.example.com"}})),
        )
        .await?;
    env.wait_ready("pub").await?;
    eventually(
        "endpoint updated",
        CONVERGE,
        Duration::from_millis(200),
        || async {
            let ep = endpoints.get("pub").await?.spec.endpoints;
            let updated = ep.iter().any(|e| e.dns_name == "clerk.pub2.example.com");
            Ok(updated.then_some(()).ok_or_else(|| format!("{ep:?}")))
        },
    )
    .await
}

/// `DNSVerified` reports missing and wrong CNAMEs until they are right.
pub async fn dns_is_verified_against_a_real_server(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let dns = DnsServer::start().await?;
    let opts = EnvOptions {
        dns_resolver: Some(dns.addr()),
        ..Default::default()
    };
    let env = TestEnv::start(cp, "dnsverify", opts).await?;
    env.create(&manifest("v", "  domain: verify.example.com\n"))
        .await?;
    let obj = wait_condition(&env, "v", "DNSVerified", "False", "RecordsMissing").await?;
    let msg = condition(&obj, "DNSVerified").unwrap().message.clone();
    ensure!(msg.contains("clerk.verify.example.com"), "{msg}");
    ensure!(is_true(&obj, "Ready"));
    let targets = obj.status.unwrap().cname_targets;
    // All right but one, which points elsewhere.
    for t in &targets {
        dns.set_cname(&t.host, &t.value);
    }
    dns.set_cname("clerk.verify.example.com", "somewhere.else.example.net");
    force_resync(&env, "v", "wrong").await?;
    let obj = wait_for(&env.domains(), "v", "a wrong target reported", CONVERGE, |o| {
        condition(o, "DNSVerified")
            .is_some_and(|c| c.status == "False" && c.message.contains("somewhere.else"))
    })
    .await?;
    let msg = &condition(&obj, "DNSVerified").unwrap().message;
    ensure!(
        !msg.contains("clkmail"),
        "correct records reported as problems: {msg}"
    );
    dns.set_cname("clerk.verify.example.com", "frontend-api.clerk.services");
    force_resync(&env, "v", "right").await?;
    wait_condition(&env, "v", "DNSVerified", "True", "Verified").await?;
    let out = env.cp.kubectl(&["get", "cdom", "v", "-n", &env.ns]);
    let table = String::from_utf8_lossy(&out.stdout);
    ensure!(
        table.lines().next().unwrap_or_default().contains("DNS"),
        "{table}"
    );
    Ok(())
}

/// `ProxyVerified` comes from Clerk's proxy check (`POST /proxy_checks`).
pub async fn proxy_check_sets_proxy_verified(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "proxycheck", Default::default()).await?;
    env.fake.set_proxy_check_rule(ProxyCheckRule::AlwaysFail);
    env.create(&manifest(
        "p",
        "  domain: proxied.example.com\n  proxyUrl: https://proxied.example.com/__clerk\n",
    ))
    .await?;
    wait_condition(&env, "p", "ProxyVerified", "False", "ProxyFailed").await?;
    let checks = env.fake.stats().count("VerifyDomainProxy");
    // Not retried on every reconcile while it fails.
    force_resync(&env, "p", "again-no-change").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        env.fake.stats().count("VerifyDomainProxy") <= checks + 1,
        "proxy check hammered"
    );
    env.fake.set_proxy_check_rule(ProxyCheckRule::AlwaysSucceed);
    force_resync(&env, "p", "now-it-works").await?;
    wait_condition(&env, "p", "ProxyVerified", "True", "ProxyWorks").await?;
    // Dropping the proxy drops the condition.
    env.domains()
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"proxyUrl": null}})),
        )
        .await?;
    wait_for(&env.domains(), "p", "no ProxyVerified", CONVERGE, |o| {
        condition(o, "ProxyVerified").is_none()
    })
    .await?;
    Ok(())
}
