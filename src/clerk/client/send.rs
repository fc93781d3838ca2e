//! The one send path of every Clerk request, Backend and Platform API alike: the instance's (or
//! token's) rate budget and 429 pause, the leader fence for writes, retries, and the request
//! metrics (operation and HTTP status, never the bearer).

use super::{ClerkClient, parse_retry_after, retry_delay};
use crate::clerk::{ClerkApiError, ClerkError, ErrorItem, Wait};
use reqwest::{Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;

impl ClerkClient {
    pub(in crate::clerk) async fn send<B: Serialize, T: DeserializeOwned + Send + 'static>(
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
                Wait::Paused(retry_after) => ClerkError::RateLimited {
                    operation,
                    retry_after,
                },
                Wait::Turn(turn_at) => ClerkError::Queued { operation, turn_at },
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
            .bearer_auth(self.bearer.expose())
            .header(header::ACCEPT, "application/json");
        if self.bearer.versioned() {
            req = req.header("Clerk-API-Version", &self.config.api_version);
        }
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
