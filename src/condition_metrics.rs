//! `clerk_operator_clerkdomain_condition{namespace, name, type, status, reason}`: one series per
//! object and health condition, computed at scrape time from the controller's cache, so a
//! deleted object leaves no series behind and alerts can fire on `Stalled` objects.

use crate::api::condition_type;
use crate::controller::CachedDomain;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::{Arc, OnceLock};

/// The condition types exported per object.
const TYPES: [&str; 4] = [
    condition_type::READY,
    condition_type::SYNCED,
    condition_type::RECONCILING,
    condition_type::STALLED,
];

#[derive(Debug, Default, Clone)]
pub struct ConditionCollector(Arc<OnceLock<Store<CachedDomain>>>);

impl ConditionCollector {
    /// Read objects from `store` from now on.
    pub fn set_store(&self, store: Store<CachedDomain>) {
        let _ = self.0.set(store);
    }
}

/// `(namespace, name, type, status, reason)` of every exported condition of `objects`.
/// Calls `f` with the labels of each series: namespace, name, type, status, reason. Borrowed
/// from the cache, not copied: a scrape at 10,000 objects builds no list of 40,000 label sets.
fn for_each_series<E>(
    objects: &[Arc<CachedDomain>],
    mut f: impl FnMut([(&str, &str); 5]) -> Result<(), E>,
) -> Result<(), E> {
    use kube::Resource;
    for o in objects {
        let namespace = o.meta().namespace.as_deref().unwrap_or_default();
        let name = o.meta().name.as_deref().unwrap_or_default();
        o.with_conditions(|conditions| {
            for c in conditions.iter().filter(|c| TYPES.contains(&c.type_.as_ref())) {
                f([
                    ("namespace", namespace),
                    ("name", name),
                    ("type", &c.type_),
                    ("status", &c.status),
                    ("reason", &c.reason),
                ])?;
            }
            Ok(())
        })?;
    }
    Ok(())
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
        for_each_series(&objects, |labels| gauge.encode(family.encode_family(&labels)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClerkDomain, ClerkDomainSpec, ClerkDomainStatus, condition};

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
        let mut kinds: Vec<(String, String, String)> = vec![];
        let cached = [&a, &b].map(|o| Arc::new(CachedDomain::pack(o).unwrap()));
        for_each_series::<()>(&cached, |l| {
            assert_eq!(
                l.map(|(k, _)| k),
                ["namespace", "name", "type", "status", "reason"]
            );
            kinds.push((l[2].1.into(), l[3].1.into(), l[1].1.into()));
            Ok(())
        })
        .unwrap();
        let kinds: Vec<(&str, &str, &str)> = kinds
            .iter()
            .map(|(t, s, n)| (t.as_str(), s.as_str(), n.as_str()))
            .collect();
        assert_eq!(kinds, [("Ready", "False", "a"), ("Stalled", "True", "a")]);
    }
}
