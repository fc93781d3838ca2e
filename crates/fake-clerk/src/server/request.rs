//! What every Clerk endpoint of the fake does with a request: authenticate it against an
//! instance, parse its JSON body, and count it.

use crate::errors::ApiError;
use crate::state::SharedState;
use axum::{
    Json,
    body::Bytes,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

pub(super) type Result<T> = std::result::Result<T, ApiError>;

/// Run `f` against the caller's instance and count the request.
pub(super) fn with_instance<T: serde::Serialize>(
    state: &SharedState,
    headers: &HeaderMap,
    operation: &str,
    f: impl FnOnce(&mut crate::InstanceState) -> Result<T>,
) -> Response {
    let mut s = state.lock().unwrap();
    let result = match bearer(headers).and_then(|k| s.instance_mut(k)) {
        None => Err(ApiError::unauthorized()),
        Some(inst) => f(inst),
    };
    let resp = match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    };
    s.record(operation, resp.status().as_u16());
    resp
}

pub(super) fn parse_object(body: &Bytes) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "malformed request",
            "The request body could not be parsed as a JSON object.",
        )),
    }
}

pub(super) fn string_field(m: &Map<String, Value>, name: &'static str) -> Result<Option<Option<String>>> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::invalid(
            "form_param_type_invalid",
            name,
            format!("{name} must be a string"),
        )),
    }
}

/// The secret key a request authenticates with.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}
