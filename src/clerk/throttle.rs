//! Per-instance pacing: a token bucket that keeps the operator under Clerk's rate limit, and a
//! shared pause when Clerk answers 429 with `Retry-After`: while it lasts every request of the
//! instance fails fast (nobody sleeps through it holding a worker), so other instances' objects
//! are not delayed.

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

impl Rate {
    /// The longest window a rate may have (longer ones are rejected by `FromStr` and shortened
    /// to this by [`quota`]): keeps the token bucket's arithmetic far from overflowing.
    pub const MAX_PER: Duration = Duration::from_secs(24 * 60 * 60);
}

impl std::str::FromStr for Rate {
    type Err = String;
    /// `100/10s`, `1000/10s`, `5/1s`; the window is at most [`Rate::MAX_PER`].
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
        if per > Rate::MAX_PER {
            return Err(format!("{s:?}: the window must be at most 24h"));
        }
        Ok(Rate { requests, per })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.requests, humantime::format_duration(self.per))
    }
}

/// How long after a window of Clerk's closes the next request is sent, at the steady pace:
/// the jitter in arrival times that pacing absorbs. 50 ms is 0.5 % of Clerk's 10 s windows.
pub const PACING_SLACK: Duration = Duration::from_millis(50);

/// The token bucket for `rate`: no burst, one request every `(per + slack) / requests`, the
/// slack being [`PACING_SLACK`] (at most `per`). Clerk counts requests per window of `per`;
/// with this spacing a window that opens at any request holds at most `requests` of them even
/// when their arrivals jitter by up to the slack, and a long burst at Clerk's limits takes only
/// 0.5 % longer than the limit allows. (A burst allowance would cost as much steady rate.)
pub fn quota(rate: Rate) -> Quota {
    let per = rate.per.min(Rate::MAX_PER);
    let paced = per.saturating_add(PACING_SLACK.min(per));
    // Round up so rounding never lets an extra request into a window.
    let period = paced.as_nanos().div_ceil(u128::from(rate.requests.max(1)));
    let period = Duration::from_nanos(u64::try_from(period).unwrap_or(u64::MAX));
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .expect("non-zero period")
        .allow_burst(NonZeroU32::MIN)
}

/// Pacing for one Clerk instance.
pub struct Throttle {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
    /// When a request last had to wait for a token: the instance's budget was all in use.
    last_wait: Mutex<Option<Instant>>,
    rate: Rate,
    /// When the requests of the last window were let through (at most `rate.requests` + 1
    /// entries: the limiter lets no more into a window), for [`usage`](Self::usage).
    sent: Mutex<std::collections::VecDeque<Instant>>,
}

impl Throttle {
    /// A throttle allowing `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            limiter: RateLimiter::direct(quota(rate)),
            paused_until: Mutex::new(None),
            last_wait: Mutex::new(None),
            rate,
            sent: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Requests let through in the last window, and the rate (read-only; for status).
    pub fn usage(&self) -> (u32, Rate) {
        let mut sent = self.sent.lock().unwrap();
        Self::forget_old(&mut sent, self.rate.per);
        (u32::try_from(sent.len()).unwrap_or(u32::MAX), self.rate)
    }

    fn forget_old(sent: &mut std::collections::VecDeque<Instant>, per: Duration) {
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= per)
        {
            sent.pop_front();
        }
    }

    fn note_sent(&self) {
        let mut sent = self.sent.lock().unwrap();
        Self::forget_old(&mut sent, self.rate.per);
        let cap = usize::try_from(self.rate.requests)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if sent.len() >= cap {
            sent.pop_front();
        }
        sent.push_back(Instant::now());
    }

    /// Wait for a token of the rate limiter, unless the instance is paused: then fail at once
    /// with the rest of the pause. Returns how long it waited.
    pub async fn acquire(&self) -> Result<Duration, Duration> {
        let start = Instant::now();
        if let Some(left) = self.paused_for() {
            return Err(left);
        }
        if self.limiter.check().is_err() {
            *self.last_wait.lock().unwrap() = Some(start);
            self.limiter.until_ready().await;
        }
        self.note_sent();
        Ok(start.elapsed())
    }

    /// Count a request that was sent without this throttle (a key's `GET /instance`, before its
    /// instance was known): take a token for it now, waiting if there is none. Taken no earlier
    /// than the request was sent, it keeps every later window within the limit.
    pub async fn charge(&self) {
        if self.limiter.check().is_err() {
            self.limiter.until_ready().await;
        }
        self.note_sent();
    }

    /// Whether a request had to wait for the budget within the last `d` (the instance is
    /// spending all of it).
    pub fn busy_within(&self, d: Duration) -> bool {
        self.last_wait.lock().unwrap().is_some_and(|at| at.elapsed() < d)
    }

    /// The rest of the current pause, if any.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = (*self.paused_until.lock().unwrap())?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Pause every request of the instance for `d` (Clerk's `Retry-After`), at most
    /// [`MAX_RETRY_AFTER`](super::MAX_RETRY_AFTER). A longer pause already running is kept.
    pub fn pause_for(&self, d: Duration) {
        let d = d.min(super::MAX_RETRY_AFTER);
        let Some(until) = Instant::now().checked_add(d) else {
            return;
        };
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
        assert!("415/2days".parse::<Rate>().is_err());
        assert_eq!("1/24h".parse::<Rate>().unwrap().per, Rate::MAX_PER);
        // A Rate built in code with a longer window does not overflow the limiter (governor
        // multiplies period by burst).
        let t = Throttle::new(Rate {
            requests: 415,
            per: Duration::from_secs(408_727_220_112_561_371),
        });
        assert!(t.limiter.check().is_ok());
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
            assert_eq!(q.burst_size().get(), 1, "{rate}: no burst");
            let period = q.replenish_interval().as_secs_f64();
            let per = rate.per.as_secs_f64();
            // A window opening at a request holds the requests sent within `per` of it.
            let in_window = (per / period).ceil();
            assert!(
                in_window <= f64::from(rate.requests),
                "{rate}: {in_window} in a window"
            );
            // The next one comes at least the slack after the window closes...
            let slack = period * f64::from(rate.requests) - per;
            assert!(
                slack >= PACING_SLACK.as_secs_f64() * 0.999,
                "{rate}: {slack} s of slack"
            );
            // ...and, at Clerk's limits, no more than 0.6 % of the window after.
            if rate.per >= Duration::from_secs(10) {
                assert!(slack <= per * 0.006, "{rate} wastes capacity: {slack} s");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_fails_every_caller_fast_until_it_ends() {
        let t = Throttle::new(Rate::PRODUCTION);
        t.pause_for(Duration::from_secs(3));
        // No sleeping through the pause: the caller learns how long is left.
        assert_eq!(t.acquire().await, Err(Duration::from_secs(3)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(t.acquire().await, Err(Duration::from_secs(2)));
        // A shorter pause does not shorten it.
        t.pause_for(Duration::from_secs(1));
        assert_eq!(t.paused_for(), Some(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(t.paused_for(), None);
        assert!(t.acquire().await.is_ok());
    }

    #[tokio::test]
    async fn busy_means_a_request_waited_recently() {
        // A burst of 1, then one request per 100 ms.
        let t = Throttle::new(Rate {
            requests: 2,
            per: Duration::from_millis(200),
        });
        // The first token is free: not busy.
        t.acquire().await.unwrap();
        assert!(!t.busy_within(Duration::from_secs(60)));
        // The second waits for the refill.
        let waited = t.acquire().await.unwrap();
        assert!(waited > Duration::from_millis(10), "{waited:?}");
        assert!(t.busy_within(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!t.busy_within(Duration::from_millis(200)));
    }

    #[tokio::test(start_paused = true)]
    async fn usage_counts_the_requests_of_the_last_window() {
        let rate = Rate {
            requests: 10,
            per: Duration::from_secs(10),
        };
        let t = Throttle::new(rate);
        assert_eq!(t.usage(), (0, rate));
        for _ in 0..3 {
            t.acquire().await.unwrap();
        }
        assert_eq!(t.usage().0, 3);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(t.usage().0, 0, "requests older than the window are forgotten");
        // A paused instance sends nothing, so nothing is counted.
        t.pause_for(Duration::from_secs(1));
        assert!(t.acquire().await.is_err());
        assert_eq!(t.usage().0, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_are_capped_and_never_overflow() {
        let t = Throttle::new(Rate::PRODUCTION);
        t.pause_for(Duration::MAX);
        assert_eq!(t.paused_for(), Some(crate::clerk::MAX_RETRY_AFTER));
        t.pause_for(Duration::from_secs(u64::MAX));
        assert_eq!(t.acquire().await, Err(crate::clerk::MAX_RETRY_AFTER));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_rate_text_parses_or_fails_without_panic(text in any::<String>()) {
                if let Ok(rate) = text.parse::<Rate>() {
                    prop_assert!(rate.requests > 0 && !rate.per.is_zero());
                    let _ = Throttle::new(rate);
                }
            }

            #[test]
            fn rates_round_trip_and_build_a_limiter(requests in 1u32.., secs in 0u64..=u64::MAX / 2, nanos in 0u32..1_000_000_000) {
                let per = Duration::new(secs, nanos);
                prop_assume!(!per.is_zero());
                let rate = Rate { requests, per };
                let again = rate.to_string().parse::<Rate>();
                if per <= Rate::MAX_PER {
                    prop_assert_eq!(again, Ok(rate));
                } else {
                    prop_assert!(again.is_err());
                }
                let q = quota(rate);
                prop_assert!(q.burst_size().get() <= requests.max(1));
                let t = Throttle::new(rate);
                prop_assert!(t.limiter.check().is_ok());
            }

            #[test]
            fn any_pause_is_capped(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
                let t = Throttle::new(Rate::DEVELOPMENT);
                t.pause_for(Duration::new(secs, nanos));
                prop_assert!(t.paused_for().unwrap_or_default() <= crate::clerk::MAX_RETRY_AFTER);
            }
        }
    }
}
