//! A small client for Clerk's Platform API (private beta): a domain's readiness
//! (`GET /platform/applications/{app}/domains/{id}/status`) and starting a DNS check
//! (`POST …/dns_check`). Its requests take the Backend client's path: one HTTP connection pool,
//! a rate budget with Clerk's 429 pause, the leader fence (a DNS check is a write), retries and
//! the request metrics. Its bearer is a Platform API access token ([`PlatformToken`]), never a
//! secret key.

use super::bearer::{Bearer, PlatformToken};
use super::{ClerkClient, ClerkError, ClientConfig, Throttle};
use crate::leader::Fence;
use crate::metrics::Metrics;
use clerk_model::platform::{DnsCheck, DomainStatus};
use reqwest::Method;
use std::sync::Arc;
use url::Url;

/// Clerk's production Platform API (the Backend API's host and version).
pub const DEFAULT_PLATFORM_URL: &str = "https://api.clerk.com/v1";

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
pub struct PlatformClient(ClerkClient);

impl PlatformClient {
    /// A client on `http` for the API at `config.base_url` (with `/v1`), without a rate budget
    /// or metrics and with an open fence: the [`ClerkPool`](super::ClerkPool) adds those.
    pub fn new(http: reqwest::Client, config: ClientConfig, token: PlatformToken) -> Self {
        Self(ClerkClient::with_bearer(http, config, Bearer::Platform(token)))
    }

    /// This client, paced by `throttle`, counted in `metrics` and fenced by `fence`.
    pub(super) fn shared(self, throttle: Arc<Throttle>, metrics: Arc<Metrics>, fence: Fence) -> Self {
        Self(
            self.0
                .with_throttle(throttle)
                .with_metrics(metrics)
                .with_fence(fence),
        )
    }

    /// The budget pacing this client, if any.
    pub fn throttle(&self) -> Option<&Arc<Throttle>> {
        self.0.throttle()
    }

    /// `GET /platform/applications/{app}/domains/{domain_id}/status` (operationId
    /// `PlatformGetApplicationDomainStatus`).
    pub async fn status(&self, app: &str, domain_id: &str) -> Result<DomainStatus, ClerkError> {
        let path = path(app, domain_id, "status");
        self.0
            .send::<(), _>("PlatformGetApplicationDomainStatus", Method::GET, &path, None)
            .await
    }

    /// `POST /platform/applications/{app}/domains/{domain_id}/dns_check` (operationId
    /// `PlatformTriggerDNSCheck`); a 409 is [`CheckStarted::Running`], not an error. Like every
    /// POST it is sent only while this process leads.
    pub async fn dns_check(&self, app: &str, domain_id: &str) -> Result<CheckStarted, ClerkError> {
        let path = path(app, domain_id, "dns_check");
        let sent = self
            .0
            .send::<(), DnsCheck>("PlatformTriggerDNSCheck", Method::POST, &path, None)
            .await;
        match sent {
            Ok(c) => Ok(CheckStarted::Started(Box::new(c))),
            Err(e) if e.status() == Some(409) => Ok(CheckStarted::Running),
            Err(e) => Err(e),
        }
    }
}

/// The path below the API's base URL, each ID one encoded segment.
fn path(app: &str, domain_id: &str, what: &str) -> String {
    let mut url = Url::parse("http://platform/").expect("a valid base");
    url.path_segments_mut()
        .expect("an http URL has segments")
        .pop_if_empty()
        .extend(["platform", "applications", app, "domains", domain_id, what]);
    url.path().trim_start_matches('/').to_string()
}
