use super::state::{ProxyCheckRule, SharedState, State, Stats, describe, make_domain};
use axum::{
    Json, Router,
    extract::State as AxState,
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use clerk_model::{Domain, DomainList, Instance, InstanceKind, ProxyCheck};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

mod domains;
mod platform;
mod proxy_check;
mod request;

use domains::{add_domain, delete_domain, update_domain};
use proxy_check::proxy_check;
use request::with_instance;

/// How to start a fake.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// One Clerk instance per key. `sk_live_...` keys are production instances.
    pub secret_keys: Vec<String>,
    /// More keys of those instances: (new key, a key from `secret_keys`).
    pub extra_keys: Vec<(String, String)>,
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
            extra_keys: vec![],
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
        for (key, existing) in &config.extra_keys {
            if !initial.add_key(key, existing) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "an extra key names an unknown key or reuses a known one",
                ));
            }
        }
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
        s.instance(key).map(|i| i.domains.clone()).unwrap_or_default()
    }

    /// Give the instance of `existing` another secret key (as a second key made in Clerk's
    /// dashboard). False when `existing` is unknown or `key` is taken.
    pub fn add_key(&self, key: &str, existing: &str) -> bool {
        self.state.lock().unwrap().add_key(key, existing)
    }

    /// Revoke a key given with [`add_key`](Self::add_key). False when it is not such a key.
    pub fn revoke_key(&self, key: &str) -> bool {
        self.state.lock().unwrap().revoke_key(key)
    }

    /// Add a domain behind the operator's back (as the Clerk dashboard would).
    pub fn insert_domain(&self, key: &str, name: &str, proxy_url: Option<&str>) -> Domain {
        let mut s = self.state.lock().unwrap();
        let inst = s.instance_mut(key).expect("known key");
        let d = make_domain(inst, name, true, proxy_url.map(str::to_string));
        inst.domains.push(d.clone());
        d
    }

    /// Change a domain behind the operator's back (as the Clerk dashboard would). True when it
    /// existed.
    pub fn modify_domain(&self, key: &str, id: &str, change: impl FnOnce(&mut Domain)) -> bool {
        let mut s = self.state.lock().unwrap();
        let inst = s.instance_mut(key).expect("known key");
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
        let inst = s.instance_mut(key).expect("known key");
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

    /// Give the instance of `key` a DMARC record (see [`InstanceState::dmarc`](super::InstanceState))
    /// or take it away; its domains are described anew. False for an unknown key.
    pub fn set_dmarc(&self, key: &str, on: bool) -> bool {
        let mut s = self.state.lock().unwrap();
        let Some(inst) = s.instance_mut(key) else {
            return false;
        };
        inst.dmarc = on;
        let mut domains = std::mem::take(&mut inst.domains);
        for d in &mut domains {
            describe(inst, d);
        }
        inst.domains = domains;
        true
    }

    /// Accept `token` as a Platform API access token (it reaches every application).
    pub fn add_platform_token(&self, token: &str) {
        self.state
            .lock()
            .unwrap()
            .platform_tokens
            .insert(token.to_string());
    }

    /// The Clerk application (`app_...`) of the instance of `key`.
    pub fn application_id(&self, key: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.instance(key).map(|i| i.application_id.clone())
    }

    /// Decide how the Platform API reports readiness from now on.
    pub fn set_platform_rule(&self, rule: super::PlatformRule) {
        self.state.lock().unwrap().platform_rule = rule;
    }

    /// Decide how `POST /proxy_checks` sets `successful` from now on.
    pub fn set_proxy_check_rule(&self, rule: ProxyCheckRule) {
        self.state.lock().unwrap().proxy_check_rule = rule;
    }

    /// The latest proxy check of a domain, if one ran.
    pub fn proxy_check(&self, key: &str, domain_id: &str) -> Option<ProxyCheck> {
        let s = self.state.lock().unwrap();
        s.instance(key)?.proxy_checks.get(domain_id).cloned()
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
        .route(
            "/v1/platform/applications/{app}/domains/{domain}/status",
            get(platform::on_domain("GetDomainStatus", platform::get_status)),
        )
        .route(
            "/v1/platform/applications/{app}/domains/{domain}/dns_check",
            post(platform::on_domain("TriggerDNSCheck", platform::dns_check)),
        )
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
        .route(
            "/__fake/platform-rule",
            get(get_platform_rule).put(put_platform_rule),
        )
        .route("/__fake/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn list_domains(
    AxState(state): AxState<SharedState>,
    stale: Option<axum::Extension<super::faults::StaleList>>,
    headers: HeaderMap,
) -> Response {
    with_instance(&state, &headers, "ListDomains", |inst| {
        let mut data = inst.domains.clone();
        // The primary comes first and stays; a lagging reader misses the newest of the rest.
        if stale.is_some() && data.len() > 1 {
            data.pop();
        }
        Ok(DomainList {
            total_count: data.len() as i64,
            data,
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

async fn get_platform_rule(AxState(state): AxState<SharedState>) -> Json<super::PlatformRule> {
    Json(state.lock().unwrap().platform_rule)
}

async fn put_platform_rule(
    AxState(state): AxState<SharedState>,
    Json(rule): Json<super::PlatformRule>,
) -> StatusCode {
    state.lock().unwrap().platform_rule = rule;
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
