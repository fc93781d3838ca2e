//! Prometheus metrics. Label values are bounded: operations, status codes, results and
//! condition states. The one exception is `clerkdomain_condition`, one series per object and
//! condition, labelled with the object's namespace and name so that alerts can name it; it is
//! computed at scrape time from the controller's cache, so a deleted object leaves no series.

use crate::api::{ClerkDomain, condition_type};
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClerkRequestLabels {
    /// The operationId: `ListDomains`, `AddDomain`, `UpdateDomain`, `DeleteDomain`,
    /// `GetInstance`, `VerifyDomainProxy`, `PlatformGetApplicationDomainStatus`,
    /// `PlatformTriggerDNSCheck`.
    pub operation: &'static str,
    /// HTTP status code, or `error` when no response arrived.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrdLabels {
    /// The CRD's name, e.g. `dnsendpoints.externaldns.k8s.io`.
    pub crd: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success`, `failure` or `error`.
    pub result: &'static str,
}

/// Every metric the operator exports.
pub struct Metrics {
    pub registry: Registry,
    pub clerk_requests: Family<ClerkRequestLabels, Counter>,
    pub clerk_retries: Family<OperationLabels, Counter>,
    pub clerk_request_duration: Family<OperationLabels, Histogram>,
    pub rate_limiter_wait_seconds: Counter<f64, AtomicU64>,
    pub rate_limiter_turns: Counter,
    pub list_cache_hits: Counter,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub reconcile_panics: Counter,
    pub secret_reads: Counter,
    /// `clerkdomains{ready}` and `clerkdomain_condition{..}`, from the controller's cache.
    pub objects: ObjectCollector,
    pub leader: Gauge,
    pub clerk_writes_fenced: Counter,
    pub crd_missing: Family<CrdLabels, Gauge>,
}

const HELP_CLERK_REQUESTS: &str = "Clerk API requests by operation and HTTP status";
const HELP_CLERK_RETRIES: &str = "Clerk API requests retried";
const HELP_CLERK_REQUEST_DURATION: &str = "Duration of Clerk API requests";
const HELP_RATE_LIMITER_WAIT_SECONDS: &str = "Time spent waiting on the client-side rate limiter";
const HELP_RATE_LIMITER_TURNS: &str = "Reconciles requeued for their turn in an instance's spent client-side rate budget instead of waiting in a worker";
const HELP_LIST_CACHE_HITS: &str = "Domain lists served from the shared cache";
const HELP_RECONCILES: &str = "Reconciles by result";
const HELP_RECONCILE_DURATION: &str = "Duration of reconciles";
const HELP_RECONCILE_PANICS: &str = "Reconciles that panicked (contained; the object is retried)";
const HELP_SECRET_READS: &str =
    "Secrets read from the API server for their key (when changed, or after the key cache TTL)";
const HELP_LEADER: &str = "1 while this process holds the leader Lease (or runs without election)";
const HELP_CRD_MISSING: &str =
    "1 while an optional CRD the operator uses (external-dns's DNSEndpoint) is not served";
const HELP_CLERK_WRITES_FENCED: &str =
    "Clerk writes refused or cancelled because this process did not hold the leader Lease";

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("clerk_operator");
        let objects = ObjectCollector::default();
        registry.register_collector(Box::new(objects.clone()));
        let r = &mut registry;
        let requests = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        Self {
            clerk_requests: register(r, "clerk_requests", HELP_CLERK_REQUESTS, Default::default()),
            clerk_retries: register(r, "clerk_retries", HELP_CLERK_RETRIES, Default::default()),
            clerk_request_duration: register(
                r,
                "clerk_request_duration_seconds",
                HELP_CLERK_REQUEST_DURATION,
                requests,
            ),
            rate_limiter_wait_seconds: register(
                r,
                "clerk_rate_limiter_wait_seconds",
                HELP_RATE_LIMITER_WAIT_SECONDS,
                Default::default(),
            ),
            rate_limiter_turns: register(
                r,
                "clerk_rate_limiter_turns",
                HELP_RATE_LIMITER_TURNS,
                Counter::default(),
            ),
            list_cache_hits: register(
                r,
                "clerk_list_cache_hits",
                HELP_LIST_CACHE_HITS,
                Default::default(),
            ),
            reconciles: register(r, "reconciles", HELP_RECONCILES, Default::default()),
            reconcile_duration: register(
                r,
                "reconcile_duration_seconds",
                HELP_RECONCILE_DURATION,
                Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            ),
            reconcile_panics: register(r, "reconcile_panics", HELP_RECONCILE_PANICS, Counter::default()),
            secret_reads: register(r, "secret_reads", HELP_SECRET_READS, Counter::default()),
            leader: register(r, "leader", HELP_LEADER, Gauge::default()),
            clerk_writes_fenced: register(
                r,
                "clerk_writes_fenced",
                HELP_CLERK_WRITES_FENCED,
                Default::default(),
            ),
            crd_missing: register(r, "crd_missing", HELP_CRD_MISSING, Default::default()),
            objects,
            registry,
        }
    }
}

/// Register `metric` as `name` with `help`; returns it (metrics are shared handles).
fn register<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// `crd_missing{crd}`: 1 while `crd` is not served.
    pub fn set_crd_missing(&self, crd: &'static str, missing: bool) {
        self.crd_missing
            .get_or_create(&CrdLabels { crd })
            .set(i64::from(missing));
    }

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

    /// The text exposition format of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The gauges read from the controller's cache of ClerkDomains at scrape time:
/// `clerkdomains{ready}` (objects by their `Ready` status: `True`, `False`, `Unknown`) and
/// `clerkdomain_condition{namespace, name, type, status, reason}` (1 per object and condition).
#[derive(Debug, Default, Clone)]
pub struct ObjectCollector(Arc<OnceLock<Store<ClerkDomain>>>);

impl ObjectCollector {
    /// Read objects from `store` from now on (before, a scrape shows no objects).
    pub fn set_store(&self, store: Store<ClerkDomain>) {
        let _ = self.0.set(store);
    }
}

/// How many of `objects` are `Ready` `True`, `False` and `Unknown` (or without the condition).
fn ready_counts(objects: &[Arc<ClerkDomain>]) -> [(&'static str, i64); 3] {
    let mut counts = [("True", 0), ("False", 0), ("Unknown", 0)];
    for o in objects {
        let ready = o
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == condition_type::READY));
        let i = match ready.map(|c| c.status.as_str()) {
            Some("True") => 0,
            Some("False") => 1,
            _ => 2,
        };
        counts[i].1 += 1;
    }
    counts
}

/// The labels of every `clerkdomain_condition` series of `objects`, in order.
fn condition_series(objects: &[Arc<ClerkDomain>]) -> impl Iterator<Item = [(&'static str, &str); 5]> {
    objects.iter().flat_map(|o| {
        let namespace = o.metadata.namespace.as_deref().unwrap_or_default();
        let name = o.metadata.name.as_deref().unwrap_or_default();
        let conditions = o.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
        conditions.iter().map(move |c| {
            [
                ("namespace", namespace),
                ("name", name),
                ("type", c.type_.as_str()),
                ("status", c.status.as_str()),
                ("reason", c.reason.as_str()),
            ]
        })
    })
}

impl Collector for ObjectCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.0.get().map(Store::state).unwrap_or_default();
        let ready = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "clerkdomains",
            "ClerkDomains by Ready status",
            None,
            ready.metric_type(),
        )?;
        for (status, n) in ready_counts(&objects) {
            ConstGauge::new(n).encode(family.encode_family(&[("ready", status)])?)?;
        }
        let one = ConstGauge::new(1i64);
        let mut family = encoder.encode_descriptor(
            "clerkdomain_condition",
            "A condition of a ClerkDomain (1 per object, type, status and reason)",
            None,
            one.metric_type(),
        )?;
        for labels in condition_series(&objects) {
            one.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClerkDomainSpec, ClerkDomainStatus, condition};

    fn object(name: &str, conditions: &[(&str, bool, &str)]) -> Arc<ClerkDomain> {
        let mut o = ClerkDomain::new(name, ClerkDomainSpec::for_domain("a.example.com"));
        o.metadata.namespace = Some("ns".into());
        let now = jiff::Timestamp::from_second(1).unwrap();
        if !conditions.is_empty() {
            o.status = Some(ClerkDomainStatus {
                conditions: conditions
                    .iter()
                    .map(|(t, s, r)| condition(t, *s, r, "", None, now))
                    .collect(),
                ..Default::default()
            });
        }
        Arc::new(o)
    }

    #[test]
    fn one_series_per_object_and_condition_and_ready_counts() {
        let objects = [
            object(
                "a",
                &[
                    ("Ready", false, "AlreadyOwned"),
                    ("Stalled", true, "AlreadyOwned"),
                ],
            ),
            object(
                "b",
                &[("Ready", true, "Synced"), ("DNSVerified", false, "NotResolving")],
            ),
            object("c", &[]),
        ];
        let series: Vec<String> = condition_series(&objects)
            .map(|l| l.map(|(k, v)| format!("{k}={v}")).join(","))
            .collect();
        assert_eq!(
            series,
            [
                "namespace=ns,name=a,type=Ready,status=False,reason=AlreadyOwned",
                "namespace=ns,name=a,type=Stalled,status=True,reason=AlreadyOwned",
                "namespace=ns,name=b,type=Ready,status=True,reason=Synced",
                "namespace=ns,name=b,type=DNSVerified,status=False,reason=NotResolving",
            ]
        );
        assert_eq!(
            ready_counts(&objects),
            [("True", 1), ("False", 1), ("Unknown", 1)]
        );
    }

    #[test]
    fn a_scrape_reads_the_store() {
        let metrics = Metrics::default();
        let before = metrics.encode().unwrap();
        assert!(
            before.contains("clerk_operator_clerkdomains{ready=\"Unknown\"} 0"),
            "{before}"
        );
        let (store, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(
            object("a", &[("Ready", true, "Synced")]).as_ref().clone(),
        ));
        metrics.objects.set_store(store);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("# TYPE clerk_operator_clerkdomains gauge"),
            "{text}"
        );
        assert!(
            text.contains("clerk_operator_clerkdomains{ready=\"True\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "clerk_operator_clerkdomain_condition{namespace=\"ns\",name=\"a\",type=\"Ready\",status=\"True\",reason=\"Synced\"} 1"
            ),
            "{text}"
        );
    }
}
