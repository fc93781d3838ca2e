use super::bearer::Bearer;
use super::throttle::Throttle;
use super::{
    ClerkError, CreateDomain, CreateProxyCheck, DeletedObject, Domain, Instance, ProxyCheck, SecretKey,
    UpdateDomain,
};
use crate::leader::Fence;
use crate::metrics::Metrics;
use reqwest::Method;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// `GET /domains` as the operator reads it ([`DomainList`](super::DomainList) on the wire): each domain shared, as
/// the list cache keeps them (see [`SharedDomains`](super::SharedDomains)).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ListedDomains {
    #[serde(default)]
    pub data: Vec<Arc<Domain>>,
    #[serde(default)]
    pub total_count: i64,
}

/// Clerk's production Backend API.
pub const DEFAULT_BASE_URL: &str = "https://api.clerk.com/v1";
/// The API version this client is written against (the OpenAPI spec's `info.version`).
pub const DEFAULT_API_VERSION: &str = "2026-05-12";

mod transport;
pub use transport::{http_client_for, user_agent};

/// Settings shared by every Clerk client the operator makes.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL including `/v1`, e.g. `https://api.clerk.com/v1`.
    pub base_url: Url,
    /// Sent as the `Clerk-API-Version` header.
    pub api_version: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Extra attempts after a transient failure (5xx, timeout, connection error). A POST is
    /// only retried when Clerk cannot have processed it (connection refused). A 429 is never
    /// retried here: it pauses the instance and is returned (see [`Throttle`]).
    pub retries: u32,
    /// First retry delay; doubles each attempt, with jitter, capped at 5 s.
    pub retry_base: Duration,
    /// This process's identity, sent in the `User-Agent` (see [`user_agent`]).
    pub identity: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("valid URL"),
            api_version: DEFAULT_API_VERSION.into(),
            timeout: Duration::from_secs(15),
            retries: 3,
            retry_base: Duration::from_millis(200),
            identity: None,
        }
    }
}

/// A Clerk Backend API client bound to one secret key (so, to one Clerk instance); a
/// [`PlatformClient`](super::PlatformClient) is one bound to a Platform API access token.
#[derive(Clone)]
pub struct ClerkClient {
    http: reqwest::Client,
    config: ClientConfig,
    bearer: Bearer,
    throttle: Option<Arc<Throttle>>,
    metrics: Option<Arc<Metrics>>,
    fence: Fence,
}

impl std::fmt::Debug for ClerkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkClient")
            .field("base_url", &self.config.base_url.as_str())
            .field("bearer", &self.bearer)
            .finish()
    }
}

impl ClerkClient {
    /// A client with its own connection pool.
    pub fn new(config: ClientConfig, key: SecretKey) -> Self {
        Self::with_http(http_client_for(&config, &[]), config, key)
    }

    /// A client sharing `http`'s connection pool.
    pub fn with_http(http: reqwest::Client, config: ClientConfig, key: SecretKey) -> Self {
        Self::with_bearer(http, config, Bearer::Secret(key))
    }

    /// A client sending `bearer`, sharing `http`'s connection pool.
    pub(super) fn with_bearer(http: reqwest::Client, config: ClientConfig, bearer: Bearer) -> Self {
        Self {
            http,
            config,
            bearer,
            throttle: None,
            metrics: None,
            fence: Fence::open(),
        }
    }

    /// Send writes (POST, PATCH, DELETE) only while `fence` is open (this process leads), and
    /// cancel one still in flight when it closes.
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// The throttle pacing this client, if any (read-only use: its [`Throttle::usage`]).
    pub fn throttle(&self) -> Option<&Arc<Throttle>> {
        self.throttle.as_ref()
    }

    /// Pace every attempt through `throttle` (shared by all clients of one instance).
    pub fn with_throttle(mut self, throttle: Arc<Throttle>) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// Count requests, retries and waits in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// `GET /domains`: every domain of the instance, primary included, each read straight into
    /// its shared form (no list of domains is built and then copied).
    pub async fn list_domains(&self) -> Result<ListedDomains, ClerkError> {
        self.send::<(), _>("ListDomains", Method::GET, "domains", None)
            .await
    }

    /// `POST /domains`: add a satellite domain.
    pub async fn create_domain(&self, body: &CreateDomain) -> Result<Domain, ClerkError> {
        self.send("AddDomain", Method::POST, "domains", Some(body)).await
    }

    /// `PATCH /domains/{id}`.
    pub async fn update_domain(&self, id: &str, body: &UpdateDomain) -> Result<Domain, ClerkError> {
        let path = format!("domains/{}", encode(id));
        self.send("UpdateDomain", Method::PATCH, &path, Some(body)).await
    }

    /// `DELETE /domains/{id}` (satellites only).
    pub async fn delete_domain(&self, id: &str) -> Result<DeletedObject, ClerkError> {
        let path = format!("domains/{}", encode(id));
        self.send::<(), _>("DeleteDomain", Method::DELETE, &path, None)
            .await
    }

    /// `GET /instance`.
    pub async fn get_instance(&self) -> Result<Instance, ClerkError> {
        self.send::<(), _>("GetInstance", Method::GET, "instance", None)
            .await
    }

    /// `POST /proxy_checks` (operationId `VerifyDomainProxy`): ask Clerk whether `proxy_url`
    /// forwards to its Frontend API for the domain. A check that ran but failed is `Ok` with
    /// `successful: false`; Clerk answers 422 for an unknown domain or a bad URL. Like every POST,
    /// it is only retried when Clerk cannot have processed it (connection refused), though
    /// a duplicate check is harmless: the caller may simply call again.
    pub async fn proxy_check(&self, body: &CreateProxyCheck) -> Result<ProxyCheck, ClerkError> {
        self.send("VerifyDomainProxy", Method::POST, "proxy_checks", Some(body))
            .await
    }

    fn url(&self, path: &str) -> Url {
        let mut base = self.config.base_url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Url::parse(&base)
            .and_then(|b| b.join(path))
            .expect("path joins onto a valid base URL")
    }
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

mod retry;
mod send;
pub use retry::MAX_RETRY_AFTER;
pub(crate) use retry::{parse_retry_after, retry_delay};
#[cfg(test)]
mod tests;
