//! Leader election over a coordination.k8s.io/v1 Lease, after client-go's algorithm: only the
//! holder reconciles and writes to Clerk; the others stand by and take over when the lease
//! expires.
//!
//! Safety never compares two clocks:
//! - A standby considers the holder's lease expired only at *its own* local time when it last
//!   saw the record change, plus `leaseDurationSeconds`.
//! - The holder's leadership (its [`Fence`]) is valid until the local instant at which its last
//!   successful renew was *started*, plus `duration − grace`. Any standby saw that renew after
//!   it was started, so the fence closes at least `grace` before a standby can take over, even
//!   when the API server is unreachable and the renew task is stuck: [`Fence::is_leading`]
//!   reads the clock, not a flag.
//!
//! Every API call has a timeout shorter than the retry period, so a hanging API server is a
//! failed renewal, not a stuck one.

use anyhow::Context as _;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

mod config;
pub use config::LeaseConfig;
mod fence;
pub use fence::Fence;

/// Where this process is in the election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Standby,
    Leading,
    /// Was leading, is no more; the elector has stopped.
    Lost,
}

/// A running election.
pub struct Election {
    fence: Fence,
    phase: watch::Receiver<Phase>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl Election {
    /// Join the election (creating the Lease when it does not exist).
    pub async fn start(client: Client, config: &LeaseConfig) -> anyhow::Result<Self> {
        config.validate()?;
        let api: Api<Lease> = Api::namespaced(client, &config.namespace);
        // Fail early, with a clear message, when the Lease cannot be read at all.
        tokio::time::timeout(
            config.call_timeout().max(Duration::from_secs(5)),
            api.get_opt(&config.name),
        )
        .await
        .context("timed out reading the leader election Lease")?
        .with_context(|| format!("reading Lease {}/{}", config.namespace, config.name))?;
        let fence = Fence::closed();
        let (phase_tx, phase) = watch::channel(Phase::Standby);
        let (stop, stop_rx) = oneshot::channel();
        let elector = Elector {
            api,
            config: config.clone(),
            fence: fence.clone(),
            phase: phase_tx,
            observed: None,
        };
        let task = tokio::spawn(elector.run(stop_rx));
        Ok(Self {
            fence,
            phase,
            stop: Some(stop),
            task,
            timeout: config.call_timeout(),
        })
    }

    /// The fence Clerk writes check: open only while this process holds the lease.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Resolves once this process holds the lease.
    pub async fn acquired(&mut self) -> anyhow::Result<()> {
        let phase = *self.phase.wait_for(|p| *p != Phase::Standby).await?;
        anyhow::ensure!(phase == Phase::Leading, "leader election stopped");
        Ok(())
    }

    /// A future that resolves when leadership is lost: the elector saw another holder or gave
    /// up, or the fence's deadline passed (even if the elector is stuck).
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.phase.clone();
        let fence = self.fence.clone();
        async move {
            loop {
                if !fence.is_leading() {
                    return;
                }
                let deadline = fence.deadline().expect("an election's fence has a deadline");
                tokio::select! {
                    r = rx.wait_for(|p| *p == Phase::Lost) => {
                        let _ = r;
                        return;
                    }
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
        }
    }

    /// Give the lease up (on shutdown) so a standby takes over at once.
    pub async fn release(mut self) {
        self.fence.revoke();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The elector releases within one call timeout (plus the GET before it).
        let wait = self.timeout * 3 + Duration::from_millis(500);
        if tokio::time::timeout(wait, &mut self.task).await.is_err() {
            tracing::warn!("timed out releasing the leader lease");
            self.task.abort();
        }
    }
}

/// The record last seen, and the local instant at which it was first seen.
struct Observed {
    resource_version: Option<String>,
    duration: Duration,
    at: Instant,
}

impl Observed {
    /// Whether the record's holder may still be leading, judged by this process's clock only.
    fn held(&self, now: Instant) -> bool {
        match self.at.checked_add(self.duration) {
            Some(expiry) => now < expiry,
            None => true,
        }
    }
}

struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    fence: Fence,
    phase: watch::Sender<Phase>,
    observed: Option<Observed>,
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// We hold the lease (acquired or renewed).
    Held,
    /// Someone else does.
    Other(String),
}

impl Elector {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let retry = self.config.retry_period();
        let timeout = self.config.call_timeout();
        loop {
            let started = Instant::now();
            let result = tokio::time::timeout(timeout, self.try_acquire_or_renew()).await;
            let leading = *self.phase.borrow() == Phase::Leading;
            match result {
                Ok(Ok(Attempt::Held)) => {
                    self.fence.extend_to(started + self.config.validity());
                    if !leading {
                        tracing::debug!(identity = %self.config.identity, "leader lease acquired");
                        self.phase.send_replace(Phase::Leading);
                    }
                }
                Ok(Ok(Attempt::Other(holder))) => {
                    if leading {
                        tracing::error!(holder = %holder, "another process holds the leader lease");
                        self.fence.revoke();
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, leading, "leader lease: acquire or renew failed")
                }
                Err(_) => tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    leading,
                    "leader lease: acquire or renew timed out"
                ),
            }
            if leading && !self.fence.is_leading() {
                tracing::error!("leader lease not renewed in time; leadership lost");
                self.fence.revoke();
                self.phase.send_replace(Phase::Lost);
                return;
            }
            let next = started + retry;
            let deadline = self.fence.deadline().filter(|_| leading);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = sleep_until_opt(deadline) => {}
                _ = &mut stop => {
                    self.release().await;
                    return;
                }
            }
        }
    }

    /// Create the missing Lease with us as its holder; someone else's create first (409) makes
    /// it theirs.
    async fn create(&mut self, now: MicroTime) -> Result<Attempt, kube::Error> {
        let mut lease = Lease::default();
        lease.metadata.name = Some(self.config.name.clone());
        lease.metadata.namespace = Some(self.config.namespace.clone());
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.duration_seconds()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..Default::default()
        });
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                self.observe(&created);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Other(String::new())),
            Err(e) => Err(e),
        }
    }

    /// client-go's tryAcquireOrRenew: read the Lease (create it if missing); when it is ours,
    /// released or expired, write ourselves in with a resourceVersion precondition.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let me = self.config.identity.clone();
        let now = MicroTime(jiff::Timestamp::now());
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            return self.create(now).await;
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let observed = self.observed.as_ref().expect("observed above");
        if let Some(other) = &holder
            && *other != me
            && observed.held(Instant::now())
        {
            return Ok(Attempt::Other(other.clone()));
        }
        let ours = holder.as_deref() == Some(me.as_str());
        let transitions = spec.lease_transitions.unwrap_or(0);
        let (acquire_time, transitions) = match (ours, spec.acquire_time.clone()) {
            (true, Some(t)) => (t, transitions),
            (true, None) => (now.clone(), transitions),
            (false, _) => (now.clone(), transitions.saturating_add(1)),
        };
        let body = serde_json::json!({
            "metadata": { "resourceVersion": lease.metadata.resource_version },
            "spec": {
                "holderIdentity": me,
                "leaseDurationSeconds": self.config.duration_seconds(),
                "renewTime": now,
                "acquireTime": acquire_time,
                "leaseTransitions": transitions,
            }
        });
        // A merge patch carrying metadata.resourceVersion is a compare-and-swap: the API server
        // answers 409 when someone else wrote the Lease since we read it.
        match self
            .api
            .patch(&self.config.name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Other(holder.unwrap_or_default())),
            Err(e) => Err(e),
        }
    }

    /// Remember `lease`; a changed record restarts the standby's expiry clock.
    fn observe(&mut self, lease: &Lease) {
        let rv = lease.metadata.resource_version.clone();
        if self
            .observed
            .as_ref()
            .is_some_and(|o| o.resource_version == rv && rv.is_some())
        {
            return;
        }
        let spec = lease.spec.as_ref();
        let secs = spec
            .and_then(|s| s.lease_duration_seconds)
            .map_or(self.config.duration.as_secs(), |s| s.max(1) as u64);
        self.observed = Some(Observed {
            resource_version: rv,
            duration: Duration::from_secs(secs),
            at: Instant::now(),
        });
    }

    /// Clear the holder (if it is still us) so a standby takes over without waiting.
    async fn release(&mut self) {
        self.fence.revoke();
        let timeout = self.config.call_timeout();
        let result = tokio::time::timeout(timeout * 2, async {
            let lease = self.api.get(&self.config.name).await?;
            let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref());
            if holder != Some(self.config.identity.as_str()) {
                return Ok::<bool, kube::Error>(false);
            }
            let now = MicroTime(jiff::Timestamp::now());
            let body = serde_json::json!({
                "metadata": { "resourceVersion": lease.metadata.resource_version },
                "spec": { "holderIdentity": null, "leaseDurationSeconds": 1, "renewTime": now, "acquireTime": now },
            });
            self.api
                .patch(&self.config.name, &PatchParams::default(), &Patch::Merge(&body))
                .await?;
            Ok(true)
        })
        .await;
        match result {
            Ok(Ok(true)) => tracing::info!("released the leader lease"),
            Ok(Ok(false)) => tracing::info!("leader lease not held: nothing to release"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not release the leader lease"),
            Err(_) => tracing::warn!("timed out releasing the leader lease"),
        }
        if *self.phase.borrow() == Phase::Leading {
            self.phase.send_replace(Phase::Lost);
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
