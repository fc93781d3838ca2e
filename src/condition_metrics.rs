//! `clerk_operator_clerkdomain_condition{namespace, name, type, status, reason}`: one series per
//! object and health condition, computed at scrape time from the controller's cache, so a
//! deleted object leaves no series behind and alerts can fire on `Stalled` objects.

use crate::api::{ClerkDomain, condition_type};
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::{Arc, OnceLock};

/// The condition types exported per object.
const TYPES: [&str; 4] = [
    condition_type::READY,
    condition_type::SYNCED,
    condition_type::RECONCILING,
    condition_type::STALLED,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    namespace: String,
    name: String,
    #[prometheus(flatten)]
    condition: ConditionLabels,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    r#type: String,
    status: String,
    reason: String,
}

/// The collector; the cache is handed over once the controller has it.
#[derive(Debug, Default, Clone)]
pub struct ConditionCollector(Arc<OnceLock<Store<ClerkDomain>>>);

impl ConditionCollector {
    /// Read objects from `store` from now on.
    pub fn set_store(&self, store: Store<ClerkDomain>) {
        let _ = self.0.set(store);
    }
}

/// `(namespace, name, type, status, reason)` of every exported condition of `objects`.
fn series(objects: &[Arc<ClerkDomain>]) -> Vec<Labels> {
    let mut out = vec![];
    for o in objects {
        let Some(st) = &o.status else { continue };
        for c in st.conditions.iter().filter(|c| TYPES.contains(&c.type_.as_str())) {
            out.push(Labels {
                namespace: o.namespace().unwrap_or_default(),
                name: o.name_any(),
                condition: ConditionLabels {
                    r#type: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                },
            });
        }
    }
    out
}

impl Collector for ConditionCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.0.get().map(|s| s.state()).unwrap_or_default();
        let gauge = ConstGauge::new(1i64);
        let mut family = encoder.encode_descriptor(
            "clerkdomain_condition",
            "A condition of a ClerkDomain (1 per object, type, status and reason)",
            None,
            gauge.metric_type(),
        )?;
        for labels in series(&objects) {
            gauge.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClerkDomainSpec, ClerkDomainStatus, condition};

    #[test]
    fn one_series_per_object_and_health_condition() {
        let mut a = ClerkDomain::new("a", ClerkDomainSpec::for_domain("a.example.com"));
        a.metadata.namespace = Some("ns".into());
        let now = jiff::Timestamp::from_second(1).unwrap();
        a.status = Some(ClerkDomainStatus {
            conditions: vec![
                condition("Ready", false, "AlreadyOwned", "", None, now),
                condition("Stalled", true, "AlreadyOwned", "", None, now),
                condition("DNSVerified", true, "Verified", "", None, now),
            ],
            ..Default::default()
        });
        let b = ClerkDomain::new("b", ClerkDomainSpec::for_domain("b.example.com"));
        let got = series(&[Arc::new(a), Arc::new(b)]);
        let kinds: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|l| {
                (
                    l.condition.r#type.as_str(),
                    l.condition.status.as_str(),
                    l.name.as_str(),
                )
            })
            .collect();
        assert_eq!(kinds, [("Ready", "False", "a"), ("Stalled", "True", "a")]);
    }
}
