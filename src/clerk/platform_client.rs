//! A small client for Clerk's Platform API (private beta): a domain's readiness
//! (`GET /platform/applications/{app}/domains/{id}/status`) and starting a DNS check
//! (`POST …/dns_check`). It shares the Backend client's HTTP connection pool; its bearer is a
//! Platform API access token ([`PlatformToken`]), never a secret key.

use clerk_model::platform::{DnsCheck, DomainStatus};
use reqwest::{Method, StatusCode};
use std::fmt;
use std::time::Duration;
use url::Url;

/// Clerk's production Platform API (the Backend API's host and version).
pub const DEFAULT_PLATFORM_URL: &str = "https://api.clerk.com/v1";

/// A Platform API access token. Its `Debug` and `Display` never show the token, so it cannot
/// leak into logs, Events, status or metrics by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PlatformToken(String);

impl PlatformToken {
    /// Wrap a token, trimming surrounding whitespace.
    pub fn new(token: impl AsRef<str>) -> Self {
        Self(token.as_ref().trim().to_string())
    }
}

impl fmt::Debug for PlatformToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformToken(redacted)")
    }
}

impl fmt::Display for PlatformToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a Platform API call gave no answer to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformError {
    /// Clerk answered with this HTTP status (401/403: the token; 404: application or domain).
    Status(u16),
    /// No answer (connection, timeout) or an answer that is not the documented JSON.
    Transport(String),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::Status(s) => write!(f, "Clerk's Platform API answered HTTP {s}"),
            PlatformError::Transport(e) => write!(f, "Clerk's Platform API could not be read: {e}"),
        }
    }
}

/// What `POST …/dns_check` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckStarted {
    /// A check started; the status as of its start.
    Started(Box<DnsCheck>),
    /// 409: a check is running or ran recently.
    Running,
}

/// A Platform API client bound to one token.
#[derive(Clone, Debug)]
pub struct PlatformClient {
    http: reqwest::Client,
    base: Url,
    token: PlatformToken,
    timeout: Duration,
}

impl PlatformClient {
    /// A client on `http` (shared with the Backend clients) for the API at `base` (with `/v1`).
    pub fn new(http: reqwest::Client, base: Url, token: PlatformToken, timeout: Duration) -> Self {
        Self {
            http,
            base,
            token,
            timeout,
        }
    }

    /// `GET /platform/applications/{app}/domains/{domain_id}/status`.
    pub async fn status(&self, app: &str, domain_id: &str) -> Result<DomainStatus, PlatformError> {
        let resp = self.send(Method::GET, app, domain_id, "status").await?;
        decode(resp).await
    }

    /// `POST /platform/applications/{app}/domains/{domain_id}/dns_check`; a 409 is
    /// [`CheckStarted::Running`], not an error.
    pub async fn dns_check(&self, app: &str, domain_id: &str) -> Result<CheckStarted, PlatformError> {
        let resp = self.send(Method::POST, app, domain_id, "dns_check").await?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(CheckStarted::Running);
        }
        decode(resp).await.map(|c| CheckStarted::Started(Box::new(c)))
    }

    async fn send(
        &self,
        method: Method,
        app: &str,
        domain_id: &str,
        what: &str,
    ) -> Result<reqwest::Response, PlatformError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| PlatformError::Transport("the Platform API URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["platform", "applications", app, "domains", domain_id, what]);
        self.http
            .request(method, url)
            .bearer_auth(&self.token.0)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| PlatformError::Transport(e.without_url().to_string()))
    }
}

async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, PlatformError> {
    let status = resp.status();
    if !status.is_success() {
        return Err(PlatformError::Status(status.as_u16()));
    }
    resp.json::<T>()
        .await
        .map_err(|e| PlatformError::Transport(e.without_url().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_token() {
        let t = PlatformToken::new(" ak_platform_supersecret\n");
        assert_eq!(t.0, "ak_platform_supersecret");
        let c = PlatformClient::new(
            crate::clerk::http_client_for(&crate::clerk::ClientConfig::default(), &[]),
            Url::parse(DEFAULT_PLATFORM_URL).unwrap(),
            t.clone(),
            Duration::from_secs(1),
        );
        assert!(!format!("{t:?} {t} {c:?}").contains("supersecret"));
    }
}
