//! What the informational probes share (the Frontend API's health, `FrontendAPIReachable`, and
//! the proxy health in `ProxyVerified`'s message): their schedule and their bound.
//!
//! Schedule: due again at the next resync while the last probe succeeded, and with backoff
//! (15 s, 30 s, 1 min, ... up to the resync period) while it fails; a spec change or a forced
//! resync probes at once.
//!
//! Bound: one reconcile runs its probes concurrently with each other and with Clerk's proxy
//! check, and each probe (DNS lookups, connect, TLS, answer) is cut at the prober's timeout
//! (`ProbeConfig::timeout`, 5 s by default). So a reconcile waits at most that long on probes,
//! however many hosts do not answer.

use super::Context;
use super::memory::Probe;
use std::future::Future;
use std::time::Duration;

/// The first recheck after a failed probe; doubles on each further failure.
pub(crate) const FIRST_RECHECK: Duration = Duration::from_secs(15);

/// Whether `probe` of object `key` is due: `fresh` (the condition is of this generation) and not
/// `forced`, it waits for its time.
pub(crate) fn due(ctx: &Context, key: &str, probe: Probe, fresh: bool, forced: bool) -> bool {
    !fresh || forced || ctx.memory.probe_due(key, probe)
}

/// Remember that `probe` of `key` ran and succeeded (`ok`) or not. Returns the delay of the
/// next look while it fails (sooner than the resync), `None` while it succeeds.
pub(crate) fn probed(ctx: &Context, key: &str, probe: Probe, ok: bool) -> Option<Duration> {
    let resync = ctx.config.resync.max(Duration::from_secs(1));
    if ok {
        // Due again at the next resync (which may come a little early: aligned, with jitter).
        ctx.memory.probe_checked(key, probe, 0, resync.mul_f64(0.9));
        return None;
    }
    let attempt = ctx.memory.probe_failures(key, probe).saturating_add(1);
    let delay = FIRST_RECHECK
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(resync);
    ctx.memory.probe_checked(key, probe, attempt, delay);
    Some(delay)
}

/// Run `probe`, cut at `limit`: `timed_out` gives the outcome when it took longer.
pub(crate) async fn bounded<T>(
    limit: Duration,
    probe: impl Future<Output = T>,
    timed_out: impl FnOnce() -> T,
) -> T {
    tokio::time::timeout(limit, probe)
        .await
        .unwrap_or_else(|_| timed_out())
}

/// The shorter of two rechecks.
pub(crate) fn sooner(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_answers_is_cut_at_its_limit() {
        let out = bounded(Duration::from_secs(5), std::future::pending::<&str>(), || "cut").await;
        assert_eq!(out, "cut");
        let answered = bounded(Duration::from_secs(5), async { "answered" }, || "cut").await;
        assert_eq!(answered, "answered");
    }

    #[test]
    fn the_sooner_recheck_wins() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(sooner(s(15), s(30)), s(15));
        assert_eq!(sooner(None, s(30)), s(30));
        assert_eq!(sooner(s(15), None), s(15));
        assert_eq!(sooner(None, None), None);
    }
}
