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

/// What the spec says of one answer's body: the schema checked and each problem found.
pub(crate) struct BodyCheck {
    /// The schema the spec documents for the status, or `ClerkErrors` when it documents none.
    pub(crate) schema: String,
    pub(crate) documented: bool,
    /// The body against `schema`, and its first error code against the one wanted.
    pub(crate) problems: Vec<String>,
}

/// Check `r`'s body as a `status` answer to `method spec_path`, with error code `code` if given.
pub(crate) fn body_against_spec(
    spec: &Spec,
    method: &str,
    spec_path: &str,
    r: &WireResp,
    status: u16,
    code: Option<&str>,
) -> BodyCheck {
    let documented = spec.response_schema_name(spec_path, method, status);
    let schema = documented.clone().unwrap_or_else(|| "ClerkErrors".into());
    let mut problems: Vec<String> = violations(&spec.validator(&schema), &r.body)
        .into_iter()
        .map(|v| format!("body is not a valid {schema}: {v}"))
        .collect();
    if let Some(code) = code
        && first_code(&r.body) != code
    {
        problems.push(format!("error code {:?}, want {code:?}", first_code(&r.body)));
    }
    BodyCheck {
        schema,
        documented: documented.is_some(),
        problems,
    }
}
