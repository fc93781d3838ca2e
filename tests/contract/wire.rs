//! Raw HTTP, shaped like the client's requests.

use super::*;

/// A request as the client sends it: bearer key, `Clerk-API-Version`, JSON in and out.
pub(crate) struct Wire {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) api_version: String,
}

pub(crate) struct WireResp {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    /// Prism's `sl-violations` header, parsed.
    pub(crate) violations: Vec<Value>,
    pub(crate) body: Value,
}

impl Wire {
    pub(crate) fn new(base: &str, api_version: &str) -> Wire {
        clerk_operator::install_crypto_provider();
        Wire {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_string(),
            api_version: api_version.to_string(),
        }
    }

    pub(crate) async fn send(&self, method: Method, path: &str, key: &str, body: Option<&Value>) -> WireResp {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("Clerk-API-Version", &self.api_version)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let violations = match header("sl-violations") {
            None => vec![],
            Some(v) => match serde_json::from_str(&v) {
                Ok(Value::Array(a)) => a,
                _ => vec![json!({ "severity": "Error", "message": v })],
            },
        };
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        WireResp {
            status,
            content_type,
            violations,
            body,
        }
    }
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

pub(crate) fn first_code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}
