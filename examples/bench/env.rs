//! The bench's world (control plane, client, binaries, work dir) and small helpers.

use crate::Args;
use clerk_operator::api::{ClerkDomain, ClerkDomainSpec};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, PostParams};
use std::path::PathBuf;
use std::time::Duration;
use test_kit::controlplane::ControlPlane;

pub(crate) struct Env {
    pub(crate) args: Args,
    pub(crate) cp: ControlPlane,
    pub(crate) client: Client,
    pub(crate) bins: PathBuf,
    pub(crate) dir: PathBuf,
}

impl Env {
    pub(crate) async fn namespace(&self, name: &str) -> anyhow::Result<Api<ClerkDomain>> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.into());
        nss.create(&PostParams::default(), &ns)
            .await
            .map_err(|e| anyhow::anyhow!("create namespace {name}: {e:?}"))?;
        Ok(Api::namespaced(self.client.clone(), name))
    }
}

pub(crate) fn domain(ns: &str, name: &str) -> ClerkDomain {
    let mut d = ClerkDomain::new(
        name,
        ClerkDomainSpec::for_domain(&format!("{name}.{ns}.example.com")),
    );
    d.metadata.namespace = Some(ns.into());
    d
}

pub(crate) fn guard_for(n: usize) -> Duration {
    Duration::from_secs(600) + Duration::from_millis(200) * n as u32
}

/// Percentile (nearest rank) of sorted durations, in milliseconds.
pub(crate) fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}
