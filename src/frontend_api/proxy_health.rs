//! The proxy-health probe: `GET <proxy URL>/v1/proxy-health?domain_id=<id>` through the user's
//! proxy, which forwards it to Clerk's Frontend API with the headers Clerk's proxy guide asks for
//! (`Clerk-Proxy-Url`, `Clerk-Secret-Key`, `X-Forwarded-For`). The operator sends none of them,
//! and never a secret: the proxy adds them, which is what the probe checks.
//!
//! Clerk answers (its Frontend API spec, `getProxyHealth`): `200 {"status":"healthy",
//! "x_forwarded_for":".."}` with the `X-Forwarded-For` value it received; `{"status":"unhealthy",
//! "message":..}` (200 or 503) when the configuration is invalid; `400` with Clerk's errors for a
//! malformed request.

use super::classify::{chain, is_tls_error};
use super::forwarded::{Forwarded, classify};

/// The outcome of one proxy-health probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyHealth {
    /// Clerk answered healthy and saw this `X-Forwarded-For`.
    Healthy { forwarded_for: String },
    /// Clerk answered unhealthy: the proxy's configuration is invalid (Clerk's message).
    Unhealthy { status: u16, message: String },
    /// Clerk refused the request (400 and Clerk's errors): e.g. a header the proxy must add is
    /// missing.
    Rejected { status: u16, message: String },
    /// Something answered, not as Clerk does (the proxy's own error page, another route).
    WrongAnswer(String),
    /// The TLS handshake with the proxy failed.
    Certificate(String),
    /// No answer: lookup failure, connection refused, timeout.
    Unreachable(String),
}

/// At most this many characters of an unexpected answer go into the message.
const EXCERPT: usize = 200;

impl ProxyHealth {
    /// What Clerk saw in `X-Forwarded-For`, classified; `None` unless healthy.
    pub fn forwarded(&self) -> Option<Forwarded> {
        match self {
            ProxyHealth::Healthy { forwarded_for } => Some(classify(forwarded_for)),
            _ => None,
        }
    }

    /// The report for the condition message (stable while nothing changes: no times, no counts).
    pub fn message(&self, url: &str) -> String {
        match self {
            ProxyHealth::Healthy { forwarded_for } => {
                let mut m = format!("Clerk saw X-Forwarded-For {forwarded_for:?} through the proxy");
                if let Some(w) = warning(&classify(forwarded_for)) {
                    m = format!("{m}. Warning: {w}");
                }
                m
            }
            ProxyHealth::Unhealthy { status, message } => {
                format!("GET {url} answered {status} unhealthy: {message}")
            }
            ProxyHealth::Rejected { status, message } => {
                format!("GET {url}: Clerk refused the request ({status}): {message}")
            }
            ProxyHealth::WrongAnswer(a) => format!("GET {url} did not answer as Clerk does: {a}"),
            ProxyHealth::Certificate(e) => format!("TLS with {url} failed: {e}"),
            ProxyHealth::Unreachable(e) => format!("GET {url}: no answer: {e}"),
        }
    }
}

/// The warning about a forwarded value, `None` for a public address.
pub fn warning(f: &Forwarded) -> Option<String> {
    let tail = "Clerk uses the first X-Forwarded-For value as the end user's address for security \
                and rate limits: forward the original client address (with a CDN or load balancer \
                in front, the client address it passes on), not the proxy's peer";
    match f {
        Forwarded::Public(_) => None,
        Forwarded::Private(ip, kind) => Some(format!("{ip} is a {kind} address, not an end user's; {tail}")),
        Forwarded::Cdn(ip, cdn) => Some(format!(
            "{ip} is an edge address of {cdn} (a CDN), not an end user's; {tail}"
        )),
        Forwarded::NotAnAddress(v) => Some(format!("{v:?} is not an IP address; {tail}")),
    }
}

/// The URL probed for `proxy_url` and `domain_id`.
pub fn url(proxy_url: &str, domain_id: &str) -> Result<url::Url, url::ParseError> {
    let mut url = url::Url::parse(&format!("{}/v1/proxy-health", proxy_url.trim_end_matches('/')))?;
    url.query_pairs_mut().append_pair("domain_id", domain_id);
    Ok(url)
}

/// The healthy answer's body, and the unhealthy one's.
#[derive(serde::Deserialize)]
struct Body {
    status: String,
    #[serde(default)]
    x_forwarded_for: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Clerk's error body (`ClerkErrors`).
#[derive(serde::Deserialize)]
struct Errors {
    errors: Vec<ErrorItem>,
}

#[derive(serde::Deserialize)]
struct ErrorItem {
    #[serde(default)]
    message: String,
    #[serde(default)]
    long_message: Option<String>,
    #[serde(default)]
    code: String,
}

/// Read an answer as Clerk writes it.
pub(crate) fn answer(status: u16, body: &str) -> ProxyHealth {
    if let Ok(b) = serde_json::from_str::<Body>(body) {
        match (b.status.as_str(), status, b.x_forwarded_for) {
            ("healthy", 200, Some(forwarded_for)) => return ProxyHealth::Healthy { forwarded_for },
            ("unhealthy", 200 | 503, _) => {
                let message = b.message.filter(|m| !m.trim().is_empty());
                return ProxyHealth::Unhealthy {
                    status,
                    message: message.unwrap_or_else(|| "no message".into()),
                };
            }
            _ => {}
        }
    }
    if let Ok(e) = serde_json::from_str::<Errors>(body)
        && (400..500).contains(&status)
        && let Some(first) = e.errors.first()
    {
        let text = first.long_message.as_deref().unwrap_or(&first.message);
        return ProxyHealth::Rejected {
            status,
            message: format!("{} ({})", text, first.code),
        };
    }
    let excerpt: String = body.chars().take(EXCERPT).collect();
    ProxyHealth::WrongAnswer(format!("HTTP {status}: {:?}", excerpt.trim()))
}

impl super::Prober {
    /// Probe Clerk's proxy health of `domain_id` through `proxy_url`.
    pub async fn proxy_health(&self, proxy_url: &str, domain_id: &str) -> (String, ProxyHealth) {
        let url = match url(proxy_url, domain_id) {
            Ok(u) => u,
            Err(e) => {
                let shown = format!("{proxy_url}/v1/proxy-health");
                return (shown, ProxyHealth::Unreachable(format!("not a URL: {e}")));
            }
        };
        let shown = url.to_string();
        let health = match self.http.get(url).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                answer(status, &body)
            }
            Err(e) if is_tls_error(&e) => ProxyHealth::Certificate(chain(&e)),
            Err(e) => ProxyHealth::Unreachable(chain(&e)),
        };
        (shown, health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_clerks_spec_writes_them() {
        #[rustfmt::skip]
        let cases = [
            (200, r#"{"status":"healthy","x_forwarded_for":"203.0.113.7"}"#,
                ProxyHealth::Healthy { forwarded_for: "203.0.113.7".into() }),
            (200, r#"{"status":"unhealthy","message":"proxy URL mismatch"}"#,
                ProxyHealth::Unhealthy { status: 200, message: "proxy URL mismatch".into() }),
            (503, r#"{"status":"unhealthy","message":"invalid"}"#,
                ProxyHealth::Unhealthy { status: 503, message: "invalid".into() }),
            (400, r#"{"errors":[{"message":"missing","long_message":"domain_id is missing","code":"form_param_missing"}]}"#,
                ProxyHealth::Rejected { status: 400, message: "domain_id is missing (form_param_missing)".into() }),
            (200, r#"{"status":"healthy"}"#,
                ProxyHealth::WrongAnswer("HTTP 200: \"{\\\"status\\\":\\\"healthy\\\"}\"".into())),
            (404, "<html>nginx</html>", ProxyHealth::WrongAnswer("HTTP 404: \"<html>nginx</html>\"".into())),
        ];
        for (status, body, want) in cases {
            assert_eq!(answer(status, body), want, "{status} {body}");
        }
    }

    #[test]
    fn the_url_keeps_the_proxy_path_and_escapes_the_id() {
        let u = url("https://app.example.com/__clerk/", "dmn_1 x").unwrap();
        assert_eq!(
            u.as_str(),
            "https://app.example.com/__clerk/v1/proxy-health?domain_id=dmn_1+x"
        );
    }

    #[test]
    fn only_suspect_addresses_carry_a_warning() {
        let healthy = |x: &str| ProxyHealth::Healthy {
            forwarded_for: x.into(),
        };
        assert!(!healthy("203.0.113.7").message("u").contains("Warning"));
        let m = healthy("127.0.0.1").message("u");
        assert!(m.contains("Warning: 127.0.0.1 is a loopback address"), "{m}");
        let m = healthy("104.16.0.1").message("u");
        assert!(m.contains("edge address of Cloudflare"), "{m}");
    }
}
