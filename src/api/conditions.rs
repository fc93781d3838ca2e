use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The conditions of one status, as the operator wants them.
pub type ConditionSet = Vec<Condition>;

/// Build a condition; `lastTransitionTime` is `now` until [`set_condition`] keeps an older one.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: truncate(message.into(), 32_768),
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// Insert or replace the condition of the same type. `lastTransitionTime` only moves when the
/// condition's `status` changes, as Kubernetes API conventions require.
pub fn set_condition(conditions: &mut ConditionSet, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// Decode `status.conditions` as leniently as the API server validates them, so that one
/// object's odd value never fails a list or watch of every object. The API server's `date-time`
/// check accepts `lastTransitionTime` values RFC 3339 parsers refuse (a fraction of any length
/// after any separator, lowercase `t` and `z`): the fraction is dropped. A condition that still
/// cannot be read is left out (the next status write sets it again).
pub fn lenient_conditions<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ConditionSet, D::Error> {
    use serde::Deserialize;
    let raw = Option::<Vec<serde_json::Value>>::deserialize(d)?.unwrap_or_default();
    Ok(raw.into_iter().filter_map(readable).collect())
}

fn readable(mut v: serde_json::Value) -> Option<Condition> {
    use serde::Deserialize;
    if let Ok(c) = Condition::deserialize(&v) {
        return Some(c);
    }
    let at = v.get("lastTransitionTime")?.as_str().and_then(lenient_time);
    let repaired = at.and_then(|at| {
        v["lastTransitionTime"] = serde_json::Value::String(at.to_string());
        Condition::deserialize(&v).ok()
    });
    if repaired.is_none() {
        let type_ = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        tracing::warn!(condition = %truncate(type_.to_string(), 64), "unreadable condition left out");
    }
    repaired
}

/// A time as the API server's `date-time` check accepts it: `<date>T<hh:mm:ss>`, then any one
/// character and digits (a fraction), then `Z` or `±hh:mm`, in any case. The fraction is
/// dropped when RFC 3339 parsing refuses the whole.
fn lenient_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    let upper = s.to_ascii_uppercase();
    let (head, rest) = (upper.get(..19)?, upper.get(19..)?);
    let zone = match rest.chars().next()? {
        'Z' | '+' | '-' => rest,
        sep => rest[sep.len_utf8()..].trim_start_matches(|c: char| c.is_ascii_digit()),
    };
    format!("{head}{zone}").parse().ok()
}

/// Cut `s` to at most `max` bytes, on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_is_stable_while_status_holds() {
        let mut set = vec![];
        set_condition(
            &mut set,
            condition("Ready", true, "Created", "a", Some(1), at(10)),
        );
        set_condition(&mut set, condition("Ready", true, "InSync", "b", Some(2), at(20)));
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].last_transition_time, Time(at(10)));
        assert_eq!(set[0].reason, "InSync");
        assert_eq!(set[0].observed_generation, Some(2));
    }

    #[test]
    fn transition_time_moves_when_status_flips() {
        let mut set = vec![];
        set_condition(
            &mut set,
            condition("Ready", true, "Created", "a", Some(1), at(10)),
        );
        set_condition(&mut set, condition("Ready", false, "Gone", "b", Some(1), at(30)));
        assert_eq!(set[0].last_transition_time, Time(at(30)));
        assert_eq!(set[0].status, "False");
    }

    #[test]
    fn types_are_kept_apart() {
        let mut set = vec![];
        set_condition(&mut set, condition("Ready", true, "A", "", None, at(1)));
        set_condition(&mut set, condition("Synced", false, "B", "", None, at(2)));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn conditions_decode_as_leniently_as_the_api_server_validates() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(default, deserialize_with = "lenient_conditions")]
            conditions: ConditionSet,
        }
        let c = |t: &str| {
            serde_json::json!({"type": "Ready", "status": "True", "reason": "R", "message": "",
                "lastTransitionTime": t})
        };
        #[rustfmt::skip]
        let table = [
            ("RFC 3339", c("2026-01-02T03:04:05Z"), Some(at(1_767_323_045))),
            ("a fraction of 13 digits", c("2026-01-02T03:04:05.1234567891234Z"), Some(at(1_767_323_045))),
            ("any separator before the fraction", c("2026-01-02T03:04:05x5Z"), Some(at(1_767_323_045))),
            ("lowercase, with an offset", c("2026-01-02t04:04:05.5555555555+01:00"), Some(at(1_767_323_045))),
            ("unreadable: left out", c("soon"), None),
            ("no zone: left out", c("2026-01-02T03:04:05"), None),
        ];
        for (case, raw, want) in table {
            let s: S =
                serde_json::from_value(serde_json::json!({ "conditions": [raw, c("2026-01-02T03:04:05Z")] }))
                    .unwrap_or_else(|e| panic!("{case}: {e}"));
            let got = s
                .conditions
                .first()
                .filter(|_| s.conditions.len() == 2)
                .map(|c| c.last_transition_time.0);
            assert_eq!(got, want, "{case}");
            assert!(!s.conditions.is_empty(), "{case}: the readable condition is kept");
        }
        // Without leniency, these values fail to decode.
        use serde::Deserialize;
        for odd in ["2026-01-02T03:04:05.1234567891234Z", "2026-01-02T03:04:05x5Z"] {
            assert!(Condition::deserialize(&c(odd)).is_err(), "{odd}");
        }
        let s: S = serde_json::from_value(serde_json::json!({ "conditions": null })).unwrap();
        assert!(s.conditions.is_empty());
    }

    #[test]
    fn long_messages_are_truncated_on_char_boundary() {
        let c = condition("Ready", true, "A", "é".repeat(20_000), None, at(1));
        assert!(c.message.len() <= 32_768);
    }
}
