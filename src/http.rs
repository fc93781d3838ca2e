//! The operator's HTTP server: `/metrics` (Prometheus text format), `/healthz`, `/readyz`.

use crate::metrics::Metrics;
use axum::body::{Body, Bytes};
use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};
use futures::{Stream, stream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// Readiness flags, set by the controller.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
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
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// The routes.
pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

/// Bind `addr` and serve in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr, metrics: Arc<Metrics>, health: Health) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics, health)).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(bound)
}

/// Size of the pieces a scrape is sent in.
const CHUNK: usize = 64 * 1024;
/// Pieces encoded ahead of the client.
const CHUNKS_AHEAD: usize = 2;

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        Body::from_stream(scrape(move |out| s.metrics.write(out))),
    )
}

/// What `write` writes, in pieces of about [`CHUNK`] bytes, written on a blocking thread as the
/// client reads them. A client that goes away stops the writing; a write that fails ends the
/// stream with an error, so the response is cut off rather than ending as if it were whole.
fn scrape(
    write: impl FnOnce(&mut Chunks) -> std::fmt::Result + Send + 'static,
) -> impl Stream<Item = Result<Bytes, std::fmt::Error>> {
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut out = Chunks {
            buf: String::with_capacity(CHUNK),
            tx,
        };
        let last = match write(&mut out) {
            Ok(()) => Ok(std::mem::take(&mut out.buf).into()),
            Err(e) => Err(e),
        };
        let _ = out.tx.blocking_send(last);
    });
    stream::unfold(rx, |mut rx| async move { Some((rx.recv().await?, rx)) })
}

/// A `fmt::Write` that hands on what it is given in pieces.
struct Chunks {
    buf: String,
    tx: mpsc::Sender<Result<Bytes, std::fmt::Error>>,
}

impl Chunks {
    fn send(&mut self) -> std::fmt::Result {
        let piece = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(piece)))
            .map_err(|_| std::fmt::Error)
    }
}

impl std::fmt::Write for Chunks {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= CHUNK {
            self.send()
        } else {
            Ok(())
        }
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// Metrics with `n` series of about 100 bytes each.
    fn metrics_with(n: usize) -> Arc<Metrics> {
        let m = Metrics::default();
        for i in 0..n {
            let operation: &'static str =
                Box::leak(format!("operation-{i:06}-{}", "x".repeat(40)).into_boxed_str());
            m.clerk_retries
                .get_or_create(&crate::metrics::OperationLabels { operation })
                .inc();
        }
        Arc::new(m)
    }

    #[tokio::test]
    async fn a_large_scrape_is_sent_in_pieces_that_add_up_to_it() {
        let metrics = metrics_with(5_000);
        let whole = metrics.encode();
        assert!(whole.len() > 4 * CHUNK, "{}", whole.len());
        let pieces: Vec<Bytes> = scrape(move |out| metrics.write(out))
            .map(|p| p.unwrap())
            .collect()
            .await;
        assert!(pieces.len() > 4, "{} pieces", pieces.len());
        for p in &pieces {
            // A piece ends at the first write past CHUNK; one write is at most a line.
            assert!(p.len() < CHUNK + 256, "{}", p.len());
        }
        assert_eq!(pieces.concat(), whole.as_bytes());
    }

    #[tokio::test]
    async fn a_scrape_that_fails_ends_with_an_error_not_as_if_whole() {
        use std::fmt::Write;
        let pieces: Vec<_> = scrape(|out| {
            out.write_str(&"x".repeat(CHUNK))?;
            out.write_str("half a line")?;
            Err(std::fmt::Error)
        })
        .collect()
        .await;
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert_eq!(pieces[0].as_ref().map(|p| p.len()), Ok(CHUNK));
        assert!(pieces[1].is_err());
    }

    #[tokio::test]
    async fn the_server_streams_metrics_without_a_length() {
        let metrics = metrics_with(2_000);
        let whole = metrics.encode();
        let addr = spawn("127.0.0.1:0".parse().unwrap(), metrics, Health::default())
            .await
            .unwrap();
        crate::install_crypto_provider();
        let resp = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
        assert!(resp.status().is_success());
        // A body built whole would be sent with its length.
        assert_eq!(resp.content_length(), None);
        assert_eq!(resp.text().await.unwrap(), whole);
    }

    #[tokio::test]
    async fn a_scrape_nobody_reads_stops_encoding() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut out = Chunks {
            buf: String::new(),
            tx,
        };
        let metrics = metrics_with(5_000);
        let written = tokio::task::spawn_blocking(move || metrics.write(&mut out))
            .await
            .unwrap();
        assert!(written.is_err());
    }
}
