//! `GET /v1/proxy-health?domain_id=<id>` as Clerk's Frontend API answers it (its spec,
//! `getProxyHealth`), for requests a proxy forwards: it reads the domain from the embedded fake
//! Clerk's state and checks the headers Clerk's proxy guide tells proxies to add.
//!
//! - `domain_id` missing, or no domain of the key's instance: 400 with Clerk's errors
//!   (`form_param_missing`, `resource_not_found`); a required header missing (`Clerk-Proxy-Url`,
//!   `Clerk-Secret-Key`, `X-Forwarded-For`): 400 `form_param_missing` naming it. The spec gives
//!   the shape (`ClerkErrors`), not the codes: these are Clerk's codes for a missing parameter
//!   and an unknown resource.
//! - `Clerk-Secret-Key` not a key of any instance, or `Clerk-Proxy-Url` not the domain's proxy
//!   URL: 503 `{"status":"unhealthy","message":..}` (the configuration is invalid).
//! - Otherwise 200 `{"status":"healthy","x_forwarded_for":<the X-Forwarded-For received>}`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fake_clerk::SharedState;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Clerk's error body with one error.
fn clerk_error(code: &str, long: &str, param: Option<&str>) -> Response {
    let meta = param.map_or_else(|| json!({}), |p| json!({"param_name": p}));
    let body = json!({
        "errors": [{"message": long, "long_message": long, "code": code, "meta": meta}],
        "meta": {},
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn unhealthy(message: &str) -> Response {
    let body = json!({"status": "unhealthy", "message": message});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

pub(super) async fn answer(
    State(clerk): State<Arc<OnceLock<SharedState>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(clerk) = clerk.get() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"errors": [{"code": "resource_not_found"}]})),
        )
            .into_response();
    };
    let Some(domain_id) = query.get("domain_id").filter(|d| !d.is_empty()) else {
        return clerk_error("form_param_missing", "domain_id is missing", Some("domain_id"));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let mut values = vec![];
    for name in ["Clerk-Proxy-Url", "Clerk-Secret-Key", "X-Forwarded-For"] {
        match header(name).filter(|v| !v.is_empty()) {
            Some(v) => values.push(v.to_string()),
            None => return clerk_error("form_param_missing", &format!("{name} is missing"), Some(name)),
        }
    }
    let [proxy_url, secret_key, forwarded_for] = [&values[0], &values[1], &values[2]];
    let state = clerk.lock().unwrap();
    let Some(instance) = state.instance(secret_key) else {
        return unhealthy("the Clerk-Secret-Key header is not a valid secret key");
    };
    let Some(domain) = instance.domains.iter().find(|d| &d.id == domain_id) else {
        return clerk_error(
            "resource_not_found",
            "no domain with this domain_id",
            Some("domain_id"),
        );
    };
    let want = domain.proxy_url.as_deref().unwrap_or_default();
    if want.trim_end_matches('/') != proxy_url.trim_end_matches('/') {
        return unhealthy(&format!(
            "the Clerk-Proxy-Url header {proxy_url:?} is not the domain's proxy URL"
        ));
    }
    Json(json!({"status": "healthy", "x_forwarded_for": forwarded_for})).into_response()
}
