use super::throttle::Throttle;
use super::{
    ClerkApiError, ClerkError, CreateDomain, CreateProxyCheck, DeletedObject, Domain, ErrorItem, Instance,
    ProxyCheck, SecretKey, UpdateDomain,
};
use crate::leader::Fence;
use crate::metrics::Metrics;
use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
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

/// A Clerk Backend API client bound to one secret key (so, to one Clerk instance).
#[derive(Clone)]
pub struct ClerkClient {
    http: reqwest::Client,
    config: ClientConfig,
    key: SecretKey,
    throttle: Option<Arc<Throttle>>,
    metrics: Option<Arc<Metrics>>,
    fence: Fence,
}

impl std::fmt::Debug for ClerkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkClient")
            .field("base_url", &self.config.base_url.as_str())
            .field("key", &self.key)
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
        Self {
            http,
            config,
            key,
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

    async fn send<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClerkError> {
        let idempotent = method != Method::POST;
        let write = method != Method::GET && method != Method::HEAD;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.take_turn(operation, write).await?;
            let err = match self.attempt(operation, &method, path, body, write).await {
                Ok(v) => return Ok(v),
                // Cancelled because leadership ended: never sent again.
                Err(e @ ClerkError::NotLeader { .. }) => return Err(e),
                Err(e) => e,
            };
            if err.status() == Some(429) {
                // Returned, not slept on: the pause makes the instance's next requests fail
                // fast until it ends, and the caller requeues after `retry_after()`.
                if let Some(t) = &self.throttle {
                    t.pause_for(err.retry_after().unwrap_or(Duration::from_secs(1)));
                }
                return Err(err);
            }
            // A POST that may have reached Clerk is never re-sent: the caller re-lists first.
            let safe = idempotent || err.is_connect();
            if attempt > self.config.retries || !err.is_transient() || !safe {
                return Err(err);
            }
            if let Some(m) = &self.metrics {
                m.clerk_retries
                    .get_or_create(&crate::metrics::OperationLabels { operation })
                    .inc();
            }
            let delay = retry_delay(self.config.retry_base, attempt, rand::random());
            tracing::debug!(operation, attempt, error = %err, delay_ms = delay.as_millis() as u64, "retrying Clerk request");
            tokio::time::sleep(delay).await;
        }
    }

    /// Wait for the instance's rate budget, then (for a write) check leadership right before
    /// it is sent. A pause Clerk asked for, or a budget that enough requests already wait for,
    /// fails at once, so that the worker is free for other instances' objects; the controller
    /// requeues after the pause or at the request's turn.
    async fn take_turn(&self, operation: &'static str, write: bool) -> Result<(), ClerkError> {
        if let Some(t) = &self.throttle {
            let waited = t.acquire().await.map_err(|wait| match wait {
                super::Wait::Paused(retry_after) => ClerkError::RateLimited {
                    operation,
                    retry_after,
                },
                super::Wait::Turn(turn_at) => ClerkError::Queued { operation, turn_at },
            })?;
            if let Some(m) = &self.metrics {
                m.rate_limiter_wait_seconds.inc_by(waited.as_secs_f64());
            }
        }
        if write && !self.fence.is_leading() {
            return Err(self.refused(operation));
        }
        Ok(())
    }

    /// One request, counted; a write still in flight when leadership ends is cancelled.
    async fn attempt<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &'static str,
        method: &Method,
        path: &str,
        body: Option<&B>,
        write: bool,
    ) -> Result<T, ClerkError> {
        let started = std::time::Instant::now();
        let once = self.send_once(operation, method.clone(), path, body);
        let result = match self.fence.deadline().filter(|_| write) {
            Some(deadline) => match tokio::time::timeout_at(deadline, once).await {
                Ok(r) => r,
                Err(_) => return Err(self.refused(operation)),
            },
            None => once.await,
        };
        if let Some(m) = &self.metrics {
            let status = match &result {
                Ok(_) => Some(200),
                Err(e) => e.status(),
            };
            m.clerk_request(operation, status, started.elapsed());
        }
        result
    }

    async fn send_once<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClerkError> {
        let url = self.url(path);
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(self.key.expose())
            .header("Clerk-API-Version", &self.config.api_version)
            .header(header::ACCEPT, "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let started = std::time::Instant::now();
        let result = req.send().await;
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                tracing::debug!(operation, error = %e, "Clerk request failed");
                return Err(ClerkError::Transport {
                    operation,
                    message: describe(&e),
                    timeout: e.is_timeout(),
                    connect: e.is_connect(),
                });
            }
        };
        let status = resp.status();
        tracing::debug!(
            operation,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Clerk request"
        );
        if status.is_success() {
            let bytes = resp.bytes().await.map_err(|e| ClerkError::Transport {
                operation,
                message: describe(&e),
                timeout: e.is_timeout(),
                connect: false,
            })?;
            return serde_json::from_slice(&bytes).map_err(|e| ClerkError::Decode {
                operation,
                message: e.to_string(),
            });
        }
        Err(ClerkError::Api {
            operation,
            error: read_error(status, resp).await,
        })
    }

    fn refused(&self, operation: &'static str) -> ClerkError {
        tracing::warn!(operation, "not leader: Clerk write refused");
        if let Some(m) = &self.metrics {
            m.clerk_writes_fenced.inc();
        }
        ClerkError::NotLeader { operation }
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

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    clerk_trace_id: Option<String>,
}

async fn read_error(status: StatusCode, resp: reqwest::Response) -> ClerkApiError {
    let header_trace = resp
        .headers()
        .get("clerk-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
    let body = resp.bytes().await.unwrap_or_default();
    let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
    let (errors, body_trace) = match parsed {
        Some(b) => (b.errors, b.clerk_trace_id),
        None => {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(300).collect();
            let item = ErrorItem {
                message: status.canonical_reason().unwrap_or("error").to_string(),
                long_message: text.trim().to_string(),
                code: String::new(),
                meta: None,
            };
            (vec![item], None)
        }
    };
    ClerkApiError {
        status: status.as_u16(),
        errors,
        trace_id: body_trace.or(header_trace),
        retry_after,
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

mod retry;
pub use retry::MAX_RETRY_AFTER;
pub(crate) use retry::{parse_retry_after, retry_delay};
#[cfg(test)]
mod tests;
