//! The Frontend API probe behind `FrontendAPIReachable`: `GET https://<host>/v1/health` over the
//! domain's own Frontend API host (`clerk.<domain>`), resolved through the resolver of DNS
//! verification and verified against the system's trust roots plus `--extra-ca-file`.
//!
//! Clerk answers `200 {"status":"healthy"}` or `503 {"status":"unhealthy","message":..}`. A 200
//! proves the user's record, Clerk's certificate and the routing to Clerk end to end, without a
//! credential. What fails is told apart as [`Health`]: Clerk's side (unhealthy, or Clerk's
//! target does not resolve) from the user's (the host does not exist, its CNAME points elsewhere,
//! the TLS handshake fails, something else answers).
//!
//! The same prober (client, trust roots, resolver, timeout) probes proxied domains through their
//! proxy ([`proxy_health`]).

use crate::dns::normalize_name;
use crate::dns::verify::Verifier;
use std::net::SocketAddr;
use std::time::Duration;

mod classify;
pub mod forwarded;
pub mod proxy_health;
pub mod trust;

pub use classify::{Health, is_tls_error};
pub use proxy_health::ProxyHealth;

/// How to build a [`Prober`].
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The port the probe connects to. Production: 443 (the Frontend API's). Tests set a
    /// loopback server's port (the hidden flag `--frontend-api-port`); the host name, so SNI and
    /// certificate verification, stay the domain's.
    pub port: u16,
    /// Timeout of one probe (DNS lookups, connect, TLS, answer): the controller cuts a probe
    /// that takes longer, so a reconcile never waits longer than this on its probes.
    pub timeout: Duration,
    /// Trust roots added to the system's (`--extra-ca-file`).
    pub extra_roots: Vec<reqwest::Certificate>,
    /// The DNS server to resolve through (`--dns-resolver`); `None`: the system resolver.
    pub resolver: Option<SocketAddr>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            port: 443,
            timeout: Duration::from_secs(5),
            extra_roots: vec![],
            resolver: None,
        }
    }
}

/// Probes Frontend API hosts. Cheap to clone; share one.
#[derive(Clone, Debug)]
pub struct Prober {
    http: reqwest::Client,
    dns: Verifier,
    port: u16,
    timeout: Duration,
}

/// reqwest's resolver: the verifier's, so the probe sees what DNS verification sees.
struct ViaVerifier(Verifier);

impl reqwest::dns::Resolve for ViaVerifier {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.0.clone();
        Box::pin(async move {
            let ips = dns.addresses(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

impl Prober {
    /// A prober as `config` says.
    pub fn new(config: ProbeConfig) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let dns = Verifier::new(crate::dns::verify::VerifierConfig {
            server: config.resolver,
            ..Default::default()
        })?;
        let http = reqwest::Client::builder()
            .user_agent(crate::clerk::user_agent(None))
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .tls_certs_merge(config.extra_roots)
            .dns_resolver(std::sync::Arc::new(ViaVerifier(dns.clone())))
            .build()?;
        Ok(Self {
            http,
            dns,
            port: config.port,
            timeout: config.timeout,
        })
    }

    /// The timeout of one probe ([`ProbeConfig::timeout`]).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The health URL of `host`.
    pub fn url(&self, host: &str) -> String {
        let host = normalize_name(host);
        match self.port {
            443 => format!("https://{host}/v1/health"),
            port => format!("https://{host}:{port}/v1/health"),
        }
    }

    /// Probe `host`; `clerk_target` is the value Clerk gives for its CNAME (to tell Clerk's
    /// unresolvable target from a record pointing elsewhere).
    pub async fn probe(&self, host: &str, clerk_target: Option<&str>) -> Health {
        match self.dns.addresses(host).await {
            Ok(ips) if !ips.is_empty() => {}
            Ok(_) => return self.unresolved(host, clerk_target).await,
            Err(e) => return Health::Unreachable(format!("looking up {}: {e}", normalize_name(host))),
        }
        match self.http.get(self.url(host)).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                classify::answer(status, &body)
            }
            Err(e) => classify::send_error(&e),
        }
    }

    /// `host` has no address: a missing record, a CNAME pointing elsewhere, or Clerk's target
    /// not resolving.
    async fn unresolved(&self, host: &str, clerk_target: Option<&str>) -> Health {
        let want = clerk_target.map(normalize_name);
        match self.dns.cnames(host).await {
            Ok(found) if found.is_empty() => Health::RecordMissing,
            Ok(found) => match want {
                Some(w) if found.iter().any(|f| *f != w) => Health::RecordWrong { found, want: w },
                _ => Health::TargetUnresolved {
                    target: found.join(", "),
                },
            },
            Err(e) => Health::Unreachable(format!("looking up {}: {e}", normalize_name(host))),
        }
    }
}
