//! Which optional CRDs the API server serves, as discovery last said (see [`super::crds`] for
//! what the operator does about a missing one).

use kube::Client;
use std::time::Duration;
use tokio::sync::watch;

/// The DNSEndpoint CRD's name.
pub const DNS_ENDPOINT_CRD: &str = "dnsendpoints.externaldns.k8s.io";
pub(crate) const DNS_ENDPOINT_GROUP_VERSION: &str = "externaldns.k8s.io/v1alpha1";
const DNS_ENDPOINT_PLURAL: &str = "dnsendpoints";

/// How often discovery is asked whether a missing CRD is served now (and a served one still is).
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Whether the optional CRDs are served, as last seen by discovery.
#[derive(Clone)]
pub struct Served {
    dns_endpoint: watch::Sender<bool>,
}

impl Served {
    /// Start from what discovery says now (served when discovery cannot answer: then the
    /// requests themselves report what is wrong).
    pub async fn discover(client: &Client) -> Self {
        let now = dns_endpoint_served(client).await.unwrap_or(true);
        Self {
            dns_endpoint: watch::Sender::new(now),
        }
    }

    /// Whether the DNSEndpoint CRD is served.
    pub fn dns_endpoint(&self) -> bool {
        *self.dns_endpoint.borrow()
    }

    /// Record whether the DNSEndpoint CRD is served; returns what was recorded before.
    pub fn set_dns_endpoint(&self, served: bool) -> bool {
        self.dns_endpoint.send_replace(served)
    }

    /// Resolves once the DNSEndpoint CRD is served.
    pub fn dns_endpoint_served(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.dns_endpoint.subscribe();
        async move {
            let _ = rx.wait_for(|served| *served).await;
        }
    }
}

/// Whether discovery lists `dnsendpoints` in `externaldns.k8s.io/v1alpha1`.
pub(crate) async fn dns_endpoint_served(client: &Client) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(DNS_ENDPOINT_GROUP_VERSION).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == DNS_ENDPOINT_PLURAL)),
        Err(e) if super::children::is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}
