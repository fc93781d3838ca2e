use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One entry of Clerk's `errors` array.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ErrorItem {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub long_message: String,
    #[serde(default)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

/// Clerk's error body (`ClerkErrors` in the spec) with the HTTP status and trace id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClerkApiError {
    /// HTTP status code.
    pub status: u16,
    /// Clerk's errors; empty when the body was not Clerk's JSON.
    pub errors: Vec<ErrorItem>,
    /// `clerk_trace_id` from the body, else the `Clerk-Trace-Id` header.
    pub trace_id: Option<String>,
    /// `Retry-After`, when Clerk sent one (429 and some 503s).
    pub retry_after: Option<Duration>,
}

impl ClerkApiError {
    /// The first error's code, e.g. `resource_not_found`.
    pub fn code(&self) -> Option<&str> {
        self.errors.first().map(|e| e.code.as_str())
    }

    /// Clerk's own words: each error's `long_message` (or `message`), joined.
    pub fn long_message(&self) -> String {
        let msgs: Vec<&str> = self
            .errors
            .iter()
            .map(|e| {
                if e.long_message.is_empty() {
                    e.message.as_str()
                } else {
                    e.long_message.as_str()
                }
            })
            .filter(|m| !m.is_empty())
            .collect();
        if msgs.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            msgs.join("; ")
        }
    }
}

impl std::fmt::Display for ClerkApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clerk answered {}: {}", self.status, self.long_message())?;
        if let Some(code) = self.code() {
            write!(f, " (code {code})")?;
        }
        if let Some(trace) = &self.trace_id {
            write!(f, " [trace {trace}]")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to Clerk.
#[derive(thiserror::Error, Debug)]
pub enum ClerkError {
    /// Clerk answered with a non-success status.
    #[error("{operation}: {error}")]
    Api {
        operation: &'static str,
        error: ClerkApiError,
    },
    /// The request did not complete: connection refused or reset, timeout, TLS.
    #[error("{operation}: could not reach Clerk: {message}")]
    Transport {
        operation: &'static str,
        message: String,
        timeout: bool,
        /// The connection was never established, so Clerk cannot have seen the request.
        connect: bool,
    },
    /// Clerk answered 2xx with a body we could not read.
    #[error("{operation}: unexpected response from Clerk: {message}")]
    Decode {
        operation: &'static str,
        message: String,
    },
    /// Not sent (or cancelled in flight): this process does not hold the leader Lease, so it
    /// must not write to Clerk. Transient; never retried by the client.
    #[error("{operation}: not sent: this process does not hold the leader Lease")]
    NotLeader { operation: &'static str },
    /// Not sent: Clerk answered 429 with `Retry-After` for this instance and the pause has not
    /// ended. Transient; [`retry_after`](ClerkError::retry_after) is the rest of the pause.
    #[error(
        "{operation}: not sent: Clerk rate-limited this instance, retry in {}",
        humantime::format_duration(Duration::from_millis(retry_after.as_millis() as u64))
    )]
    RateLimited {
        operation: &'static str,
        retry_after: Duration,
    },
    /// Not sent: the instance's client-side budget is spent and enough requests already wait
    /// for it. Transient; [`retry_after`](ClerkError::retry_after) is the request's turn.
    #[error("{operation}: not sent: the instance's rate budget is spent; its turn comes in {}",
        humantime::format_duration(Duration::from_millis(
            turn_at.saturating_duration_since(tokio::time::Instant::now()).as_millis() as u64)))]
    Queued {
        operation: &'static str,
        turn_at: tokio::time::Instant,
    },
}

impl ClerkError {
    /// The HTTP status, when Clerk answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClerkError::Api { error, .. } => Some(error.status),
            _ => None,
        }
    }

    /// Clerk's error code (`errors[0].code`), when Clerk answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClerkError::Api { error, .. } => error.code().filter(|c| !c.is_empty()),
            _ => None,
        }
    }

    /// Whether the request certainly never reached Clerk (connection refused or unreachable).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClerkError::Transport { connect: true, .. })
    }

    /// Whether the request was certainly never sent to Clerk: refused by the client (not the
    /// leader, the instance paused or its budget spent) or a connection that never reached it.
    pub fn is_unsent(&self) -> bool {
        match self {
            ClerkError::NotLeader { .. } | ClerkError::RateLimited { .. } | ClerkError::Queued { .. } => true,
            other => other.is_connect(),
        }
    }

    /// `404`: the resource does not exist (for a DELETE, the work is already done).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Errors that retrying the same request cannot fix (bad input, credentials, plan limits).
    pub fn is_terminal(&self) -> bool {
        matches!(self.status(), Some(400 | 401 | 402 | 403 | 422))
    }

    /// Errors worth retrying with backoff: transport failures, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ClerkError::Transport { .. } => true,
            ClerkError::Api { error, .. } => error.status == 429 || error.status >= 500,
            ClerkError::Decode { .. } => false,
            ClerkError::NotLeader { .. } | ClerkError::RateLimited { .. } | ClerkError::Queued { .. } => true,
        }
    }

    /// How long to wait before asking this instance again: Clerk's `Retry-After` (capped at
    /// [`MAX_RETRY_AFTER`](super::MAX_RETRY_AFTER)), or the rest of the instance's pause.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClerkError::Api { error, .. } => error.retry_after,
            ClerkError::RateLimited { retry_after, .. } => Some(*retry_after),
            ClerkError::Queued { turn_at, .. } => {
                Some(turn_at.saturating_duration_since(tokio::time::Instant::now()))
            }
            _ => None,
        }
    }

    /// The message for conditions: like `Display` but without Clerk's trace id, which differs on
    /// every response and would otherwise change the status (and trigger a reconcile) each time.
    pub fn stable_message(&self) -> String {
        match self {
            ClerkError::Api { operation, error } => {
                let mut s = format!(
                    "{operation}: Clerk answered {}: {}",
                    error.status,
                    error.long_message()
                );
                if let Some(code) = error.code()
                    && !code.is_empty()
                {
                    s.push_str(&format!(" (code {code})"));
                }
                s
            }
            // Without the remaining time, which changes on every attempt.
            ClerkError::RateLimited { operation, .. } => format!(
                "{operation}: not sent: Clerk rate-limited this instance (Retry-After); retrying after the pause"
            ),
            ClerkError::Queued { operation, .. } => {
                format!("{operation}: not sent yet: waiting for its turn in the instance's rate budget")
            }
            other => other.to_string(),
        }
    }

    /// A CamelCase reason for conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            ClerkError::Transport { .. } => "ClerkUnreachable",
            ClerkError::Decode { .. } => "ClerkResponseInvalid",
            ClerkError::NotLeader { .. } => "NotLeader",
            ClerkError::RateLimited { .. } => "ClerkRateLimited",
            ClerkError::Queued { .. } => "RateBudgetWait",
            ClerkError::Api { error, .. } => match error.status {
                401 => "ClerkUnauthorized",
                402 => "ClerkPaymentRequired",
                403 => "ClerkForbidden",
                404 => "ClerkNotFound",
                400 | 422 => "ClerkRejected",
                429 => "ClerkRateLimited",
                s if s >= 500 => "ClerkUnavailable",
                _ => "ClerkError",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> ClerkError {
        ClerkError::Api {
            operation: "ListDomains",
            error: ClerkApiError {
                status,
                errors: vec![ErrorItem {
                    message: "short".into(),
                    long_message: "the long message".into(),
                    code: "some_code".into(),
                    meta: None,
                }],
                trace_id: Some("t1".into()),
                retry_after: None,
            },
        }
    }

    #[test]
    fn classification_table() {
        let cases = [
            (400, true, false, "ClerkRejected"),
            (401, true, false, "ClerkUnauthorized"),
            (402, true, false, "ClerkPaymentRequired"),
            (403, true, false, "ClerkForbidden"),
            (404, false, false, "ClerkNotFound"),
            (422, true, false, "ClerkRejected"),
            (429, false, true, "ClerkRateLimited"),
            (500, false, true, "ClerkUnavailable"),
            (503, false, true, "ClerkUnavailable"),
        ];
        for (status, terminal, transient, reason) in cases {
            let e = api(status);
            assert_eq!(e.is_terminal(), terminal, "{status}");
            assert_eq!(e.is_transient(), transient, "{status}");
            assert_eq!(e.reason(), reason, "{status}");
        }
    }

    #[test]
    fn refused_requests_are_transient_with_their_reason() {
        let e = ClerkError::NotLeader {
            operation: "AddDomain",
        };
        assert!(e.is_transient() && !e.is_terminal() && !e.is_connect());
        assert_eq!(
            (e.reason(), e.retry_after(), e.status()),
            ("NotLeader", None, None)
        );
        let e = ClerkError::RateLimited {
            operation: "ListDomains",
            retry_after: Duration::from_millis(12_345),
        };
        assert!(e.is_transient() && !e.is_terminal());
        assert_eq!(e.reason(), "ClerkRateLimited");
        assert_eq!(e.retry_after(), Some(Duration::from_millis(12_345)));
        assert!(e.to_string().contains("12s 345ms"), "{e}");
        let other = ClerkError::RateLimited {
            operation: "ListDomains",
            retry_after: Duration::from_secs(3),
        };
        assert_eq!(e.stable_message(), other.stable_message());
    }

    #[test]
    fn stable_message_leaves_out_the_trace_id() {
        let s = api(401).stable_message();
        assert!(
            s.contains("the long message") && s.contains("some_code") && !s.contains("t1"),
            "{s}"
        );
    }

    #[test]
    fn display_carries_clerks_words_code_and_trace() {
        let s = api(422).to_string();
        assert!(
            s.contains("the long message") && s.contains("some_code") && s.contains("t1"),
            "{s}"
        );
    }
}
