//! `FrontendAPIReachable` with real parts: a fake Frontend API over TLS on loopback, its names
//! resolved through BIND 9 (each `clerk.<domain>` a CNAME to Clerk's target, as the user's
//! records are), the operator given the fake's test CA as an extra trust root.

use super::*;
use clerk_operator::frontend_api::{ProbeConfig, trust};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use test_kit::fake_frontend_api::{Behaviour, FakeFrontendApi};

/// Clerk's target, as the fake Clerk gives it for every production domain.
const TARGET: &str = "frontend-api.clerk.services";

/// Healthy → True; 503 unhealthy → Clerk's side with Clerk's message; a certificate from
/// another CA → the certificate reason; no record → the record reason. None of them touches
/// `Ready`; a verdict is announced with an Event once. A healthy domain's status is not
/// rewritten (nor the Event repeated) by the probes of later resyncs; when
/// Clerk's target stops resolving, the healthy domain turns to Clerk's side, and back.
pub async fn frontend_api_reachable_tells_clerks_side_from_yours(
    cp: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let (bind, fapi) = start_dns_and_fapi().await?;
    // The CA as the flag reads it: a PEM file.
    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, fapi.ca_pem())?;
    let env = start_env(&cp, &bind, &fapi, &ca_file).await?;
    let port = fapi.addr().port();
    let url = |name: &str| format!("https://clerk.{name}.example.com:{port}/v1/health");
    let (ok, down) = healthy_and_unhealthy(&env, &url).await?;
    let (mitm, gone) = certificate_and_record(&env, &url).await?;
    for o in [&ok, &down, &mitm, &gone] {
        ensure!(
            is_true(o, "Ready"),
            "FrontendAPIReachable never gates Ready: {:?}",
            o.status
        );
    }
    env.wait_event("down", "FrontendAPIUnhealthy").await?;
    env.wait_event("ok", "FrontendAPIHealthy").await?;

    no_rewrite_no_repeat(&env, &ok).await?;
    target_unresolved_and_back(&env, &bind).await?;
    Ok(())
}

/// The `FrontendAPIReachable` condition of `o`.
fn cond(o: &ClerkDomain) -> Condition {
    condition(o, "FrontendAPIReachable").cloned().unwrap()
}

/// BIND with Clerk's target and a CNAME to it for each of `ok`, `down` and `mitm`; the fake
/// Frontend API answering for them (and `localhost`).
async fn start_dns_and_fapi() -> anyhow::Result<(Bind, FakeFrontendApi)> {
    let bind = Bind::start(&["example.com", "clerk.services"])?;
    let fapi = FakeFrontendApi::start(&[
        ("clerk.ok.example.com", Behaviour::Healthy),
        (
            "clerk.down.example.com",
            Behaviour::Unhealthy("database unavailable".into()),
        ),
        ("clerk.mitm.example.com", Behaviour::Untrusted),
        ("localhost", Behaviour::Healthy),
    ])
    .await?;
    bind.nsupdate(
        "clerk.services",
        &[&format!("update add {TARGET} 60 A 127.0.0.1")],
    )?;
    for name in ["ok", "down", "mitm"] {
        let add = format!("update add clerk.{name}.example.com 60 CNAME {TARGET}.");
        bind.nsupdate("example.com", &[&add])?;
    }
    Ok((bind, fapi))
}

/// The test env with the probe on, trusting the fake's CA from `ca_file`, and the four objects.
async fn start_env(
    cp: &Arc<ControlPlane>,
    bind: &Bind,
    fapi: &FakeFrontendApi,
    ca_file: &std::path::Path,
) -> anyhow::Result<TestEnv> {
    clerk_api_client_trusts_the_extra_ca(fapi, &trust::load(ca_file)?).await?;
    let opts = EnvOptions {
        dns_resolver: Some(bind.addr()),
        resync: Duration::from_secs(4),
        frontend_api: Some(ProbeConfig {
            port: fapi.addr().port(),
            extra_roots: trust::load(ca_file)?,
            resolver: Some(bind.addr()),
            timeout: Duration::from_secs(5),
        }),
        ..Default::default()
    };
    let env = TestEnv::start(cp.clone(), "fapi", opts).await?;
    for name in ["ok", "down", "mitm", "gone"] {
        env.create(&manifest(name, &format!("  domain: {name}.example.com\n")))
            .await?;
    }
    Ok(env)
}

/// Healthy → True; 503 unhealthy → Clerk's side with Clerk's message.
async fn healthy_and_unhealthy(
    env: &TestEnv,
    url: &dyn Fn(&str) -> String,
) -> anyhow::Result<(ClerkDomain, ClerkDomain)> {
    let ok = wait_condition(env, "ok", "FrontendAPIReachable", "True", "FrontendAPIHealthy").await?;
    ensure!(
        cond(&ok).message == format!("GET {} answered healthy", url("ok")),
        "{:?}",
        cond(&ok)
    );
    let down = wait_condition(
        env,
        "down",
        "FrontendAPIReachable",
        "False",
        "FrontendAPIUnhealthy",
    )
    .await?;
    ensure!(
        cond(&down).message
            == format!(
                "Clerk's side: GET {} answered 503 unhealthy: database unavailable",
                url("down")
            ),
        "{:?}",
        cond(&down)
    );
    Ok((ok, down))
}

/// A certificate from another CA → the certificate reason; no record → the record reason.
async fn certificate_and_record(
    env: &TestEnv,
    url: &dyn Fn(&str) -> String,
) -> anyhow::Result<(ClerkDomain, ClerkDomain)> {
    let mitm = wait_condition(
        env,
        "mitm",
        "FrontendAPIReachable",
        "False",
        "FrontendAPICertificateInvalid",
    )
    .await?;
    let m = cond(&mitm).message;
    ensure!(
        m.starts_with(&format!(
            "your record or certificate: TLS with {} failed: ",
            url("mitm")
        )) && m.contains("UnknownIssuer"),
        "{m}"
    );
    let gone = wait_condition(
        env,
        "gone",
        "FrontendAPIReachable",
        "False",
        "FrontendAPIRecordMissing",
    )
    .await?;
    ensure!(
        cond(&gone).message.starts_with("your record: "),
        "{:?}",
        cond(&gone)
    );
    Ok((mitm, gone))
}

/// Later resyncs probe again (every 4 s here) and find the same: no status write, and the
/// verdict was announced once.
async fn no_rewrite_no_repeat(env: &TestEnv, ok: &ClerkDomain) -> anyhow::Result<()> {
    let rv = ok.metadata.resource_version.clone();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let again = env.domains().get("ok").await?;
    ensure!(
        again.metadata.resource_version == rv,
        "status rewritten without a change"
    );
    // The verdict was announced once: later probes that find the same publish nothing.
    let events = env.events_in(&env.ns, "ok").await?;
    let healthy: Vec<&(String, i32)> = events.iter().filter(|(r, _)| r == "FrontendAPIHealthy").collect();
    ensure!(healthy == [&("FrontendAPIHealthy".to_string(), 1)], "{events:?}");
    Ok(())
}

/// Clerk's target stops resolving: Clerk's side; it resolves again: healthy again.
async fn target_unresolved_and_back(env: &TestEnv, bind: &Bind) -> anyhow::Result<()> {
    bind.nsupdate("clerk.services", &[&format!("update delete {TARGET} A")])?;
    let ok = wait_condition(
        env,
        "ok",
        "FrontendAPIReachable",
        "False",
        "FrontendAPITargetUnresolved",
    )
    .await?;
    ensure!(cond(&ok).message.starts_with("Clerk's side: "), "{:?}", cond(&ok));
    ensure!(is_true(&ok, "Ready"));
    bind.nsupdate(
        "clerk.services",
        &[&format!("update add {TARGET} 60 A 127.0.0.1")],
    )?;
    wait_condition(env, "ok", "FrontendAPIReachable", "True", "FrontendAPIHealthy").await?;
    Ok(())
}

/// The Clerk API client's transport trusts the extra roots too (and only with them the test CA).
async fn clerk_api_client_trusts_the_extra_ca(
    fapi: &FakeFrontendApi,
    roots: &[reqwest::Certificate],
) -> anyhow::Result<()> {
    use clerk_operator::clerk::{ClientConfig, http_client_for};
    let url = format!("https://localhost:{}/v1/health", fapi.addr().port());
    let with = http_client_for(&ClientConfig::default(), roots)
        .get(&url)
        .send()
        .await?;
    ensure!(with.status() == 200, "{}", with.status());
    let without = http_client_for(&ClientConfig::default(), &[])
        .get(&url)
        .send()
        .await;
    let e = without
        .err()
        .context("the test CA is trusted without --extra-ca-file")?;
    ensure!(clerk_operator::frontend_api::is_tls_error(&e), "{e:?}");
    Ok(())
}
