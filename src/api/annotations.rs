//! Annotations under `clerk-operator.io/` that steer one ClerkDomain.

use std::collections::BTreeMap;
use std::time::Duration;

/// Adopt this existing Clerk domain (`dmn_...`) instead of matching by name.
pub const DOMAIN_ID: &str = "clerk-operator.io/domain-id";
/// `"true"` stops all Clerk writes; deleting the object then leaves the domain in Clerk.
pub const PAUSED: &str = "clerk-operator.io/paused";
/// This object's resync period (e.g. `30s`, `10m`), overriding `--resync-period`; clamped to
/// [`MIN_RESYNC_PERIOD`, `MAX_RESYNC_PERIOD`].
pub const RESYNC_PERIOD: &str = "clerk-operator.io/resync-period";
/// The shortest resync period an annotation may ask for (shorter values are raised to it).
pub const MIN_RESYNC_PERIOD: Duration = Duration::from_secs(10);
/// The longest resync period an annotation may ask for (longer values are lowered to it).
pub const MAX_RESYNC_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);
/// Any new value forces an immediate resync with a fresh list from Clerk.
pub const RECONCILE_REQUESTED_AT: &str = "clerk-operator.io/reconcile-requested-at";
/// Finalizer put on Secrets that ClerkDomains use, so their key outlives the ClerkDomains.
pub const SECRET_IN_USE: &str = "clerk-operator.io/in-use";

/// The annotations of one object, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations<'a> {
    /// `Some(Err)` when the value is not a Clerk domain ID.
    pub domain_id: Option<Result<&'a str, String>>,
    pub paused: bool,
    /// `Some(Err)` when the value does not parse; a value outside
    /// [`MIN_RESYNC_PERIOD`, `MAX_RESYNC_PERIOD`] is `Some(Ok(clamped))` with a
    /// [`resync_period_note`](Self::resync_period_note).
    pub resync_period: Option<Result<Duration, String>>,
    /// Why the resync period differs from the annotation's value (it was clamped), for a
    /// warning Event.
    pub resync_period_note: Option<String>,
    pub reconcile_requested_at: Option<&'a str>,
}

/// Parse the operator's annotations; others are ignored.
pub fn parse(annotations: Option<&BTreeMap<String, String>>) -> Annotations<'_> {
    let Some(a) = annotations else {
        return Annotations::default();
    };
    let get = |k: &str| a.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (resync_period, resync_period_note) = match get(RESYNC_PERIOD).map(parse_resync_period) {
        None => (None, None),
        Some(Ok((d, note))) => (Some(Ok(d)), note),
        Some(Err(e)) => (Some(Err(e)), None),
    };
    Annotations {
        domain_id: get(DOMAIN_ID).map(domain_id),
        paused: get(PAUSED).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        resync_period,
        resync_period_note,
        reconcile_requested_at: get(RECONCILE_REQUESTED_AT),
    }
}

/// Parse a `resync-period` value: the period, clamped to [`MIN_RESYNC_PERIOD`,
/// `MAX_RESYNC_PERIOD`], and a note when it was clamped; an error when it does not parse.
pub fn parse_resync_period(v: &str) -> Result<(Duration, Option<String>), String> {
    let d = humantime::parse_duration(v.trim()).map_err(|e| format!("{RESYNC_PERIOD}: {v:?}: {e}"))?;
    let clamped = d.clamp(MIN_RESYNC_PERIOD, MAX_RESYNC_PERIOD);
    let note = (clamped != d).then(|| {
        format!(
            "{RESYNC_PERIOD}: {v:?} is outside [{}, {}]; using {}",
            humantime::format_duration(MIN_RESYNC_PERIOD),
            humantime::format_duration(MAX_RESYNC_PERIOD),
            humantime::format_duration(clamped)
        )
    });
    Ok((clamped, note))
}

/// Longest domain ID accepted in the annotation (Clerk's are about 30 characters).
pub const MAX_DOMAIN_ID: usize = 128;

/// A Clerk domain ID: `dmn_` followed by letters and digits, at most [`MAX_DOMAIN_ID`] long.
fn domain_id(v: &str) -> Result<&str, String> {
    let ok = v.len() <= MAX_DOMAIN_ID
        && v.strip_prefix("dmn_")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(v)
    } else {
        let shown: String = v.chars().take(40).collect();
        Err(format!(
            "{DOMAIN_ID}: {shown:?} is not a Clerk domain ID (dmn_ followed by letters and digits, at most {MAX_DOMAIN_ID} characters)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_annotation() {
        let m: BTreeMap<String, String> = [
            (DOMAIN_ID, "dmn_1"),
            (PAUSED, "True"),
            (RESYNC_PERIOD, "90s"),
            (RECONCILE_REQUESTED_AT, "2026-11-26T10:00:00Z"),
            ("other.io/x", "y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let a = parse(Some(&m));
        assert_eq!(a.domain_id, Some(Ok("dmn_1")));
        assert!(a.paused);
        assert_eq!(a.resync_period, Some(Ok(Duration::from_secs(90))));
        assert_eq!(a.reconcile_requested_at, Some("2026-11-26T10:00:00Z"));
    }

    #[test]
    fn bad_or_empty_values() {
        let m: BTreeMap<String, String> = [(PAUSED, "yes"), (RESYNC_PERIOD, "soon"), (DOMAIN_ID, " ")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let a = parse(Some(&m));
        assert!(!a.paused);
        assert!(matches!(a.resync_period, Some(Err(_))));
        assert_eq!(a.domain_id, None);
        for bad in ["dmn_", "dmn_a/b", "x_123", "dmn_a b"] {
            let m: BTreeMap<String, String> = [(DOMAIN_ID.to_string(), bad.to_string())].into();
            assert!(matches!(parse(Some(&m)).domain_id, Some(Err(_))), "{bad}");
        }
        let long = format!("dmn_{}", "a".repeat(MAX_DOMAIN_ID));
        let m: BTreeMap<String, String> = [(DOMAIN_ID.to_string(), long)].into();
        assert!(matches!(parse(Some(&m)).domain_id, Some(Err(_))));
        assert_eq!(parse(None), Annotations::default());
    }

    #[test]
    fn resync_period_is_clamped_with_a_note() {
        let one = |v: &str| {
            let m: BTreeMap<String, String> = [(RESYNC_PERIOD.to_string(), v.to_string())].into();
            let a = parse(Some(&m));
            (a.resync_period.unwrap(), a.resync_period_note)
        };
        assert_eq!(one("90s"), (Ok(Duration::from_secs(90)), None));
        assert_eq!(one("10s"), (Ok(MIN_RESYNC_PERIOD), None));
        assert_eq!(one("24h"), (Ok(MAX_RESYNC_PERIOD), None));
        let (d, note) = one("10ms");
        assert_eq!(d, Ok(MIN_RESYNC_PERIOD));
        assert!(note.unwrap().contains("outside [10s, 1day]"));
        let (d, note) = one("0s");
        assert_eq!(d, Ok(MIN_RESYNC_PERIOD));
        assert!(note.is_some());
        let (d, note) = one("1000years");
        assert_eq!(d, Ok(MAX_RESYNC_PERIOD));
        assert!(note.unwrap().contains("using 1day"));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_resync_value_is_an_error_or_within_bounds(v in any::<String>()) {
                let m: BTreeMap<String, String> = [(RESYNC_PERIOD.to_string(), v)].into();
                if let Some(Ok(d)) = parse(Some(&m)).resync_period {
                    prop_assert!((MIN_RESYNC_PERIOD..=MAX_RESYNC_PERIOD).contains(&d));
                }
            }

            #[test]
            fn durations_are_clamped(n in any::<u64>(), unit in prop::sample::select(vec!["ns", "ms", "s", "m", "h", "d", "w", "y"])) {
                let v = format!("{n}{unit}");
                match parse_resync_period(&v) {
                    Ok((d, note)) => {
                        prop_assert!((MIN_RESYNC_PERIOD..=MAX_RESYNC_PERIOD).contains(&d));
                        let exact = humantime::parse_duration(&v).unwrap();
                        prop_assert_eq!(note.is_some(), exact != d);
                    }
                    // Only values humantime cannot represent.
                    Err(_) => prop_assert!(humantime::parse_duration(&v).is_err()),
                }
            }
        }
    }
}
