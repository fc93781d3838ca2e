//! What a probe found, and how answers and errors are read.

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// 200 `{"status":"healthy"}`.
    Healthy,
    /// Clerk's side: `{"status":"unhealthy"}` (503), with Clerk's message.
    Unhealthy { status: u16, message: String },
    /// Clerk's side: the host's CNAME points at Clerk's target, which does not resolve.
    TargetUnresolved { target: String },
    /// The user's record: the host does not exist (NXDOMAIN) or has no address and no CNAME.
    RecordMissing,
    /// The user's record: the host's CNAME points elsewhere than Clerk's target (and what it
    /// points to does not resolve).
    RecordWrong { found: Vec<String>, want: String },
    /// The user's record or certificate: the TLS handshake failed.
    Certificate(String),
    /// The user's record: something answered, not as Clerk's health endpoint does.
    WrongAnswer(String),
    /// No answer: lookup failure, connection refused, timeout.
    Unreachable(String),
}

/// At most this many characters of an unexpected answer go into the message.
const EXCERPT: usize = 200;

impl Health {
    /// Whether the Frontend API answered healthy.
    pub fn is_healthy(&self) -> bool {
        *self == Health::Healthy
    }

    /// The condition's message about `url` (stable while nothing changes: no times, no counts).
    pub fn message(&self, url: &str) -> String {
        match self {
            Health::Healthy => format!("GET {url} answered healthy"),
            Health::Unhealthy { status, message } => {
                format!("Clerk's side: GET {url} answered {status} unhealthy: {message}")
            }
            Health::TargetUnresolved { target } => format!(
                "Clerk's side: the record points to Clerk's target {target}, which does not resolve (NXDOMAIN) right now"
            ),
            Health::RecordMissing => {
                format!("your record: the host of {url} does not exist (NXDOMAIN) or has no address")
            }
            Health::RecordWrong { found, want } => format!(
                "your record: the host of {url} is a CNAME to {}, expected {want}",
                found.join(", ")
            ),
            Health::Certificate(e) => format!("your record or certificate: TLS with {url} failed: {e}"),
            Health::WrongAnswer(a) => format!("your record: GET {url} did not answer as Clerk does: {a}"),
            Health::Unreachable(e) => format!("GET {url}: no answer: {e}"),
        }
    }
}

/// The health endpoint's body.
#[derive(serde::Deserialize)]
struct Body {
    status: String,
    #[serde(default)]
    message: Option<String>,
}

/// Read an answer: Clerk's `healthy` only with 200; `unhealthy` (any status) is Clerk's side;
/// anything else is something other than Clerk answering.
pub(crate) fn answer(status: u16, body: &str) -> Health {
    match serde_json::from_str::<Body>(body) {
        Ok(b) if b.status == "healthy" && status == 200 => Health::Healthy,
        Ok(b) if b.status == "unhealthy" => Health::Unhealthy {
            status,
            message: b
                .message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| "no message".into()),
        },
        _ => {
            let excerpt: String = body.chars().take(EXCERPT).collect();
            Health::WrongAnswer(format!("HTTP {status}: {:?}", excerpt.trim()))
        }
    }
}

/// Read a failed request: a TLS failure or no answer. The message is the error's chain.
pub(crate) fn send_error(e: &reqwest::Error) -> Health {
    let message = chain(e);
    if is_tls_error(e) {
        Health::Certificate(message)
    } else {
        Health::Unreachable(message)
    }
}

/// Whether `e` (or an error in its chain, also inside `std::io::Error`s) is a TLS error.
pub fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && is_tls_error(inner)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// The error and its sources, joined with `: `, each said once.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    // reqwest names the URL in its first part; the condition names it already.
    if parts.len() > 1 && parts[0].starts_with("error sending request") {
        parts.remove(0);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_clerk_writes_them() {
        #[rustfmt::skip]
        let cases = [
            (200, r#"{"status":"healthy"}"#, Health::Healthy),
            (503, r#"{"status":"unhealthy","message":"database down"}"#,
                Health::Unhealthy { status: 503, message: "database down".into() }),
            (503, r#"{"status":"unhealthy"}"#,
                Health::Unhealthy { status: 503, message: "no message".into() }),
            (200, "<html>parked</html>", Health::WrongAnswer("HTTP 200: \"<html>parked</html>\"".into())),
            (404, "", Health::WrongAnswer("HTTP 404: \"\"".into())),
            (503, r#"{"status":"healthy"}"#, Health::WrongAnswer("HTTP 503: \"{\\\"status\\\":\\\"healthy\\\"}\"".into())),
        ];
        for (status, body, want) in cases {
            assert_eq!(answer(status, body), want, "{status} {body}");
        }
    }

    #[test]
    fn reasons_tell_clerks_side_from_the_users() {
        let clerk = [
            Health::Unhealthy {
                status: 503,
                message: "x".into(),
            },
            Health::TargetUnresolved { target: "t".into() },
        ];
        for h in clerk {
            assert!(h.message("u").starts_with("Clerk's side"), "{h:?}");
        }
        let user = [
            Health::RecordMissing,
            Health::RecordWrong {
                found: vec!["a".into()],
                want: "b".into(),
            },
            Health::Certificate("bad".into()),
            Health::WrongAnswer("x".into()),
        ];
        for h in user {
            assert!(h.message("u").starts_with("your record"), "{h:?}");
        }
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let tls = std::io::Error::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(is_tls_error(&tls));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_tls_error(&refused));
    }
}
