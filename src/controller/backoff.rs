//! Per-object retry delays: exponential with jitter for transient failures, a slow recheck for
//! terminal ones.

use std::time::Duration;

/// First retry delay.
pub(crate) const BASE: Duration = Duration::from_secs(2);
/// Longest delay between retries of a transient failure.
pub(crate) const CAP: Duration = Duration::from_secs(15 * 60);
/// Recheck period for failures that retrying cannot fix (until the spec or Secret changes).
pub(crate) const TERMINAL_RECHECK: Duration = Duration::from_secs(10 * 60);
/// The shortest delay after a `Retry-After` (a zero or past one does not make a hot loop).
pub(crate) const MIN_AFTER: Duration = Duration::from_secs(1);
/// The longest period [`aligned`] works with; longer ones are treated as this (a year).
pub(crate) const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// `jitter` clamped to `[0, 1]`; NaN counts as 0.
fn unit(jitter: f64) -> f64 {
    if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    }
}

/// How a failure should be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retry with growing delay, no sooner than `after` if given (Clerk's `Retry-After`).
    Transient { after: Option<Duration> },
    /// Do not retry until something changes; recheck slowly.
    Terminal,
}

/// Delay before the next attempt after the `attempt`-th consecutive failure (1-based).
/// `jitter` in `[0, 1)` spreads retries of many objects (±20%). When Clerk said when to come
/// back (`after`: its `Retry-After`, or the rest of the instance's pause), that time wins over
/// the exponential backoff, stretched by up to 10% of jitter and at least [`MIN_AFTER`]: failing
/// fast during a pause must not push the object's retry far beyond the pause's end. Never
/// longer than [`CAP`] (nor [`TERMINAL_RECHECK`]), whatever `after` says.
pub(crate) fn delay(retry: Retry, attempt: u32, jitter: f64) -> Duration {
    match retry {
        Retry::Terminal => TERMINAL_RECHECK,
        Retry::Transient { after } => {
            let exp = attempt.saturating_sub(1).min(20);
            let raw = BASE.saturating_mul(1u32 << exp).min(CAP);
            let factor = 0.8 + 0.4 * unit(jitter);
            let jittered = raw.mul_f64(factor).min(CAP);
            match after {
                Some(a) => {
                    let a = a.min(CAP);
                    (a + a.mul_f64(0.1 * unit(jitter))).max(MIN_AFTER).min(CAP)
                }
                None => jittered,
            }
        }
    }
}

/// Time from `now` to the next multiple of `period` since the Unix epoch, plus up to 1% of the
/// period (at most 1 s) of jitter. Never shorter than a tenth of the period, never longer than
/// 1.1 periods + 1 s. `period` is taken within [1 ms, [`MAX_PERIOD`]].
pub(crate) fn aligned(period: Duration, now: std::time::SystemTime, jitter: f64) -> Duration {
    let period = period.clamp(Duration::from_millis(1), MAX_PERIOD);
    let p = period.as_millis();
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    // Both below MAX_PERIOD in milliseconds: the casts are exact.
    let mut left = Duration::from_millis((p - since % p) as u64);
    if left < period / 10 {
        left += period;
    }
    let spread = (period / 100).min(Duration::from_secs(1));
    left + spread.mul_f64(unit(jitter))
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
        assert_eq!(delay(t, 1, 0.0), Duration::from_secs(30));
        assert_eq!(delay(t, 1, 0.5), Duration::from_millis(31_500));
        assert_eq!(delay(Retry::Terminal, 1, 0.5), TERMINAL_RECHECK);
        // Clerk's time wins over the backoff of many failed attempts (e.g. fail-fast retries
        // during one pause), and a zero Retry-After is still a second.
        let soon = Retry::Transient {
            after: Some(Duration::from_secs(2)),
        };
        assert_eq!(delay(soon, 12, 0.0), Duration::from_secs(2));
        let zero = Retry::Transient {
            after: Some(Duration::ZERO),
        };
        assert_eq!(delay(zero, 1, 0.0), MIN_AFTER);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn any_retry() -> impl Strategy<Value = Retry> {
            prop_oneof![
                Just(Retry::Terminal),
                any::<Option<(u64, u32)>>().prop_map(|a| Retry::Transient {
                    after: a.map(|(s, n)| Duration::new(s, n % 1_000_000_000)),
                }),
            ]
        }

        proptest! {
            #[test]
            fn delay_is_bounded(retry in any_retry(), attempt in any::<u32>(), jitter in any::<f64>()) {
                let d = delay(retry, attempt, jitter);
                match retry {
                    Retry::Terminal => prop_assert_eq!(d, TERMINAL_RECHECK),
                    Retry::Transient { after } => {
                        prop_assert!(d <= CAP, "{:?}", d);
                        match after {
                            None => prop_assert!(d >= BASE.mul_f64(0.8), "{:?}", d),
                            Some(a) => {
                                prop_assert!(d >= a.min(CAP).max(MIN_AFTER), "{:?}", d);
                                prop_assert!(d <= a.min(CAP).mul_f64(1.1).max(MIN_AFTER), "{:?}", d);
                            }
                        }
                        // Usable as a requeue: adding it to now cannot overflow.
                        prop_assert!(std::time::Instant::now().checked_add(d).is_some());
                    }
                }
            }

            #[test]
            fn aligned_is_bounded(secs in any::<u64>(), nanos in 0u32..1_000_000_000, now_ms in 0u64..=32_503_680_000_000, jitter in any::<f64>()) {
                let period = Duration::new(secs, nanos);
                let now = std::time::UNIX_EPOCH + Duration::from_millis(now_ms);
                let d = aligned(period, now, jitter);
                let p = period.clamp(Duration::from_millis(1), MAX_PERIOD);
                prop_assert!(d >= p / 10, "{:?} for {:?}", d, p);
                prop_assert!(d <= p + p / 10 + Duration::from_secs(1), "{:?} for {:?}", d, p);
                prop_assert!(std::time::Instant::now().checked_add(d).is_some());
            }
        }

        #[test]
        fn huge_inputs_do_not_panic() {
            assert_eq!(
                aligned(Duration::MAX, std::time::UNIX_EPOCH, 0.5).as_secs() / 86_400,
                366
            );
            let t = Retry::Transient {
                after: Some(Duration::MAX),
            };
            assert_eq!(delay(t, 1, f64::NAN), CAP);
        }
    }
}
