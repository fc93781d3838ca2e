//! Per-instance pacing: a sliding log that keeps the operator under Clerk's rate limit, and a
//! shared pause when Clerk answers 429 with `Retry-After`: while it lasts every request of the
//! instance fails fast (nobody sleeps through it holding a worker), so other instances' objects
//! are not delayed.
//!
//! Fair share: a request waits for its place in a reconcile worker only when the place comes
//! within [`LEAD`] places of the instance's pace (after the requests already waiting); so a few
//! workers at most wait for one instance, and briefly. A request whose place is further away is
//! not sent and gets a turn instead ([`Wait::Turn`]): a time, spaced from the turns given
//! before it at the pace and a place early (so it finds its place within the lead), when its
//! object is requeued. A saturated instance keeps its budget in use and leaves the other
//! workers to other instances' objects.
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
use std::sync::atomic::{AtomicU32, Ordering};
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

/// How many places of the pace ahead a request may wait for its place in a worker.
pub const LEAD: u32 = 2;

/// Why a request was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Clerk paused the instance (429 with `Retry-After`): the rest of the pause.
    Paused(Duration),
    /// The request's place is too far away to wait for it: come back at this time, its turn.
    Turn(Instant),
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
    /// Requests let through per `window.span`, over the rate's whole window (for `usage`).
    counted: Mutex<VecDeque<(Instant, u32)>>,
    /// Requests waiting for the budget now.
    waiting: AtomicU32,
    /// The latest turn given to a request sent away.
    booked: Mutex<Option<Instant>>,
}

/// A place among the requests waiting for the budget; given back when dropped.
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
            counted: Mutex::new(VecDeque::new()),
            waiting: AtomicU32::new(0),
            booked: Mutex::new(None),
        }
    }

    /// Requests let through in the last `per` of the rate (counted per `window.span`, so up to
    /// one span more), and the rate (read-only; for status).
    pub fn usage(&self) -> (u32, Rate) {
        let mut counted = self.counted.lock().unwrap();
        Self::forget_counts(&mut counted, self.rate.per);
        let recent: u64 = counted.iter().map(|(_, n)| u64::from(*n)).sum();
        (u32::try_from(recent).unwrap_or(u32::MAX), self.rate)
    }

    fn forget_counts(counted: &mut VecDeque<(Instant, u32)>, per: Duration) {
        let now = Instant::now();
        while counted
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= per)
        {
            counted.pop_front();
        }
    }

    /// Count one request let through now.
    fn count(&self, now: Instant) {
        let mut counted = self.counted.lock().unwrap();
        match counted.back_mut() {
            Some((start, n)) if now.saturating_duration_since(*start) < self.window.span => *n += 1,
            _ => counted.push_back((now, 1)),
        }
        Self::forget_counts(&mut counted, self.rate.per);
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
            drop(sent);
            self.count(now);
            return Ok(());
        }
        let oldest = *sent.front().expect("a full log has entries");
        Err(oldest.checked_add(self.window.span).unwrap_or(now))
    }

    /// Wait for a place in the log, unless the instance is paused: then fail at once with the
    /// rest of the pause (also when a pause starts while waiting); or unless the place is more
    /// than [`LEAD`] places of the pace away: then fail at once with a turn. Returns how long it
    /// waited.
    pub async fn acquire(&self) -> Result<Duration, Wait> {
        let start = Instant::now();
        let mut place = None;
        loop {
            if let Some(left) = self.paused_for() {
                return Err(Wait::Paused(left));
            }
            match self.try_send() {
                Ok(()) => return Ok(start.elapsed()),
                Err(free_at) => {
                    *self.last_wait.lock().unwrap() = Some(Instant::now());
                    if place.is_none() {
                        place = Some(self.wait_in_line(free_at)?);
                    }
                    tokio::time::sleep_until(free_at).await;
                }
            }
        }
    }

    /// The time between two places of the log when requests are spread evenly.
    fn pace(&self) -> Duration {
        self.window.span / self.window.requests.max(1)
    }

    /// A place among the requests waiting for the budget, when the place after theirs comes
    /// within [`LEAD`] places of the pace from now (the log frees its next place at `free_at`);
    /// else a turn.
    fn wait_in_line(&self, free_at: Instant) -> Result<Waiting<'_>, Wait> {
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let place = Waiting(&self.waiting);
        let mine = free_at + self.pace() * ahead;
        if mine.saturating_duration_since(Instant::now()) <= self.pace() * LEAD {
            return Ok(place);
        }
        drop(place);
        Err(self.turn(mine))
    }

    /// The turn of a request sent away whose place would come at `mine`: no earlier, and one
    /// place of the pace after the turns given before; told a place early.
    fn turn(&self, mine: Instant) -> Wait {
        let pace = self.pace();
        let now = Instant::now();
        let mut booked = self.booked.lock().unwrap();
        let at = booked.filter(|b| *b > now).map_or(mine, |b| (b + pace).max(mine));
        *booked = Some(at);
        Wait::Turn(at.checked_sub(pace).unwrap_or(now).max(now))
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
mod tests;
