//! The fence: whether this process may write to Clerk now, read from the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Whether this process may write to Clerk *now*. Cheap to clone and check; shared by every
/// Clerk client. Without leader election the fence is always open.
#[derive(Clone, Default)]
pub struct Fence {
    inner: Option<Arc<FenceState>>,
}

struct FenceState {
    base: Instant,
    /// Nanoseconds after `base` until which this process leads; 0: not leading.
    until: AtomicU64,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Fence(open)"),
            Some(_) => write!(f, "Fence(leading: {})", self.is_leading()),
        }
    }
}

impl Fence {
    /// A fence that is always open (no leader election).
    pub fn open() -> Self {
        Self { inner: None }
    }

    /// A fence that opens only while [`extend_to`](Self::extend_to) says so.
    pub fn closed() -> Self {
        Self {
            inner: Some(Arc::new(FenceState {
                base: Instant::now(),
                until: AtomicU64::new(0),
            })),
        }
    }

    /// Whether this process leads at this instant (always, without election).
    pub fn is_leading(&self) -> bool {
        match self.deadline() {
            None => true,
            Some(d) => Instant::now() < d,
        }
    }

    /// When leadership ends unless renewed: `None` without election (never). A past instant
    /// when not leading.
    pub fn deadline(&self) -> Option<Instant> {
        let s = self.inner.as_ref()?;
        let nanos = s.until.load(Ordering::SeqCst);
        Some(s.base + Duration::from_nanos(nanos))
    }

    /// Lead until `until` (a renew succeeded). Never moves the deadline backwards.
    pub fn extend_to(&self, until: Instant) {
        if let Some(s) = &self.inner {
            let nanos = until.saturating_duration_since(s.base).as_nanos();
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
            s.until.fetch_max(nanos, Ordering::SeqCst);
        }
    }

    /// Stop leading at once.
    pub fn revoke(&self) {
        if let Some(s) = &self.inner {
            s.until.store(0, Ordering::SeqCst);
        }
    }
}
