//! Per-object retry delays: exponential with jitter for transient failures, a slow recheck for
//! terminal ones.

use std::time::Duration;

/// First retry delay.
pub const BASE: Duration = Duration::from_secs(2);
/// Longest delay between retries of a transient failure.
pub const CAP: Duration = Duration::from_secs(15 * 60);
/// Recheck period for failures that retrying cannot fix (until the spec or Secret changes).
pub const TERMINAL_RECHECK: Duration = Duration::from_secs(10 * 60);

/// How a failure should be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retry with growing delay, no sooner than `after` if given (Clerk's `Retry-After`).
    Transient { after: Option<Duration> },
    /// Do not retry until something changes; recheck slowly.
    Terminal,
}

/// Delay before the next attempt after the `attempt`-th consecutive failure (1-based).
/// `jitter` in `[0, 1)` spreads retries of many objects (±20%).
pub fn delay(retry: Retry, attempt: u32, jitter: f64) -> Duration {
    match retry {
        Retry::Terminal => TERMINAL_RECHECK,
        Retry::Transient { after } => {
            let exp = attempt.saturating_sub(1).min(20);
            let raw = BASE.saturating_mul(1u32 << exp).min(CAP);
            let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
            let jittered = raw.mul_f64(factor).min(CAP);
            match after {
                Some(a) => jittered.max(a),
                None => jittered,
            }
        }
    }
}

/// Time from `now` to the next multiple of `period` since the Unix epoch, plus up to 1% of the
/// period (at most 1 s) of jitter. Never shorter than a tenth of the period.
pub fn aligned(period: Duration, now: std::time::SystemTime, jitter: f64) -> Duration {
    let p = period.as_millis().max(1);
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut left = Duration::from_millis((p - since % p) as u64);
    if left < period / 10 {
        left += period;
    }
    let spread = (period / 100).min(Duration::from_secs(1));
    left + spread.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resyncs_align_to_period_boundaries() {
        let at = |ms: u64| std::time::UNIX_EPOCH + Duration::from_millis(ms);
        let period = Duration::from_secs(300);
        assert_eq!(aligned(period, at(1_000_000 * 300), 0.0), period);
        assert_eq!(
            aligned(period, at(300_000 * 7 + 100_000), 0.0),
            Duration::from_secs(200)
        );
        // Too close to the boundary: skip to the next one.
        assert_eq!(
            aligned(period, at(300_000 * 7 + 290_000), 0.0),
            Duration::from_secs(310)
        );
        assert_eq!(
            aligned(period, at(300_000 * 7 + 100_000), 1.0),
            Duration::from_secs(201)
        );
    }

    #[test]
    fn grows_then_caps() {
        let t = Retry::Transient { after: None };
        let d: Vec<u64> = (1..=12).map(|n| delay(t, n, 0.5).as_secs()).collect();
        assert_eq!(d, vec![2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
        assert_eq!(delay(t, u32::MAX, 0.5), CAP);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let t = Retry::Transient { after: None };
        assert_eq!(delay(t, 3, 0.0), Duration::from_millis(6400));
        assert_eq!(delay(t, 3, 0.999_999).as_millis(), 9599);
    }

    #[test]
    fn retry_after_is_a_floor_and_terminal_is_slow() {
        let t = Retry::Transient {
            after: Some(Duration::from_secs(30)),
        };
        assert_eq!(delay(t, 1, 0.5), Duration::from_secs(30));
        assert_eq!(delay(Retry::Terminal, 1, 0.5), TERMINAL_RECHECK);
    }
}
