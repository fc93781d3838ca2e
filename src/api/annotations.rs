//! Annotations under `clerk-operator.io/` that steer one ClerkDomain.

use std::collections::BTreeMap;
use std::time::Duration;

/// Adopt this existing Clerk domain (`dmn_...`) instead of matching by name.
pub const DOMAIN_ID: &str = "clerk-operator.io/domain-id";
/// `"true"` stops all Clerk writes; deleting the object then leaves the domain in Clerk.
pub const PAUSED: &str = "clerk-operator.io/paused";
/// This object's resync period (e.g. `30s`, `10m`), overriding `--resync-period`.
pub const RESYNC_PERIOD: &str = "clerk-operator.io/resync-period";
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
    /// `Some(Err)` when the value does not parse.
    pub resync_period: Option<Result<Duration, String>>,
    pub reconcile_requested_at: Option<&'a str>,
}

/// Parse the operator's annotations; others are ignored.
pub fn parse(annotations: Option<&BTreeMap<String, String>>) -> Annotations<'_> {
    let Some(a) = annotations else {
        return Annotations::default();
    };
    let get = |k: &str| a.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    Annotations {
        domain_id: get(DOMAIN_ID).map(domain_id),
        paused: get(PAUSED).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        resync_period: get(RESYNC_PERIOD).map(|v| match humantime::parse_duration(v) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(d),
            Ok(_) => Err(format!("{RESYNC_PERIOD}: {v:?} is shorter than 1s")),
            Err(e) => Err(format!("{RESYNC_PERIOD}: {v:?}: {e}")),
        }),
        reconcile_requested_at: get(RECONCILE_REQUESTED_AT),
    }
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
        let m: BTreeMap<String, String> = [(RESYNC_PERIOD.to_string(), "10ms".to_string())].into();
        assert!(matches!(parse(Some(&m)).resync_period, Some(Err(_))));
        assert_eq!(parse(None), Annotations::default());
    }
}
