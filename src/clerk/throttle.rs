//! Per-instance pacing: a token bucket that keeps the operator under Clerk's rate limit, and a
//! shared pause when Clerk answers 429 with `Retry-After` (every request of the instance waits).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A rate: `requests` per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl Rate {
    /// Clerk's limit for development instances: 100 requests per 10 seconds.
    pub const DEVELOPMENT: Rate = Rate {
        requests: 100,
        per: Duration::from_secs(10),
    };
    /// Clerk's limit for production instances: 1000 requests per 10 seconds.
    pub const PRODUCTION: Rate = Rate {
        requests: 1000,
        per: Duration::from_secs(10),
    };
}

impl std::str::FromStr for Rate {
    type Err = String;
    /// `100/10s`, `1000/10s`, `5/1s`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, per) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected N/DURATION, e.g. 100/10s"))?;
        let requests: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a count"))?;
        let per = humantime::parse_duration(per.trim()).map_err(|e| format!("{s:?}: {e}"))?;
        if requests == 0 || per.is_zero() {
            return Err(format!("{s:?}: rate must be positive"));
        }
        Ok(Rate { requests, per })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.requests, humantime::format_duration(self.per))
    }
}

/// The token bucket for `rate`, shaped so that no window of length `rate.per` ever holds more
/// than `rate.requests` requests (a burst of 1% plus a steady refill of the rest), since Clerk
/// counts requests per window.
pub fn quota(rate: Rate) -> Quota {
    let burst = (rate.requests / 100).max(1);
    let steady = (rate.requests - burst).max(1);
    // Round the period up so rounding never lets an extra request into a window.
    let period = Duration::from_nanos(rate.per.as_nanos().div_ceil(u128::from(steady)) as u64);
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .expect("non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("burst >= 1"))
}

/// Pacing for one Clerk instance.
pub struct Throttle {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl Throttle {
    /// A throttle allowing `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            limiter: RateLimiter::direct(quota(rate)),
            paused_until: Mutex::new(None),
        }
    }

    /// Wait for a pause to end and for a token. Returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let start = Instant::now();
        loop {
            let until = *self.paused_until.lock().unwrap();
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
        start.elapsed()
    }

    /// Pause every request of the instance for `d` (Clerk's `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = self.paused_until.lock().unwrap();
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!("100/10s".parse::<Rate>().unwrap(), Rate::DEVELOPMENT);
        assert_eq!("1000/10s".parse::<Rate>().unwrap(), Rate::PRODUCTION);
        assert!("0/10s".parse::<Rate>().is_err());
        assert!("ten/1s".parse::<Rate>().is_err());
        assert!("10".parse::<Rate>().is_err());
    }

    #[test]
    fn quota_never_exceeds_the_window() {
        for rate in [
            Rate::DEVELOPMENT,
            Rate::PRODUCTION,
            Rate {
                requests: 7,
                per: Duration::from_secs(1),
            },
        ] {
            let q = quota(rate);
            let burst = q.burst_size().get() as f64;
            let refill = rate.per.as_secs_f64() / q.replenish_interval().as_secs_f64();
            assert!(
                burst + refill <= rate.requests as f64 + 1e-6,
                "{rate}: {burst} + {refill}"
            );
            assert!(
                burst + refill >= rate.requests as f64 * 0.98,
                "{rate} wastes capacity"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_every_caller() {
        let t = Throttle::new(Rate::PRODUCTION);
        t.pause_for(Duration::from_secs(3));
        let waited = t.acquire().await;
        assert!(waited >= Duration::from_secs(3), "{waited:?}");
    }
}
