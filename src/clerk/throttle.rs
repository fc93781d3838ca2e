//! Per-instance pacing: a sliding log that keeps the operator under Clerk's rate limit, and a
//! shared pause when Clerk answers 429 with `Retry-After`: while it lasts every request of the
//! instance fails fast (nobody sleeps through it holding a worker), so other instances' objects
//! are not delayed.
//!
//! Clerk counts requests per window (100 per 10 s for a development instance). The log lets a
//! request go when fewer than 10 went in the last tenth of that window plus [`PACING_SLACK`]
//! (1.005 s), otherwise it waits until the oldest of them leaves; ten such parts end to end are
//! a whole window, so no window of Clerk's sees more than its limit. Unlike a token bucket
//! without burst (the `governor` crate's GCRA, used here before), a request that starts late,
//! because its task woke a millisecond after its slot or the machine was busy, does not push
//! every later request back (a 1,000-domain burst at the development limit took 101.4 s idle and
//! 104.9 s under load with the bucket, for a 100 s bound); and unlike a log over the whole
//! window, requests are spread over it rather than spent at its start, where the workers could
//! not keep up (102.9 s).

use std::collections::VecDeque;
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
    /// The longest window a rate may have (longer ones are rejected by `FromStr` and shortened
    /// to this by [`Window::of`]).
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

/// How much longer than Clerk's window the log counts over: the jitter in arrival times it
/// absorbs. 50 ms is 0.5 % of Clerk's 10 s windows.
pub const PACING_SLACK: Duration = Duration::from_millis(50);

/// The most requests the log remembers; see [`Window::of`].
pub const MAX_LOG: u32 = 10_000;

/// How many requests may go at once: the log counts over a k-th of Clerk's window (k a
/// divisor of its count) holding about this many, so requests are spread over the window
/// instead of spent in one burst at its start.
pub const BURST: u32 = 10;

/// What the log enforces: at most `requests` in any `span`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub requests: u32,
    pub span: Duration,
}

impl Window {
    /// The window for `rate`: `requests` per (`per` + [`PACING_SLACK`], the slack at most `per`;
    /// `per` at most [`Rate::MAX_PER`]), counted over the k-th part of it that holds
    /// `requests / k` (about [`BURST`], k dividing `requests`; for more than [`MAX_LOG`]
    /// requests k is large enough that the log stays below that). Any `per` + slack is k such
    /// parts end to end, so it never holds more than the rate; and the requests are spread.
    pub fn of(rate: Rate) -> Self {
        let per = rate.per.min(Rate::MAX_PER);
        let total = per.saturating_add(PACING_SLACK.min(per));
        let requests = rate.requests.max(1);
        // The fewest parts that keep the log small, each of the same count (rounded down).
        let k = requests.div_ceil(MAX_LOG);
        let n = requests / k;
        // Then the most parts (a divisor of n) that still hold BURST each.
        let d = (1..=(n / BURST).max(1))
            .rev()
            .find(|d| n.is_multiple_of(*d))
            .unwrap_or(1);
        // Rounded up, so that k x d parts cover the whole window.
        let parts = u128::from(k * d);
        let span = u64::try_from(total.as_nanos().div_ceil(parts)).unwrap_or(u64::MAX);
        Window {
            requests: n / d,
            span: Duration::from_nanos(span),
        }
    }
}

/// Pacing for one Clerk instance.
pub struct Throttle {
    window: Window,
    rate: Rate,
    paused_until: Mutex<Option<Instant>>,
    /// When a request last had to wait: the instance's budget was all in use.
    last_wait: Mutex<Option<Instant>>,
    /// When the requests of the last `window.span` were let through, oldest first (at most
    /// `window.requests`).
    sent: Mutex<VecDeque<Instant>>,
}

impl Throttle {
    /// A throttle allowing `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            window: Window::of(rate),
            rate,
            paused_until: Mutex::new(None),
            last_wait: Mutex::new(None),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Requests let through in the last `per` of the rate, and the rate (read-only; for status).
    pub fn usage(&self) -> (u32, Rate) {
        let sent = self.sent.lock().unwrap();
        let now = Instant::now();
        let recent = sent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < self.rate.per)
            .count();
        (u32::try_from(recent).unwrap_or(u32::MAX), self.rate)
    }

    /// Take a place in the log now, or say when the oldest entry leaves the window.
    fn try_send(&self) -> Result<(), Instant> {
        let mut sent = self.sent.lock().unwrap();
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window.span)
        {
            sent.pop_front();
        }
        if sent.len() < self.window.requests as usize {
            sent.push_back(now);
            return Ok(());
        }
        let oldest = *sent.front().expect("a full log has entries");
        Err(oldest.checked_add(self.window.span).unwrap_or(now))
    }

    /// Wait for a place in the log, unless the instance is paused: then fail at once with the
    /// rest of the pause (also when a pause starts while waiting). Returns how long it waited.
    pub async fn acquire(&self) -> Result<Duration, Duration> {
        let start = Instant::now();
        loop {
            if let Some(left) = self.paused_for() {
                return Err(left);
            }
            match self.try_send() {
                Ok(()) => return Ok(start.elapsed()),
                Err(at) => {
                    *self.last_wait.lock().unwrap() = Some(Instant::now());
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    /// Count a request that was sent without this throttle (a key's `GET /instance`, before its
    /// instance was known): take a place for it now, waiting if there is none. Taken no earlier
    /// than the request was sent, it keeps every later window within the limit.
    pub async fn charge(&self) {
        while let Err(at) = self.try_send() {
            tokio::time::sleep_until(at).await;
        }
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
        // A Rate built in code with a longer window is kept to the longest one.
        let w = Window::of(Rate {
            requests: 415,
            per: Duration::from_secs(408_727_220_112_561_371),
        });
        // 415 = 5 x 83: five parts of the longest window.
        assert_eq!((w.requests, w.span * 5), (83, Rate::MAX_PER + PACING_SLACK));
    }

    #[test]
    fn windows_never_allow_more_than_the_rate() {
        let cases = [
            // A tenth of Clerk's window: 10 per 1.005 s.
            (Rate::DEVELOPMENT, 10, Duration::from_micros(1_005_000)),
            (Rate::PRODUCTION, 10, Duration::from_micros(100_500)),
            // Fewer than BURST: the whole window. One shorter than the slack gets as much slack
            // as it is long.
            (
                Rate {
                    requests: 7,
                    per: Duration::from_millis(20),
                },
                7,
                Duration::from_millis(40),
            ),
            // Above MAX_LOG: 8,333 per 10.0167 s (3 parts), then 641 parts of 13 (8,333 = 13 x
            // 641): 24,999 per 30.05 s.
            (
                Rate {
                    requests: 25_000,
                    per: Duration::from_secs(30),
                },
                13,
                Duration::from_nanos(30_050_000_000u64.div_ceil(3 * 641)),
            ),
        ];
        for (rate, requests, span) in cases {
            let w = Window::of(rate);
            assert_eq!((w.requests, w.span), (requests, span), "{rate}");
            assert!(w.requests <= MAX_LOG);
        }
    }

    /// The log's promise, at Clerk's development limit: of the requests let through, never more
    /// than 100 fall in one 10 s window, whenever callers come back; and continuous demand gets
    /// the whole budget (a token bucket of the same rate without burst needs 1,039 x 100.5 ms =
    /// 104.4 s).
    #[tokio::test(start_paused = true)]
    async fn no_window_holds_more_than_the_rate_and_the_budget_is_used() {
        let t = std::sync::Arc::new(Throttle::new(Rate::DEVELOPMENT));
        let start = Instant::now();
        let times = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for worker in 0..8u64 {
            let (t, times) = (t.clone(), times.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..130u64 {
                    t.acquire().await.unwrap();
                    times.lock().unwrap().push(Instant::now());
                    // Callers come back after 0-37 ms of other work.
                    let late = (worker * 7 + i * 13) % 38;
                    tokio::time::sleep(Duration::from_millis(late)).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort();
        assert_eq!(times.len(), 1040);
        for (i, at) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|t| t.duration_since(*at) < Rate::DEVELOPMENT.per)
                .count();
            assert!(in_window <= 100, "{in_window} requests in the window from {i}");
        }
        // ...nor more than 10 in one second: spread over the window.
        for (i, at) in times.iter().enumerate() {
            let in_second = times[i..]
                .iter()
                .take_while(|t| t.duration_since(*at) < Duration::from_secs(1))
                .count();
            assert!(in_second <= 10, "{in_second} requests in the second from {i}");
        }
        // 1,040 requests at 10 per 1.005 s: the last goes out after 103 parts and a little.
        let took = times.last().unwrap().duration_since(start);
        assert!(
            took < Duration::from_millis(103 * 1_005 + 400),
            "the budget was not used: {took:?}"
        );
    }

    /// One caller that is sometimes late (every fifth request it comes back after 150 ms, longer
    /// than a slot): the slots it missed are made up within the part of the window, so 200
    /// requests take 19 parts and a bit. A token bucket without burst loses 49.5 ms each time
    /// (about 22 s in all). Neither figure can be checked here against governor, which kept its
    /// own clock, not tokio's paused one: the bench's run 2 is where the bucket's cost showed.
    #[tokio::test(start_paused = true)]
    async fn a_late_request_does_not_push_the_later_ones_back() {
        let t = Throttle::new(Rate::DEVELOPMENT);
        let start = Instant::now();
        for i in 0..200u32 {
            t.acquire().await.unwrap();
            if i % 5 == 4 {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
        let took = start.elapsed();
        assert!(took < Duration::from_millis(19 * 1_005 + 400), "{took:?}");
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
        // One request per 100 ms (+ 50 ms of slack).
        let t = Throttle::new(Rate {
            requests: 1,
            per: Duration::from_millis(100),
        });
        // The first place is free: not busy.
        t.acquire().await.unwrap();
        assert!(!t.busy_within(Duration::from_secs(60)));
        // The second waits for it to leave the window.
        let waited = t.acquire().await.unwrap();
        assert!(waited > Duration::from_millis(10), "{waited:?}");
        assert!(t.busy_within(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!t.busy_within(Duration::from_millis(200)));
    }

    /// A pause that starts while a request waits for its place fails it when it wakes.
    #[tokio::test(start_paused = true)]
    async fn a_pause_reaches_requests_already_waiting() {
        let t = std::sync::Arc::new(Throttle::new(Rate {
            requests: 1,
            per: Duration::from_secs(1),
        }));
        t.acquire().await.unwrap();
        let waiting = tokio::spawn({
            let t = t.clone();
            async move { t.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.pause_for(Duration::from_secs(30));
        let left = waiting.await.unwrap().unwrap_err();
        assert!(left > Duration::from_secs(28), "{left:?}");
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
                let w = Window::of(rate);
                prop_assert!(w.requests >= 1 && w.requests <= MAX_LOG);
                prop_assert!(!w.span.is_zero() && w.span <= Rate::MAX_PER + PACING_SLACK);
                // Never faster than the rate: requests / span <= rate.requests / (per + slack).
                let per = per.min(Rate::MAX_PER);
                let total = per + PACING_SLACK.min(per);
                prop_assert!(
                    u128::from(w.requests) * total.as_nanos() <= u128::from(requests) * w.span.as_nanos()
                );
                let t = Throttle::new(rate);
                prop_assert_eq!(t.try_send(), Ok(()));
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
