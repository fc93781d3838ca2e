//! Clerk's Platform API domain readiness endpoints (`platform-beta.yml`):
//! `GET /v1/platform/applications/{app}/domains/{id}/status` and `POST …/dns_check`, with a
//! Platform API access token as the bearer.

use super::request::{Result, bearer};
use crate::errors::ApiError;
use crate::platform::{check_refused, domain_status};
use crate::state::{InstanceState, SharedState, State};
use axum::{
    Json,
    extract::{Path, State as AxState},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use clerk_model::platform::{DnsCheck, DomainStatus};

/// A handler of `…/domains/{domain}/…` that authenticates the Platform token, finds the
/// application's domain, runs `f` with the state, the instance's key, the domain's ID and the
/// time, and counts the request as `operation`.
pub(super) fn on_domain<T: serde::Serialize + 'static>(
    operation: &'static str,
    f: fn(&mut State, String, &str, i64) -> Result<T>,
) -> impl Fn(AxState<SharedState>, Path<(String, String)>, HeaderMap) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |AxState(state), Path((app, domain)), headers| {
        let now = now_ms();
        std::future::ready(with_domain(
            &state,
            &headers,
            &app,
            &domain,
            operation,
            |s, key, id| f(s, key, id, now),
        ))
    }
}

/// `GET …/domains/{id}/status` (operation `PlatformGetApplicationDomainStatus`).
pub(super) fn get_status(s: &mut State, key: String, id: &str, now: i64) -> Result<DomainStatus> {
    let inst = s.instance(&key).ok_or_else(ApiError::not_found)?;
    Ok(status_of(inst, id, &s.platform_rule, now))
}

/// `POST …/domains/{id}/dns_check` (operation `PlatformTriggerDNSCheck`): start a check, or 409
/// while one runs or ran recently.
pub(super) fn dns_check(s: &mut State, key: String, id: &str, now: i64) -> Result<DnsCheck> {
    let rule = s.platform_rule;
    let inst = s.instance_mut(&key).ok_or_else(ApiError::not_found)?;
    if check_refused(inst.dns_checks.get(id).copied(), &rule, now) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a DNS check is already running or ran recently",
            "A DNS check for this domain is in progress or was performed recently; try again later.",
        ));
    }
    inst.dns_checks.insert(id.to_string(), now);
    Ok(DnsCheck {
        status: status_of(inst, id, &rule, now),
        domain_id: id.to_string(),
        last_run_at: Some(now),
    })
}

fn status_of(inst: &InstanceState, id: &str, rule: &crate::PlatformRule, now: i64) -> DomainStatus {
    let d = inst.domains.iter().find(|d| d.id == id);
    d.map(|d| {
        domain_status(
            d,
            inst.dns_checks.get(id).copied(),
            inst.proxy_checks.get(id),
            rule,
            now,
        )
    })
    .unwrap_or_default()
}

/// Authenticate the Platform token, find the application's domain by ID or name, run `f` with
/// the instance's key and the domain's ID, and count the request.
fn with_domain<T: serde::Serialize>(
    state: &SharedState,
    headers: &HeaderMap,
    app: &str,
    domain: &str,
    operation: &str,
    f: impl FnOnce(&mut State, String, &str) -> Result<T>,
) -> Response {
    let mut s = state.lock().unwrap();
    let result = match bearer(headers).filter(|t| s.platform_tokens.contains(*t)) {
        None => Err(unauthorized()),
        Some(_) => match find(&s, app, domain) {
            None => Err(ApiError::not_found()),
            Some((key, id)) => f(&mut s, key, &id),
        },
    };
    let resp = match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    };
    s.record(operation, resp.status().as_u16());
    resp
}

/// The key of the application's instance and the ID of its domain `domain` (an ID or a name).
fn find(s: &State, app: &str, domain: &str) -> Option<(String, String)> {
    s.instances.iter().find_map(|(key, inst)| {
        let d = inst
            .domains
            .iter()
            .filter(|_| inst.application_id == app)
            .find(|d| d.id == domain || d.name == domain)?;
        Some((key.clone(), d.id.clone()))
    })
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "authentication_invalid",
        "Unauthorized request",
        "The provided Platform API access token is invalid.",
    )
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests;
