//! Proxy health through a real reverse proxy: nginx from Debian's packages, configured as
//! Clerk's proxy guide says, in front of the fake Frontend API (TLS, test CA), its names resolved
//! through BIND 9; the fake Frontend API answers `/v1/proxy-health` from the fake Clerk's
//! domains and keys, as Clerk does.

use super::*;
use clerk_operator::frontend_api::ProbeConfig;
use test_kit::fake_frontend_api::{Behaviour, FakeFrontendApi};
use test_kit::nginx::{ClerkProxy, ForwardedFor, Nginx};

/// Clerk's Frontend API host behind the proxies.
const FAPI: &str = "frontend-api.clerk.services";
/// A public address a proxy behind a CDN forwards (TEST-NET-3, RFC 5737: no private range).
const PUBLIC: &str = "203.0.113.7";

/// One nginx for `host`, forwarding `forwarded_for` and `secret_key`.
fn proxy(
    fapi: &FakeFrontendApi,
    host: &str,
    forwarded_for: ForwardedFor,
    secret_key: &str,
) -> anyhow::Result<Nginx> {
    let (cert, key) = fapi.issue(host)?;
    let ca = fapi.ca_pem();
    Nginx::start(&ClerkProxy {
        host,
        cert_pem: &cert,
        key_pem: &key,
        upstream: fapi.addr(),
        upstream_name: FAPI,
        upstream_ca_pem: &ca,
        secret_key,
        forwarded_for,
    })
}

/// `ProxyVerified`'s message after Clerk's verdict reports what the probe found through nginx:
/// with `$remote_addr` (the operator's loopback address) a warning and one Warning Event; with a
/// public address no warning; a wrong secret key Clerk's `unhealthy` answer; a proxy that went
/// down "no answer". Clerk's verdict (`True`/`ProxyWorks`) and `Ready` stay as they were.
pub async fn proxy_health_reports_what_clerk_saw_through_nginx(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let bind = Bind::start(&["example.com"])?;
    let fapi = FakeFrontendApi::start(&[(FAPI, Behaviour::Healthy)]).await?;
    let names = ["loop", "pub", "badkey", "down"];
    let mut proxies = start_proxies(&bind, &fapi, &names)?;
    let env = start_env(&cp, &bind, &fapi, &names, &proxies).await?;
    let (lo, public, bad, lo_message) = first_reports(&env).await?;

    // The proxy goes down: the probe says so; Clerk's verdict stays.
    proxies[3].stop();
    let down = report(&env, "down", "no answer").await?;
    for o in [&lo, &public, &bad, &down] {
        let c = condition(o, "ProxyVerified").unwrap();
        ensure!(
            c.status == "True" && c.reason == "ProxyWorks" && c.message.starts_with("Clerk reached"),
            "the probe never changes Clerk's verdict: {c:?}"
        );
        ensure!(is_true(o, "Ready"), "the probe never gates Ready: {:?}", o.status);
    }
    env.wait_event("down", "ProxyHealthFailed").await?;

    // Later probes (every 4 s here) find the same: the warning was announced once.
    warned_once(&env, &lo_message).await?;
    drop(proxies);
    Ok(())
}

/// An A record and an nginx for each of `names`: `loop` forwards `$remote_addr`, the others a
/// public address; `badkey` sends a key of no instance.
fn start_proxies(bind: &Bind, fapi: &FakeFrontendApi, names: &[&str; 4]) -> anyhow::Result<Vec<Nginx>> {
    for name in names {
        bind.nsupdate(
            "example.com",
            &[&format!("update add {name}.example.com 60 A 127.0.0.1")],
        )?;
    }
    let host = |n: &str| format!("{n}.example.com");
    Ok(vec![
        proxy(fapi, &host("loop"), ForwardedFor::RemoteAddr, LIVE_KEY)?,
        proxy(fapi, &host("pub"), ForwardedFor::Fixed(PUBLIC.into()), LIVE_KEY)?,
        proxy(
            fapi,
            &host("badkey"),
            ForwardedFor::Fixed(PUBLIC.into()),
            "sk_live_not_this_instance",
        )?,
        proxy(fapi, &host("down"), ForwardedFor::Fixed(PUBLIC.into()), LIVE_KEY)?,
    ])
}

/// The test env with the probe on, trusting the fake's CA; one ClerkDomain behind each proxy.
async fn start_env(
    cp: &Arc<ControlPlane>,
    bind: &Bind,
    fapi: &FakeFrontendApi,
    names: &[&str; 4],
    proxies: &[Nginx],
) -> anyhow::Result<TestEnv> {
    let host = |n: &str| format!("{n}.example.com");
    let opts = EnvOptions {
        dns_resolver: Some(bind.addr()),
        resync: Duration::from_secs(4),
        frontend_api: Some(ProbeConfig {
            port: fapi.addr().port(),
            extra_roots: vec![reqwest::Certificate::from_pem(fapi.ca_pem().as_bytes())?],
            resolver: Some(bind.addr()),
            timeout: Duration::from_secs(5),
        }),
        ..Default::default()
    };
    let env = TestEnv::start(cp.clone(), "pxhealth", opts).await?;
    fapi.answer_proxy_health_for(env.fake.state());
    env.fake.set_proxy_check_rule(ProxyCheckRule::AlwaysSucceed);
    for (name, nginx) in names.iter().zip(proxies) {
        let spec = format!("  domain: {}\n  proxyUrl: {}\n", host(name), nginx.proxy_url());
        env.create(&manifest(name, &spec)).await?;
    }
    Ok(env)
}

/// `name` once its `ProxyVerified` message contains `want`.
async fn report(env: &TestEnv, name: &str, want: &str) -> anyhow::Result<ClerkDomain> {
    wait_for(
        &env.domains(),
        name,
        &format!("ProxyVerified reports {want:?}"),
        CONVERGE,
        |o| condition(o, "ProxyVerified").is_some_and(|c| c.message.contains(want)),
    )
    .await
}

/// What the probe found through each proxy: a loopback warning, a public address, Clerk's
/// `unhealthy` answer, and their Events. The first three objects and the loopback message.
async fn first_reports(env: &TestEnv) -> anyhow::Result<(ClerkDomain, ClerkDomain, ClerkDomain, String)> {
    let lo = report(
        env,
        "loop",
        "proxy health: Clerk saw X-Forwarded-For \"127.0.0.1\" through the proxy",
    )
    .await?;
    let lo_message = condition(&lo, "ProxyVerified").unwrap().message.clone();
    ensure!(
        lo_message.contains("Warning: 127.0.0.1 is a loopback address"),
        "{lo_message}"
    );
    let public = report(
        env,
        "pub",
        "proxy health: Clerk saw X-Forwarded-For \"203.0.113.7\" through the proxy",
    )
    .await?;
    let public_message = condition(&public, "ProxyVerified").unwrap().message.clone();
    ensure!(!public_message.contains("Warning"), "{public_message}");
    let bad = report(
        env,
        "badkey",
        "answered 503 unhealthy: the Clerk-Secret-Key header is not a valid secret key",
    )
    .await?;
    report(env, "down", "through the proxy").await?;
    env.wait_event("loop", "ProxyForwardedAddressSuspect").await?;
    env.wait_event("pub", "ProxyHealthy").await?;
    env.wait_event("badkey", "ProxyHealthFailed").await?;
    Ok((lo, public, bad, lo_message))
}

/// Later probes (every 4 s here) find the same: the warning was announced once.
async fn warned_once(env: &TestEnv, lo_message: &str) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(10)).await;
    let events = env.events_in(&env.ns, "loop").await?;
    let warned: Vec<_> = events
        .iter()
        .filter(|(r, _)| r == "ProxyForwardedAddressSuspect")
        .collect();
    ensure!(
        warned == [&("ProxyForwardedAddressSuspect".to_string(), 1)],
        "{events:?}"
    );
    let public_events = env.events_in(&env.ns, "pub").await?;
    ensure!(
        !public_events
            .iter()
            .any(|(r, _)| r == "ProxyForwardedAddressSuspect"),
        "{public_events:?}"
    );
    let again = env.domains().get("loop").await?;
    ensure!(condition(&again, "ProxyVerified").unwrap().message == lo_message);
    Ok(())
}
