//! The status an instance object should have, computed purely from the last check with Clerk.

use crate::api::{ClerkInstanceStatus, RateLimitStatus, condition, condition_type, set_condition};
use crate::controller::reason::{Class, Reason};

/// What the last check of the key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// `GET /instance` answered, for the pinned instance (or the first time).
    Ok { id: String, environment: String },
    /// The key could not be read, Clerk refused it, or it belongs to another instance.
    Failed { reason: Reason, message: String },
}

/// Facts that change without a check.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// ClerkDomains using the object.
    pub domains: i64,
    /// The rate-limit budget, when measured (`None` keeps the recorded one).
    pub rate_limit: Option<RateLimitStatus>,
    /// When Clerk was asked (`None` keeps the recorded time).
    pub checked_at: Option<String>,
}

/// The next status after `checked`. Equal to `old` when nothing changed (no write then);
/// `lastTransitionTime` moves only when a condition flips.
///
/// `Ready=True` when the key works for the pinned instance. A transient failure keeps a
/// `Ready=True` of the same generation (the key worked a moment ago) and sets
/// `Reconciling=True`; a terminal one sets `Ready=False` and `Stalled=True`.
pub fn next(
    old: &ClerkInstanceStatus,
    generation: Option<i64>,
    checked: &Checked,
    facts: &Facts,
    now: jiff::Timestamp,
) -> ClerkInstanceStatus {
    let mut st = old.clone();
    st.observed_generation = generation;
    st.domains = facts.domains;
    if let Some(r) = &facts.rate_limit {
        st.rate_limit = Some(r.clone());
    }
    if let Some(at) = &facts.checked_at {
        st.last_check_time = Some(at.clone());
    }
    let set = |st: &mut ClerkInstanceStatus, type_: &str, ok: bool, reason: Reason, message: &str| {
        set_condition(
            &mut st.conditions,
            condition(type_, ok, reason.as_str(), message, generation, now),
        );
    };
    let drop = |st: &mut ClerkInstanceStatus, type_: &str| st.conditions.retain(|c| c.type_ != type_);
    match checked {
        Checked::Ok { id, environment } => {
            if st.instance_id.is_none() {
                st.instance_id = Some(id.clone());
            }
            st.environment_type = Some(environment.clone());
            let message = format!("the key belongs to Clerk instance {id} ({environment})");
            set(&mut st, condition_type::READY, true, Reason::Verified, &message);
            drop(&mut st, condition_type::RECONCILING);
            drop(&mut st, condition_type::STALLED);
        }
        Checked::Failed { reason, message } => {
            let was_ready = old.conditions.iter().any(|c| {
                c.type_ == condition_type::READY && c.status == "True" && c.observed_generation == generation
            });
            match reason.class() {
                Class::Terminal => {
                    set(&mut st, condition_type::READY, false, *reason, message);
                    set(&mut st, condition_type::STALLED, true, *reason, message);
                    drop(&mut st, condition_type::RECONCILING);
                }
                _ => {
                    if was_ready {
                        if let Some(c) = st
                            .conditions
                            .iter_mut()
                            .find(|c| c.type_ == condition_type::READY)
                        {
                            c.observed_generation = generation;
                        }
                    } else {
                        set(&mut st, condition_type::READY, false, *reason, message);
                    }
                    set(&mut st, condition_type::RECONCILING, true, *reason, message);
                    drop(&mut st, condition_type::STALLED);
                }
            }
        }
    }
    st
}

/// Whether ClerkDomains may use an object with this status at `generation`: `Ok(instance ID)`,
/// else the reason and words to report on them.
pub fn usable(
    status: Option<&ClerkInstanceStatus>,
    generation: Option<i64>,
) -> Result<String, (Reason, String)> {
    let Some(st) = status else {
        return Err((
            Reason::InstanceNotReady,
            "it has not been checked with Clerk yet".into(),
        ));
    };
    let find = |t: &str| st.conditions.iter().find(|c| c.type_ == t);
    if let Some(c) = find(condition_type::STALLED).filter(|c| c.status == "True") {
        let reason = if c.reason == Reason::InstanceChanged.as_str() {
            Reason::InstanceChanged
        } else {
            Reason::InstanceStalled
        };
        return Err((reason, format!("it is Stalled ({}): {}", c.reason, c.message)));
    }
    let ready = find(condition_type::READY).is_some_and(|c| {
        c.status == "True" && c.observed_generation == generation && st.observed_generation == generation
    });
    match (&st.instance_id, ready) {
        (Some(id), true) => Ok(id.clone()),
        _ => Err((
            Reason::InstanceNotReady,
            "it is not Ready yet (its key is being checked with Clerk)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    fn ok() -> Checked {
        Checked::Ok {
            id: "ins_1".into(),
            environment: "production".into(),
        }
    }

    fn failed(reason: Reason) -> Checked {
        Checked::Failed {
            reason,
            message: "words".into(),
        }
    }

    fn cond<'a>(st: &'a ClerkInstanceStatus, t: &str) -> Option<(&'a str, &'a str)> {
        st.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.as_str(), c.reason.as_str()))
    }

    #[test]
    fn a_good_key_is_ready_and_pinned_and_a_second_pass_changes_nothing() {
        let facts = Facts {
            domains: 2,
            ..Default::default()
        };
        let st = next(&Default::default(), Some(1), &ok(), &facts, at(1));
        assert_eq!(st.instance_id.as_deref(), Some("ins_1"));
        assert_eq!(st.environment_type.as_deref(), Some("production"));
        assert_eq!(st.domains, 2);
        assert_eq!(cond(&st, "Ready"), Some(("True", "Verified")));
        assert_eq!(usable(Some(&st), Some(1)), Ok("ins_1".into()));
        assert!(
            usable(Some(&st), Some(2)).is_err(),
            "a new generation is not checked yet"
        );
        assert_eq!(
            next(&st, Some(1), &ok(), &facts, at(9)),
            st,
            "no change, no write"
        );
    }

    #[test]
    fn failures_by_class() {
        let ready = next(&Default::default(), Some(1), &ok(), &Facts::default(), at(1));
        // Transient after Ready: stays Ready, Reconciling.
        let st = next(
            &ready,
            Some(1),
            &failed(Reason::ClerkUnavailable),
            &Facts::default(),
            at(2),
        );
        assert_eq!(cond(&st, "Ready"), Some(("True", "Verified")));
        assert_eq!(cond(&st, "Reconciling"), Some(("True", "ClerkUnavailable")));
        assert!(usable(Some(&st), Some(1)).is_ok());
        // Terminal: not Ready, Stalled; the pinned ID stays.
        let st = next(
            &ready,
            Some(1),
            &failed(Reason::InvalidKey),
            &Facts::default(),
            at(3),
        );
        assert_eq!(cond(&st, "Ready"), Some(("False", "InvalidKey")));
        assert_eq!(cond(&st, "Stalled"), Some(("True", "InvalidKey")));
        assert_eq!(cond(&st, "Reconciling"), None);
        assert_eq!(st.instance_id.as_deref(), Some("ins_1"));
        assert_eq!(usable(Some(&st), Some(1)).unwrap_err().0, Reason::InstanceStalled);
        let st = next(
            &ready,
            Some(1),
            &failed(Reason::InstanceChanged),
            &Facts::default(),
            at(3),
        );
        assert_eq!(usable(Some(&st), Some(1)).unwrap_err().0, Reason::InstanceChanged);
        // Transient before ever Ready: not Ready, Reconciling.
        let st = next(
            &Default::default(),
            Some(1),
            &failed(Reason::ClerkUnreachable),
            &Facts::default(),
            at(4),
        );
        assert_eq!(cond(&st, "Ready"), Some(("False", "ClerkUnreachable")));
        assert_eq!(
            usable(Some(&st), Some(1)).unwrap_err().0,
            Reason::InstanceNotReady
        );
        assert_eq!(usable(None, Some(1)).unwrap_err().0, Reason::InstanceNotReady);
    }

    #[test]
    fn recovery_keeps_the_pin_and_clears_stalled() {
        let ready = next(&Default::default(), Some(1), &ok(), &Facts::default(), at(1));
        let stalled = next(
            &ready,
            Some(1),
            &failed(Reason::InvalidKey),
            &Facts::default(),
            at(2),
        );
        let again = next(&stalled, Some(1), &ok(), &Facts::default(), at(3));
        assert_eq!(cond(&again, "Stalled"), None);
        assert_eq!(cond(&again, "Ready"), Some(("True", "Verified")));
        assert_eq!(again.instance_id.as_deref(), Some("ins_1"));
    }
}
