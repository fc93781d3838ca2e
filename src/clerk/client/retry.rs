//! When to ask Clerk again: the client's own backoff and Clerk's `Retry-After`.

use std::time::Duration;

/// The longest `Retry-After` honoured: a longer (or absurd) value pauses the instance this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Delay before retry `attempt` (1-based): `base` doubling, ±50% jitter, at most 7.5 s.
/// A `jitter` outside `[0, 1]` is clamped (NaN counts as 0).
pub(crate) fn retry_delay(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let raw = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(Duration::from_secs(5));
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    raw.mul_f64(0.5 + jitter)
}

/// Parse `Retry-After`: delay-seconds or an HTTP date (RFC 9110), at most
/// [`MAX_RETRY_AFTER`]; a date in the past is zero.
pub(crate) fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: one too large for u64 is still "a long time".
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delta = when.as_millisecond().saturating_sub(now.as_millisecond());
    Some(Duration::from_millis(delta.max(0) as u64).min(MAX_RETRY_AFTER))
}
