//! Fault injection: errors, latency, dropped connections and Clerk's rate limits, configurable
//! at start and at run time (`GET`/`PUT /__fake/faults`).

use super::errors::ApiError;
use super::fault_settings::{ScriptedFault, Window};
use super::state::SharedState;
use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use clerk_model::InstanceKind;
use rand::RngExt;
use std::time::{Duration, Instant};

enum Decision {
    RateLimited(u64),
    Error(u16),
    Drop,
    Proceed {
        latency: Duration,
        drop_after: bool,
        stale: bool,
    },
}

/// Marks a `ListDomains` request to be answered without the instance's newest domain
/// ([`ScriptedFault::StaleList`]).
#[derive(Clone, Copy, Debug)]
pub struct StaleList;

/// The Clerk operation a request is, for counters.
pub fn operation(method: &Method, path: &str) -> &'static str {
    let rest = path.strip_prefix("/v1/").unwrap_or(path);
    match (method.as_str(), rest.split('/').collect::<Vec<_>>().as_slice()) {
        ("GET", ["domains"]) => "ListDomains",
        ("POST", ["domains"]) => "AddDomain",
        ("PATCH", ["domains", _]) => "UpdateDomain",
        ("DELETE", ["domains", _]) => "DeleteDomain",
        ("GET", ["instance"]) => "GetInstance",
        ("POST", ["proxy_checks"]) => "VerifyDomainProxy",
        ("GET", ["platform", "applications", _, "domains", _, "status"]) => "GetDomainStatus",
        ("POST", ["platform", "applications", _, "domains", _, "dns_check"]) => "TriggerDNSCheck",
        _ => "Other",
    }
}

/// Middleware applying [`Faults`] to the `/v1` routes.
pub async fn layer(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let op = operation(req.method(), req.uri().path());
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| k.trim().to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    state.lock().unwrap().log_request(
        super::RequestRecord {
            at: jiff::Timestamp::now(),
            method: req.method().to_string(),
            operation: op.to_string(),
            user_agent,
            instance: None,
        },
        key.as_deref(),
    );
    let decision = decide(&state, op, key.as_deref());
    match decision {
        Decision::RateLimited(after) => {
            state.lock().unwrap().record(op, 429);
            too_many_requests(after)
        }
        Decision::Error(status) => {
            state.lock().unwrap().record(op, status);
            injected_error(status, state.lock().unwrap().faults.retry_after_secs.unwrap_or(1))
        }
        Decision::Drop => dropped(),
        Decision::Proceed {
            latency,
            drop_after,
            stale,
        } => {
            if stale {
                req.extensions_mut().insert(StaleList);
            }
            let resp = next.run(req).await;
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if drop_after { dropped() } else { resp }
        }
    }
}

fn decide(state: &SharedState, op: &str, key: Option<&str>) -> Decision {
    let mut s = state.lock().unwrap();
    if let Some(d) = scripted(&mut s, op, key) {
        return d;
    }
    if let Some(d) = rate_limited(&mut s, key) {
        return d;
    }
    random(&mut s)
}

/// The first scripted fault for this operation (and key), taken.
fn scripted(s: &mut super::State, op: &str, key: Option<&str>) -> Option<Decision> {
    let i = s
        .faults
        .scripted
        .iter()
        .position(|x| x.operation == op && x.key.as_deref().is_none_or(|k| Some(k) == key))?;
    let scripted = s.faults.scripted.remove(i);
    Some(match scripted.fault {
        ScriptedFault::Status(status) => {
            *s.fault_stats.injected.entry(status).or_default() += 1;
            Decision::Error(status)
        }
        ScriptedFault::Drop => {
            s.fault_stats.dropped += 1;
            Decision::Drop
        }
        ScriptedFault::DropAfterCommit => {
            s.fault_stats.dropped_after_commit += 1;
            Decision::Proceed {
                latency: Duration::ZERO,
                drop_after: true,
                stale: false,
            }
        }
        ScriptedFault::StaleList => Decision::Proceed {
            latency: Duration::ZERO,
            drop_after: false,
            stale: true,
        },
    })
}

/// Clerk's rate limit (when on): every key of an instance shares its instance's window.
fn rate_limited(s: &mut super::State, key: Option<&str>) -> Option<Decision> {
    let key = key.and_then(|k| s.canonical(k)).map(str::to_string)?;
    let kind = s.instances.get(&key).map(|i| i.kind)?;
    if !s.faults.rate_limit {
        return None;
    }
    let limit = s.faults.rate_limit_requests.unwrap_or(match kind {
        InstanceKind::Development => 100,
        InstanceKind::Production => 1000,
    });
    let window = Duration::from_secs(s.faults.rate_limit_window_secs.unwrap_or(10).max(1));
    let now = Instant::now();
    let w = s.windows.entry(key).or_insert(Window { start: now, count: 0 });
    if now.duration_since(w.start) >= window {
        *w = Window { start: now, count: 0 };
    }
    if w.count >= limit {
        let left = window.saturating_sub(now.duration_since(w.start));
        s.fault_stats.rate_limited += 1;
        return Some(Decision::RateLimited(left.as_secs_f64().ceil().max(1.0) as u64));
    }
    w.count += 1;
    None
}

/// Errors, drops and latency by their configured probabilities.
fn random(s: &mut super::State) -> Decision {
    let f = &s.faults;
    let mut rng = rand::rng();
    let mut roll: f64 = rng.random();
    for (status, p) in &f.error_rates {
        if roll < *p {
            *s.fault_stats.injected.entry(*status).or_default() += 1;
            return Decision::Error(*status);
        }
        roll -= p;
    }
    if rng.random::<f64>() < f.drop_rate {
        s.fault_stats.dropped += 1;
        return Decision::Drop;
    }
    let drop_after = rng.random::<f64>() < f.drop_after_commit_rate;
    let (lo, hi) = (f.latency_min_ms.min(f.latency_ms), f.latency_ms);
    let latency = if hi == 0 { 0 } else { rng.random_range(lo..=hi) };
    if drop_after {
        s.fault_stats.dropped_after_commit += 1;
    }
    Decision::Proceed {
        latency: Duration::from_millis(latency),
        drop_after,
        stale: false,
    }
}

fn too_many_requests(after: u64) -> Response {
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "Too many requests",
        "Too many requests, please try again later.",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(after));
    resp
}

fn injected_error(status: u16, retry_after: u64) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match status {
        // Clerk's edge answers gateway errors with HTML, not Clerk's JSON.
        502 => (
            code,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        429 => return too_many_requests(retry_after),
        _ => ApiError::new(
            code,
            "internal_clerk_error",
            "Oops, something went wrong",
            "Something went wrong on our side. Please try again.",
        )
        .into_response(),
    };
    if status == 503 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    resp
}

/// A response whose body fails mid-stream: the client sees the connection reset.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("fault: connection dropped"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_by_route() {
        assert_eq!(operation(&Method::GET, "/v1/domains"), "ListDomains");
        assert_eq!(operation(&Method::POST, "/v1/domains"), "AddDomain");
        assert_eq!(operation(&Method::PATCH, "/v1/domains/dmn_1"), "UpdateDomain");
        assert_eq!(operation(&Method::DELETE, "/v1/domains/dmn_1"), "DeleteDomain");
        assert_eq!(operation(&Method::GET, "/v1/instance"), "GetInstance");
        assert_eq!(operation(&Method::POST, "/v1/proxy_checks"), "VerifyDomainProxy");
        assert_eq!(operation(&Method::GET, "/v1/users"), "Other");
        assert_eq!(
            operation(
                &Method::GET,
                "/v1/platform/applications/app_1/domains/dmn_1/status"
            ),
            "GetDomainStatus"
        );
        assert_eq!(
            operation(
                &Method::POST,
                "/v1/platform/applications/app_1/domains/dmn_1/dns_check"
            ),
            "TriggerDNSCheck"
        );
    }
}
