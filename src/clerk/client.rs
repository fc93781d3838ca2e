use super::throttle::Throttle;
use super::{
    ClerkApiError, ClerkError, CreateDomain, CreateProxyCheck, DeletedObject, Domain, DomainList, ErrorItem,
    Instance, ProxyCheck, SecretKey, UpdateDomain,
};
use crate::metrics::Metrics;
use reqwest::{Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Clerk's production Backend API.
pub const DEFAULT_BASE_URL: &str = "https://api.clerk.com/v1";
/// The API version this client is written against (the OpenAPI spec's `info.version`).
pub const DEFAULT_API_VERSION: &str = "2026-05-12";

/// Settings shared by every Clerk client the operator makes.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL including `/v1`, e.g. `https://api.clerk.com/v1`.
    pub base_url: Url,
    /// Sent as the `Clerk-API-Version` header.
    pub api_version: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Extra attempts after a transient failure (5xx, 429, timeout, connection error). A POST is
    /// only retried when Clerk cannot have processed it (429, connection refused).
    pub retries: u32,
    /// First retry delay; doubles each attempt, with jitter, capped at 5 s.
    pub retry_base: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("valid URL"),
            api_version: DEFAULT_API_VERSION.into(),
            timeout: Duration::from_secs(15),
            retries: 3,
            retry_base: Duration::from_millis(200),
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
}

impl std::fmt::Debug for ClerkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkClient")
            .field("base_url", &self.config.base_url.as_str())
            .field("key", &self.key)
            .finish()
    }
}

/// Build the HTTP client once; clients for each key share its connection pool.
pub fn http_client_for(config: &ClientConfig) -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("clerk-operator/", env!("CARGO_PKG_VERSION")))
        .timeout(config.timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client builds with rustls")
}

impl ClerkClient {
    /// A client with its own connection pool.
    pub fn new(config: ClientConfig, key: SecretKey) -> Self {
        Self::with_http(http_client_for(&config), config, key)
    }

    /// A client sharing `http`'s connection pool.
    pub fn with_http(http: reqwest::Client, config: ClientConfig, key: SecretKey) -> Self {
        Self {
            http,
            config,
            key,
            throttle: None,
            metrics: None,
        }
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

    /// The key this client authenticates with.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// `GET /domains`: every domain of the instance, primary included.
    pub async fn list_domains(&self) -> Result<DomainList, ClerkError> {
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
    /// it is only retried when Clerk cannot have processed it (429, connection refused), though
    /// a duplicate check is harmless: the caller may simply call again.
    pub async fn proxy_check(&self, body: &CreateProxyCheck) -> Result<ProxyCheck, ClerkError> {
        self.send("VerifyDomainProxy", Method::POST, "proxy_checks", Some(body))
            .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClerkError> {
        let idempotent = method != Method::POST;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(t) = &self.throttle {
                let waited = t.acquire().await;
                if let Some(m) = &self.metrics {
                    m.rate_limiter_wait_seconds.inc_by(waited.as_secs_f64());
                }
            }
            let started = std::time::Instant::now();
            let result = self.send_once(operation, method.clone(), path, body).await;
            if let Some(m) = &self.metrics {
                let status = match &result {
                    Ok(_) => Some(200),
                    Err(e) => e.status(),
                };
                m.clerk_request(operation, status, started.elapsed());
            }
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if err.status() == Some(429)
                && let Some(t) = &self.throttle
            {
                t.pause_for(err.retry_after().unwrap_or(Duration::from_secs(1)));
            }
            // A POST that may have reached Clerk is never re-sent: the caller re-lists first.
            let safe = idempotent || err.status() == Some(429) || err.is_connect();
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

    async fn send_once<B: Serialize, T: DeserializeOwned>(
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

/// Delay before retry `attempt` (1-based): `base` doubling, ±50% jitter, at most 5 s.
pub(crate) fn retry_delay(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let raw = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(Duration::from_secs(5));
    raw.mul_f64(0.5 + jitter.clamp(0.0, 1.0))
}

/// Parse `Retry-After`: delay-seconds or an HTTP date (RFC 9110).
pub(crate) fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delta = when.as_millisecond() - now.as_millisecond();
    Some(Duration::from_millis(delta.max(0) as u64))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now = jiff::Timestamp::from_second(1_445_412_470).unwrap(); // 2015-10-21T07:27:50Z
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn urls_keep_the_v1_prefix() {
        let c = ClerkClient::new(
            ClientConfig {
                base_url: Url::parse("http://127.0.0.1:1/v1").unwrap(),
                ..Default::default()
            },
            SecretKey::new("sk_test_x"),
        );
        assert_eq!(
            c.url("domains/dmn_1").as_str(),
            "http://127.0.0.1:1/v1/domains/dmn_1"
        );
    }
}
