//! A failure carried to status: a typed reason, Clerk's own words, and how to retry.

use super::backoff::Retry;
use super::credentials;
use super::reason::{Class, Reason};
use crate::clerk::{ClerkError, Domain};
use std::time::Duration;

/// A failure carried to status: a typed reason, the words for the user (Clerk's own, when it
/// answered), Clerk's `Retry-After`, and the owned domain as last seen.
pub(crate) struct Failure {
    pub reason: Reason,
    pub message: String,
    pub after: Option<Duration>,
    pub domain: Option<Box<Domain>>,
    /// When a request sent away for its turn in the instance's budget is to come back.
    pub turn_at: Option<tokio::time::Instant>,
    /// Clerk no longer holds the domain the object's status records.
    pub gone: bool,
}

impl Failure {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
            after: None,
            domain: None,
            turn_at: None,
            gone: false,
        }
    }

    pub fn clerk(e: &ClerkError, domain: Option<Domain>) -> Self {
        Failure {
            reason: Reason::from_clerk(e),
            message: e.stable_message(),
            after: e.retry_after(),
            domain: domain.map(Box::new),
            turn_at: match e {
                ClerkError::Queued { turn_at, .. } => Some(*turn_at),
                _ => None,
            },
            gone: false,
        }
    }

    pub fn credentials(e: &credentials::CredentialsError) -> Self {
        Failure::new(e.reason(), e.to_string())
    }

    /// How to retry: per the reason's class, no sooner than Clerk's `Retry-After`.
    pub fn retry(&self) -> Retry {
        match self.reason.class() {
            Class::Terminal | Class::Paused => Retry::Terminal,
            Class::Transient | Class::Ok | Class::Check => Retry::Transient { after: self.after },
        }
    }
}
