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
    fn long_messages_are_truncated_on_char_boundary() {
        let c = condition("Ready", true, "A", "é".repeat(20_000), None, at(1));
        assert!(c.message.len() <= 32_768);
    }
}
