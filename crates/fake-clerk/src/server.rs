use super::errors::ApiError;
use super::names::{valid_domain_name, valid_proxy_url};
use super::state::{ProxyCheckRule, SharedState, State, Stats, describe, make_domain};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State as AxState},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clerk_model::{DeletedObject, Domain, DomainList, Instance, InstanceKind, ProxyCheck};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// How to start a fake.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// One Clerk instance per key. `sk_live_...` keys are production instances.
    pub secret_keys: Vec<String>,
    /// Name of each instance's primary domain.
    pub primary_domain: String,
    /// Faults to inject from the start.
    pub faults: super::Faults,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            secret_keys: vec!["sk_test_fake".into()],
            primary_domain: "example.com".into(),
            faults: Default::default(),
        }
    }
}

/// A running fake Clerk. Dropping it stops the server.
pub struct FakeClerk {
    addr: SocketAddr,
    state: SharedState,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeClerk {
    /// Bind and serve on the current tokio runtime.
    pub async fn start(config: FakeConfig) -> std::io::Result<Self> {
        let mut initial = State::new(&config.secret_keys, &config.primary_domain);
        initial.faults = config.faults.clone();
        let state = Arc::new(Mutex::new(initial));
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            state,
            _shutdown: tx,
        })
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL to give a Clerk client.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for tests that inspect or change it.
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// The domains of the instance that `key` belongs to.
    pub fn domains(&self, key: &str) -> Vec<Domain> {
        let s = self.state.lock().unwrap();
        s.instances
            .get(key)
            .map(|i| i.domains.clone())
            .unwrap_or_default()
    }

    /// Add a domain behind the operator's back (as the Clerk dashboard would).
    pub fn insert_domain(&self, key: &str, name: &str, proxy_url: Option<&str>) -> Domain {
        let mut s = self.state.lock().unwrap();
        let inst = s.instances.get_mut(key).expect("known key");
        let d = make_domain(inst, name, true, proxy_url.map(str::to_string));
        inst.domains.push(d.clone());
        d
    }

    /// Change a domain behind the operator's back (as the Clerk dashboard would). True when it
    /// existed.
    pub fn modify_domain(&self, key: &str, id: &str, change: impl FnOnce(&mut Domain)) -> bool {
        let mut s = self.state.lock().unwrap();
        let inst = s.instances.get_mut(key).expect("known key");
        let Some(idx) = inst.domains.iter().position(|d| d.id == id) else {
            return false;
        };
        let mut d = inst.domains[idx].clone();
        change(&mut d);
        describe(inst, &mut d);
        inst.domains[idx] = d;
        true
    }

    /// Delete a domain behind the operator's back. True when it existed.
    pub fn remove_domain(&self, key: &str, id: &str) -> bool {
        let mut s = self.state.lock().unwrap();
        let inst = s.instances.get_mut(key).expect("known key");
        let before = inst.domains.len();
        inst.domains.retain(|d| d.id != id);
        before != inst.domains.len()
    }

    /// Replace the faults being injected.
    pub fn set_faults(&self, faults: super::Faults) {
        self.state.lock().unwrap().faults = faults;
    }

    /// What has been injected so far.
    pub fn fault_stats(&self) -> super::FaultStats {
        self.state.lock().unwrap().fault_stats.clone()
    }

    /// Requests served so far.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    /// Every API request received (the latest [`REQUEST_LOG_LIMIT`](super::REQUEST_LOG_LIMIT)),
    /// in order of arrival, with its time and `User-Agent`.
    pub fn requests(&self) -> Vec<super::RequestRecord> {
        self.state.lock().unwrap().requests.iter().cloned().collect()
    }

    /// Decide how `POST /proxy_checks` sets `successful` from now on.
    pub fn set_proxy_check_rule(&self, rule: ProxyCheckRule) {
        self.state.lock().unwrap().proxy_check_rule = rule;
    }

    /// The latest proxy check of a domain, if one ran.
    pub fn proxy_check(&self, key: &str, domain_id: &str) -> Option<ProxyCheck> {
        let s = self.state.lock().unwrap();
        s.instances.get(key)?.proxy_checks.get(domain_id).cloned()
    }
}

/// The fake's routes: Clerk's API under `/v1` and test controls under `/__fake`.
pub fn router(state: SharedState) -> Router {
    let api = Router::new()
        .route("/v1/domains", get(list_domains).post(add_domain))
        .route(
            "/v1/domains/{id}",
            axum::routing::patch(update_domain).delete(delete_domain),
        )
        .route("/v1/instance", get(get_instance))
        .route("/v1/proxy_checks", post(proxy_check))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::faults::layer,
        ));
    Router::new()
        .merge(api)
        .route("/__fake/stats", get(stats).delete(reset_stats))
        .route("/__fake/requests", get(requests))
        .route("/__fake/faults", get(get_faults).put(put_faults))
        .route(
            "/__fake/proxy-check-rule",
            get(get_proxy_check_rule).put(put_proxy_check_rule),
        )
        .route("/__fake/healthz", get(|| async { "ok" }))
        .with_state(state)
}

type Result<T> = std::result::Result<T, ApiError>;

/// Run `f` against the caller's instance and count the request.
fn with_instance<T: serde::Serialize>(
    state: &SharedState,
    headers: &HeaderMap,
    operation: &str,
    f: impl FnOnce(&mut super::InstanceState) -> Result<T>,
) -> Response {
    let mut s = state.lock().unwrap();
    let result = match bearer(headers).and_then(|k| s.instances.get_mut(k)) {
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

/// The secret key a request authenticates with.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn list_domains(AxState(state): AxState<SharedState>, headers: HeaderMap) -> Response {
    with_instance(&state, &headers, "ListDomains", |inst| {
        Ok(DomainList {
            total_count: inst.domains.len() as i64,
            data: inst.domains.clone(),
        })
    })
}

async fn get_instance(AxState(state): AxState<SharedState>, headers: HeaderMap) -> Response {
    with_instance(&state, &headers, "GetInstance", |inst| {
        Ok(Instance {
            object: "instance".into(),
            id: inst.id.clone(),
            environment_type: match inst.kind {
                InstanceKind::Development => "development".into(),
                InstanceKind::Production => "production".into(),
            },
            allowed_origins: None,
            workspace_id: None,
        })
    })
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>> {
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

fn string_field(m: &Map<String, Value>, name: &'static str) -> Result<Option<Option<String>>> {
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

fn check_name(kind: InstanceKind, name: &str) -> Result<()> {
    valid_domain_name(name, kind == InstanceKind::Development)
        .map_err(|msg| ApiError::invalid("form_param_format_invalid", "name", msg))
}

fn check_proxy(kind: InstanceKind, proxy: &str) -> Result<()> {
    if kind == InstanceKind::Development {
        return Err(ApiError::invalid(
            "form_param_value_invalid",
            "proxy_url",
            "proxy_url can only be set for production instances",
        ));
    }
    valid_proxy_url(proxy).map_err(|msg| ApiError::invalid("form_param_format_invalid", "proxy_url", msg))
}

fn name_taken(inst: &super::InstanceState, name: &str, except: Option<&str>) -> Result<()> {
    if inst
        .domains
        .iter()
        .any(|d| d.name == name && Some(d.id.as_str()) != except)
    {
        return Err(ApiError::invalid(
            "form_identifier_exists",
            "name",
            format!("A domain named {name} already exists for this instance."),
        ));
    }
    Ok(())
}

async fn add_domain(AxState(state): AxState<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    with_instance(&state, &headers, "AddDomain", |inst| {
        let m = parse_object(&body)?;
        let name = match string_field(&m, "name")? {
            Some(Some(n)) => n,
            _ => {
                return Err(ApiError::invalid(
                    "form_param_missing",
                    "name",
                    "name is required",
                ));
            }
        };
        match m.get("is_satellite") {
            Some(Value::Bool(true)) => {}
            None => {
                return Err(ApiError::invalid(
                    "form_param_missing",
                    "is_satellite",
                    "is_satellite is required",
                ));
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "form_param_value_invalid",
                    "is_satellite",
                    "Only satellite domains can be added: is_satellite must be true",
                ));
            }
        }
        let proxy = string_field(&m, "proxy_url")?.flatten().filter(|p| !p.is_empty());
        check_name(inst.kind, &name)?;
        if let Some(p) = &proxy {
            check_proxy(inst.kind, p)?;
        }
        name_taken(inst, &name, None)?;
        let d = make_domain(inst, &name, true, proxy);
        inst.domains.push(d.clone());
        inst.journal.push((
            jiff::Timestamp::now(),
            format!("created {} {} proxy={:?}", d.id, d.name, d.proxy_url),
        ));
        Ok(d)
    })
}

async fn update_domain(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_instance(&state, &headers, "UpdateDomain", |inst| {
        let m = parse_object(&body)?;
        if let Some(unknown) = m
            .keys()
            .find(|k| !["name", "proxy_url", "is_secondary"].contains(&k.as_str()))
        {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_param_unknown",
                "is unknown",
                format!("{unknown} is not a valid parameter for this request."),
            ));
        }
        let name = string_field(&m, "name")?.flatten();
        let proxy = string_field(&m, "proxy_url")?;
        let secondary = match m.get("is_secondary") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ApiError::invalid(
                    "form_param_type_invalid",
                    "is_secondary",
                    "is_secondary must be a boolean",
                ));
            }
        };
        let kind = inst.kind;
        let Some(idx) = inst.domains.iter().position(|d| d.id == id) else {
            return Err(ApiError::not_found());
        };
        if let Some(n) = &name {
            check_name(kind, n)?;
            name_taken(inst, n, Some(&id))?;
        }
        if let Some(Some(p)) = &proxy
            && !p.is_empty()
        {
            check_proxy(kind, p)?;
        }
        let mut d = inst.domains[idx].clone();
        if let Some(n) = name {
            d.name = n;
        }
        if let Some(p) = proxy {
            d.proxy_url = p.filter(|p| !p.is_empty());
        }
        if let Some(s) = secondary {
            inst.secondary.insert(d.id.clone(), s);
        }
        describe(inst, &mut d);
        inst.domains[idx] = d.clone();
        inst.journal.push((
            jiff::Timestamp::now(),
            format!("updated {} {} proxy={:?}", d.id, d.name, d.proxy_url),
        ));
        Ok(d)
    })
}

async fn delete_domain(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_instance(&state, &headers, "DeleteDomain", |inst| {
        let Some(idx) = inst.domains.iter().position(|d| d.id == id) else {
            return Err(ApiError::not_found());
        };
        if !inst.domains[idx].is_satellite {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "operation_not_allowed",
                "operation not allowed",
                "The primary domain of an instance cannot be deleted.",
            ));
        }
        let d = inst.domains.remove(idx);
        inst.secondary.remove(&d.id);
        inst.journal
            .push((jiff::Timestamp::now(), format!("deleted {} {}", d.id, d.name)));
        Ok(DeletedObject {
            object: "domain".into(),
            id: Some(d.id),
            deleted: true,
        })
    })
}

const VERIFY_PROXY: &str = "VerifyDomainProxy";

/// `POST /proxy_checks`. Validation happens under the lock; the probe (if the rule asks for one)
/// runs without it; the result is then stored as the domain's latest check.
async fn proxy_check(AxState(state): AxState<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    let prepared = {
        let s = state.lock().unwrap();
        let rule = s.proxy_check_rule;
        match bearer(&headers).and_then(|k| s.instances.get(k)) {
            None => Err(ApiError::unauthorized()),
            Some(inst) => validate_proxy_check(inst, &body).map(|(d, u)| (d, u, rule)),
        }
    };
    let (domain_id, proxy_url, rule) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let resp = e.into_response();
            state.lock().unwrap().record(VERIFY_PROXY, resp.status().as_u16());
            return resp;
        }
    };
    let successful = match rule {
        ProxyCheckRule::AlwaysSucceed => true,
        ProxyCheckRule::AlwaysFail => false,
        ProxyCheckRule::Probe => probe(&proxy_url).await,
    };
    with_instance(&state, &headers, VERIFY_PROXY, |inst| {
        if !inst.domains.iter().any(|d| d.id == domain_id) {
            return Err(unknown_domain(&domain_id));
        }
        let now = jiff::Timestamp::now().as_millisecond();
        let check = match inst.proxy_checks.remove(&domain_id) {
            Some(old) => ProxyCheck {
                last_run_at: Some(now),
                proxy_url,
                successful,
                updated_at: now,
                ..old
            },
            None => ProxyCheck {
                object: "proxy_check".into(),
                id: super::names::new_id("prxc"),
                domain_id: domain_id.clone(),
                last_run_at: Some(now),
                proxy_url,
                successful,
                created_at: now,
                updated_at: now,
            },
        };
        inst.proxy_checks.insert(domain_id, check.clone());
        Ok(check)
    })
}

/// Check a proxy check request as Clerk would: both fields present, a production instance, an
/// https URL (plain http is let through for loopback hosts only, so tests can run a local
/// proxy; real Clerk would refuse it) and a domain of this instance.
fn validate_proxy_check(inst: &super::InstanceState, body: &Bytes) -> Result<(String, String)> {
    let m = parse_object(body)?;
    let domain_id = match string_field(&m, "domain_id")?.flatten() {
        Some(d) if !d.is_empty() => d,
        _ => {
            return Err(ApiError::invalid(
                "form_param_missing",
                "domain_id",
                "domain_id is required",
            ));
        }
    };
    let proxy_url = match string_field(&m, "proxy_url")?.flatten() {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(ApiError::invalid(
                "form_param_missing",
                "proxy_url",
                "proxy_url is required",
            ));
        }
    };
    if inst.kind == InstanceKind::Development {
        return Err(ApiError::invalid(
            "form_param_value_invalid",
            "proxy_url",
            "proxy checks are only available for production instances",
        ));
    }
    if !loopback_http(&proxy_url) {
        valid_proxy_url(&proxy_url)
            .map_err(|msg| ApiError::invalid("form_param_format_invalid", "proxy_url", msg))?;
    }
    if !inst.domains.iter().any(|d| d.id == domain_id) {
        return Err(unknown_domain(&domain_id));
    }
    Ok((domain_id, proxy_url))
}

/// The spec lists only 400 and 422 for this endpoint, so an unknown domain is a 422.
fn unknown_domain(id: &str) -> ApiError {
    ApiError::invalid(
        "resource_not_found",
        "domain_id",
        format!("No domain with ID {id} was found for this instance."),
    )
}

fn loopback_http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            }
    })
}

/// GET `url` with a short timeout, accepting any certificate: true when it answers below 500.
async fn probe(url: &str) -> bool {
    crate::install_crypto_provider();
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .connect_timeout(std::time::Duration::from_secs(2))
        .tls_danger_accept_invalid_certs(true)
        .build()
    {
        Ok(c) => c,
        Err(_) => return false,
    };
    match client.get(url).send().await {
        Ok(resp) => resp.status().as_u16() < 500,
        Err(_) => false,
    }
}

async fn get_proxy_check_rule(AxState(state): AxState<SharedState>) -> Json<ProxyCheckRule> {
    Json(state.lock().unwrap().proxy_check_rule)
}

async fn put_proxy_check_rule(
    AxState(state): AxState<SharedState>,
    Json(rule): Json<ProxyCheckRule>,
) -> StatusCode {
    state.lock().unwrap().proxy_check_rule = rule;
    StatusCode::NO_CONTENT
}

async fn stats(AxState(state): AxState<SharedState>) -> Json<Value> {
    let s = state.lock().unwrap();
    let instances: Vec<Value> = s
        .instances
        .values()
        .map(|i| json!({"id": i.id, "domains": i.domains.len()}))
        .collect();
    Json(json!({
        "requests": s.stats.requests,
        "total": s.stats.total,
        "faults": s.fault_stats,
        "instances": instances,
    }))
}

async fn requests(AxState(state): AxState<SharedState>) -> Json<Vec<super::RequestRecord>> {
    Json(state.lock().unwrap().requests.iter().cloned().collect())
}

async fn reset_stats(AxState(state): AxState<SharedState>) -> StatusCode {
    let mut s = state.lock().unwrap();
    s.stats = Stats::default();
    s.requests.clear();
    s.fault_stats = Default::default();
    StatusCode::NO_CONTENT
}

async fn get_faults(AxState(state): AxState<SharedState>) -> Json<super::Faults> {
    Json(state.lock().unwrap().faults.clone())
}

async fn put_faults(AxState(state): AxState<SharedState>, Json(faults): Json<super::Faults>) -> StatusCode {
    state.lock().unwrap().faults = faults;
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests;
