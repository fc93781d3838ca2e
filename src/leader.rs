//! Leader election with a coordination.k8s.io Lease (kube-lease-manager): only the holder
//! reconciles; the others stand by, ready, and take over when the lease expires.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use std::time::Duration;
use tokio::sync::watch;

/// Where and how to hold the lease.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This process's identity (the pod name in a cluster).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
    /// How long before expiry the holder renews.
    pub grace: Duration,
}

/// A running election.
pub struct Election {
    rx: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
}

impl Election {
    /// Join the election (creating the Lease if needed).
    pub async fn start(client: Client, config: &LeaseConfig) -> anyhow::Result<Self> {
        let params = LeaseParams::new(
            &config.identity,
            config.duration.as_secs().max(2),
            config.grace.as_secs().max(1),
        );
        let manager = LeaseManagerBuilder::new(client, &config.name)
            .with_namespace(&config.namespace)
            .with_parameters(params)
            .build()
            .await?;
        let (rx, task) = manager.watch().await;
        Ok(Self { rx, task })
    }

    /// Resolves once this process holds the lease.
    pub async fn acquired(&mut self) -> anyhow::Result<()> {
        self.rx.wait_for(|leading| *leading).await?;
        Ok(())
    }

    /// A future that resolves when leadership is lost.
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.rx.clone();
        async move {
            let _ = rx.wait_for(|leading| !*leading).await;
        }
    }

    /// Give the lease up (on shutdown) so a standby takes over at once.
    pub async fn release(self) {
        drop(self.rx);
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "could not release the leader lease"),
            _ => tracing::warn!("timed out releasing the leader lease"),
        }
    }
}
