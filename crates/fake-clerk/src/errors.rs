use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// A Clerk error response (`ClerkErrors` in the spec).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
    pub long_message: String,
    pub param: Option<&'static str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: &'static str,
        long: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message,
            long_message: long.into(),
            param: None,
        }
    }

    pub fn param(mut self, name: &'static str) -> Self {
        self.param = Some(name);
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_invalid",
            "Unauthorized request",
            "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            "not found",
            "Resource not found",
        )
    }

    pub fn invalid(code: &'static str, param: &'static str, long: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, "is invalid", long).param(param)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let trace = format!("fake-{:016x}", rand::random::<u64>());
        let meta = match self.param {
            Some(p) => json!({"param_name": p}),
            None => json!({}),
        };
        let body = json!({
            "errors": [{
                "message": self.message,
                "long_message": self.long_message,
                "code": self.code,
                "meta": meta,
            }],
            "meta": {},
            "clerk_trace_id": trace,
        });
        let mut resp = (self.status, Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&trace) {
            resp.headers_mut().insert("clerk-trace-id", v);
        }
        resp
    }
}
