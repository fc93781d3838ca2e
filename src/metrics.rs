//! Prometheus metrics. Label values are bounded: operations, status codes, results and
//! condition states, never object names or domain names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClerkRequestLabels {
    /// `ListDomains`, `AddDomain`, `UpdateDomain`, `DeleteDomain`, `GetInstance`.
    pub operation: &'static str,
    /// HTTP status code, or `error` when no response arrived.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success`, `failure` or `error`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    /// `True`, `False` or `Unknown`.
    pub ready: &'static str,
}

/// Every metric the operator exports.
pub struct Metrics {
    pub registry: Registry,
    pub clerk_requests: Family<ClerkRequestLabels, Counter>,
    pub clerk_retries: Family<OperationLabels, Counter>,
    pub clerk_request_duration: Family<OperationLabels, Histogram>,
    pub rate_limiter_wait_seconds: Counter<f64, AtomicU64>,
    pub list_cache_hits: Counter,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub reconcile_panics: Counter,
    pub secret_reads: Counter,
    pub clerkdomains: Family<ReadyLabels, Gauge>,
    /// Per-object conditions, computed at scrape time from the controller's cache.
    pub conditions: crate::condition_metrics::ConditionCollector,
    pub leader: Gauge,
    pub clerk_writes_fenced: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("clerk_operator");
        let clerk_requests = Family::<ClerkRequestLabels, Counter>::default();
        registry.register(
            "clerk_requests",
            "Clerk API requests by operation and HTTP status",
            clerk_requests.clone(),
        );
        let clerk_retries = Family::<OperationLabels, Counter>::default();
        registry.register(
            "clerk_retries",
            "Clerk API requests retried",
            clerk_retries.clone(),
        );
        let clerk_request_duration = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        registry.register(
            "clerk_request_duration_seconds",
            "Duration of Clerk API requests",
            clerk_request_duration.clone(),
        );
        let rate_limiter_wait_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "clerk_rate_limiter_wait_seconds",
            "Time spent waiting on the client-side rate limiter",
            rate_limiter_wait_seconds.clone(),
        );
        let list_cache_hits = Counter::default();
        registry.register(
            "clerk_list_cache_hits",
            "Domain lists served from the shared cache",
            list_cache_hits.clone(),
        );
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            reconcile_duration.clone(),
        );
        let reconcile_panics = Counter::default();
        registry.register(
            "reconcile_panics",
            "Reconciles that panicked (contained; the object is retried)",
            reconcile_panics.clone(),
        );
        let secret_reads = Counter::default();
        registry.register(
            "secret_reads",
            "Secrets read from the API server for their key (only when their resourceVersion changed)",
            secret_reads.clone(),
        );
        let clerkdomains = Family::<ReadyLabels, Gauge>::default();
        registry.register(
            "clerkdomains",
            "ClerkDomains by Ready status",
            clerkdomains.clone(),
        );
        let conditions = crate::condition_metrics::ConditionCollector::default();
        registry.register_collector(Box::new(conditions.clone()));
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this process holds the leader Lease (or runs without election)",
            leader.clone(),
        );
        let clerk_writes_fenced = Counter::default();
        registry.register(
            "clerk_writes_fenced",
            "Clerk writes refused or cancelled because this process did not hold the leader Lease",
            clerk_writes_fenced.clone(),
        );
        Self {
            leader,
            clerk_writes_fenced,
            registry,
            clerk_requests,
            clerk_retries,
            clerk_request_duration,
            rate_limiter_wait_seconds,
            list_cache_hits,
            reconciles,
            reconcile_duration,
            reconcile_panics,
            secret_reads,
            clerkdomains,
            conditions,
        }
    }
}

impl Metrics {
    /// Count one Clerk request.
    pub fn clerk_request(&self, operation: &'static str, status: Option<u16>, elapsed: Duration) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.clerk_requests
            .get_or_create(&ClerkRequestLabels { operation, status })
            .inc();
        self.clerk_request_duration
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    /// Text exposition format, as one string (tests; the server streams it, [`Metrics::write`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.write(&mut out).expect("encoding to a String");
        out
    }

    /// Text exposition format, written to `out` as it is encoded: a scrape at 10,000 objects is
    /// 40,000 series (about 5 MB), which the HTTP server sends in chunks instead of holding.
    pub fn write(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        prometheus_client::encoding::text::encode(out, &self.registry)
    }
}
