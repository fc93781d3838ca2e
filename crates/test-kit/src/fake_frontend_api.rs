//! A fake Clerk Frontend API over TLS on loopback: `GET /v1/health` answers as Clerk's does
//! (`200 {"status":"healthy"}` or `503 {"status":"unhealthy","message":..}`), per host (by SNI
//! and `Host`). Its certificates come from a test CA made at start ([`FakeFrontendApi::ca_pem`],
//! what the operator is given as an extra trust root); hosts marked [`Behaviour::Untrusted`]
//! get a certificate from another CA, which nobody trusts.
//!
//! Given the embedded fake Clerk's state ([`FakeFrontendApi::answer_proxy_health_for`]) it also
//! answers `GET /v1/proxy-health` as Clerk does for requests a proxy forwards ([`proxy_health`]),
//! and it issues certificates from its test CA for a proxy in front of it
//! ([`FakeFrontendApi::issue`]).

mod proxy_health;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header::HOST};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// How the fake answers for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 `{"status":"healthy"}`, certificate from the test CA.
    Healthy,
    /// 503 `{"status":"unhealthy","message":<message>}`, certificate from the test CA.
    Unhealthy(String),
    /// Healthy, but with a certificate from another CA.
    Untrusted,
}

/// A running fake Frontend API; stops when dropped.
pub struct FakeFrontendApi {
    addr: SocketAddr,
    ca: CertifiedIssuer<'static, KeyPair>,
    clerk: Arc<std::sync::OnceLock<fake_clerk::SharedState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFrontendApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Certificates by SNI name.
#[derive(Debug)]
struct ByName(HashMap<String, Arc<CertifiedKey>>);

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.get(&hello.server_name()?.to_ascii_lowercase()).cloned()
    }
}

fn ca(name: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

fn leaf(host: &str, issuer: &CertifiedIssuer<'static, KeyPair>) -> anyhow::Result<Arc<CertifiedKey>> {
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec![host.to_string()])?.signed_by(&key, issuer)?;
    let der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)?;
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), issuer.der().clone()];
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

async fn health(
    State(hosts): State<Arc<HashMap<String, Behaviour>>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    // HTTP/2 carries the host in the URI (`:authority`), HTTP/1.1 in `Host`.
    let host = uri
        .host()
        .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()))
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
    match hosts.get(&host) {
        Some(Behaviour::Unhealthy(message)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unhealthy", "message": message})),
        ),
        Some(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "healthy"})),
        ),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"errors": [{"code": "host_invalid"}]})),
        ),
    }
}

impl FakeFrontendApi {
    /// Serve `hosts` on a free port of 127.0.0.1.
    pub async fn start(hosts: &[(&str, Behaviour)]) -> anyhow::Result<Self> {
        clerk_operator::install_crypto_provider();
        let (trusted, other) = (ca("fake Frontend API test CA")?, ca("an untrusted CA")?);
        let mut certs = HashMap::new();
        for (host, behaviour) in hosts {
            let issuer = if *behaviour == Behaviour::Untrusted {
                &other
            } else {
                &trusted
            };
            certs.insert(host.to_ascii_lowercase(), leaf(host, issuer)?);
        }
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(ByName(certs)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = tcp.local_addr()?;
        let listener = clerk_operator::http::tls::TlsListener::new(tcp, Arc::new(config))?;
        let behaviours: HashMap<String, Behaviour> = hosts
            .iter()
            .map(|(h, b)| (h.to_ascii_lowercase(), b.clone()))
            .collect();
        let clerk = Arc::new(std::sync::OnceLock::new());
        let app = Router::new()
            .route("/v1/health", axum::routing::get(health))
            .with_state(Arc::new(behaviours))
            .merge(
                Router::new()
                    .route("/v1/proxy-health", axum::routing::get(proxy_health::answer))
                    .with_state(clerk.clone()),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            ca: trusted,
            clerk,
            task,
        })
    }

    /// Where it listens (127.0.0.1 and a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The test CA's certificate (PEM): the operator's extra trust root.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// Answer `/v1/proxy-health` for the domains and keys of `clerk` (the fake Clerk's state);
    /// until then it answers 404. Set once.
    pub fn answer_proxy_health_for(&self, clerk: fake_clerk::SharedState) {
        let _ = self.clerk.set(clerk);
    }

    /// A certificate for `host` from the test CA, as PEM: (the certificate and the CA's, the
    /// private key). For a server in front of the fake (a proxy) that the operator must trust.
    pub fn issue(&self, host: &str) -> anyhow::Result<(String, String)> {
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![host.to_string()])?.signed_by(&key, &self.ca)?;
        Ok((format!("{}{}", cert.pem(), self.ca.pem()), key.serialize_pem()))
    }
}
