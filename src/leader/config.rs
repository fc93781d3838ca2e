//! Where and how long the lease is held, and the timings derived from it.

use std::time::Duration;

/// Where and how to hold the lease.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This process's identity (the pod name in a cluster).
    pub identity: String,
    /// How long a lease stays valid without renewal (`leaseDurationSeconds`).
    pub duration: Duration,
    /// Safety margin: the holder stops writing this long before a standby may take over.
    pub grace: Duration,
}

impl LeaseConfig {
    /// How long after starting its last successful renew the holder may still write.
    pub fn validity(&self) -> Duration {
        self.duration.saturating_sub(self.grace)
    }

    /// Time between two renew (holder) or acquire (standby) attempts: a quarter of the
    /// validity, at most 2 s (client-go's retry period), so a few attempts fit before the fence
    /// closes.
    pub fn retry_period(&self) -> Duration {
        (self.validity() / 4).clamp(Duration::from_millis(100), Duration::from_secs(2))
    }

    /// Timeout of each API call: shorter than the retry period.
    pub fn call_timeout(&self) -> Duration {
        self.retry_period().mul_f64(0.8)
    }

    /// `leaseDurationSeconds` as written to the Lease (whole seconds, at least 1).
    pub(super) fn duration_seconds(&self) -> i32 {
        self.duration.as_secs().clamp(1, i32::MAX as u64) as i32
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.duration.subsec_nanos() == 0 && self.duration >= Duration::from_secs(2),
            "--lease-duration must be whole seconds, at least 2s (got {:?})",
            self.duration
        );
        anyhow::ensure!(
            self.grace >= Duration::from_millis(500) && self.validity() >= Duration::from_secs(1),
            "--lease-grace must be at least 500ms and leave at least 1s of the lease duration \
             (got grace {:?}, duration {:?})",
            self.grace,
            self.duration
        );
        Ok(())
    }
}
