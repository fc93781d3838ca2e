//! The operator's HTTP server: `/metrics` (Prometheus text format), `/healthz`, `/readyz`.
//! Plain HTTP, or HTTPS with `/metrics` behind Kubernetes authentication and authorization
//! ([`auth`], [`tls`]); `/healthz` and `/readyz` answer everyone either way.

pub mod auth;
pub mod tls;

use crate::metrics::Metrics;
use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Readiness flags, set by the controller, and what it is waiting for.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    /// Optional CRDs not served, with what that means; listed in the body of `/readyz`.
    missing: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

impl Health {
    /// Mark ready (caches synced) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Record that the optional CRD `crd` is missing (`Some(what it means)`) or served.
    pub fn set_missing(&self, crd: &str, message: Option<String>) {
        let mut missing = self
            .missing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match message {
            Some(m) => missing.insert(crd.to_string(), m),
            None => missing.remove(crd),
        };
    }

    /// The body of `/readyz`: `ready` or `not ready`, then one line per missing optional CRD.
    /// A missing optional CRD does not make the process unready.
    pub fn report(&self) -> String {
        let mut body = String::from(if self.is_ready() { "ready" } else { "not ready" });
        let missing = self
            .missing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (crd, message) in missing.iter() {
            body.push_str(&format!("\nmissing optional CRD {crd}: {message}"));
        }
        body
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// Serving `/metrics` securely: over HTTPS, to callers the API server (through `client`)
/// authenticates and authorizes.
pub struct Secure {
    pub client: kube::Client,
    /// Where `tls.crt` and `tls.key` are; `None`: a self-signed certificate.
    pub cert_dir: Option<std::path::PathBuf>,
}

/// The routes; `/metrics` behind [`auth::require`] when `auth` is given.
pub fn router(metrics: Arc<Metrics>, health: Health, auth: Option<kube::Client>) -> Router {
    let mut routes = Router::new().route("/metrics", get(metrics_handler));
    if let Some(client) = auth {
        let reviewer = auth::Reviewer::new(client);
        routes = routes.route_layer(axum::middleware::from_fn_with_state(reviewer, auth::require));
    }
    routes
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

/// Bind `addr` and serve in the background (HTTPS when `secure`); returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Health,
    secure: Option<Secure>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let scheme = if secure.is_some() { "https" } else { "http" };
    tracing::info!(%bound, scheme, "serving /metrics, /healthz and /readyz");
    match secure {
        Some(s) => {
            let config = tls::server_config(s.cert_dir.as_deref())?;
            let listener = tls::TlsListener::new(listener, config)?;
            let app = router(metrics, health, Some(s.client));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "HTTPS server stopped");
                }
            });
        }
        None => {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router(metrics, health, None)).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
        }
    }
    Ok(bound)
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    match s.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "encoding metrics failed".to_string(),
            )
        }
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let code = match s.health.is_ready() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, s.health.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_server_answers_metrics_health_and_readiness() {
        let metrics = Arc::new(Metrics::default());
        metrics.reconcile_panics.inc();
        let whole = metrics.encode().unwrap();
        let health = Health::default();
        let addr = spawn("127.0.0.1:0".parse().unwrap(), metrics, health.clone(), None)
            .await
            .unwrap();
        crate::install_crypto_provider();
        let get = |path: &'static str| async move {
            let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        };
        assert_eq!(get("/metrics").await, (200, whole.clone()));
        assert!(
            whole.contains("clerk_operator_reconcile_panics_total 1"),
            "{whole}"
        );
        assert_eq!(get("/healthz").await.0, 200);
        assert_eq!(get("/readyz").await.0, 503);
        health.set_ready(true);
        assert_eq!(get("/readyz").await, (200, "ready".to_string()));
        health.set_missing("dnsendpoints.externaldns.k8s.io", Some("not served".into()));
        assert_eq!(
            get("/readyz").await,
            (
                200,
                "ready\nmissing optional CRD dnsendpoints.externaldns.k8s.io: not served".to_string()
            )
        );
        health.set_missing("dnsendpoints.externaldns.k8s.io", None);
        assert_eq!(get("/readyz").await.1, "ready");
    }
}
