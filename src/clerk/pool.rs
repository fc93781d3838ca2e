//! The Clerk instances the operator talks to. Each secret key is looked up once (`GET
//! /instance`); the rate limiter and the domain-list cache belong to the *instance*, so every
//! reconcile of every ClerkDomain using any key of one instance shares them (Clerk counts its
//! rate limit per instance, not per key).

use super::cache::ListCache;
use super::{
    ClerkClient, ClerkError, ClientConfig, CreateDomain, DeletedObject, Domain, InstanceKind, PlatformClient,
    PlatformToken, Rate, SecretKey, Throttle, UpdateDomain,
};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// Settings of the pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Client settings shared by every instance.
    pub client: ClientConfig,
    /// Client-side limit for `sk_test_` keys.
    pub development_rate: Rate,
    /// Client-side limit for `sk_live_` keys.
    pub production_rate: Rate,
    /// How long a domain list is reused.
    pub list_ttl: Duration,
    /// How long a domain list may be reused while the instance's rate budget is all in use.
    pub list_max_age: Duration,
    /// Keys unused this long are forgotten (longer than any resync period).
    pub idle: Duration,
    /// Clerk writes are sent only while this is open (the leader election's fence; always
    /// open by default, without election).
    pub fence: crate::leader::Fence,
    /// Trust roots added to the system's (`--extra-ca-file`).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            development_rate: Rate::DEVELOPMENT,
            production_rate: Rate::PRODUCTION,
            list_ttl: Duration::from_secs(5),
            list_max_age: Duration::from_secs(60),
            idle: Duration::from_secs(60 * 60),
            fence: crate::leader::Fence::open(),
            extra_roots: vec![],
        }
    }
}

/// What one Clerk instance shares among all its keys, as Clerk counts: the rate budget and the
/// domain list.
struct Shared {
    throttle: Arc<Throttle>,
    cache: ListCache,
}

/// A Clerk instance as the operator sees it through one of its keys: a client for the key,
/// paced by the instance's shared budget, and the instance's shared list cache.
pub struct ClerkInstance {
    pub client: ClerkClient,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    id: String,
    list_max_age: Duration,
}

impl ClerkInstance {
    /// The instance's domains, from the shared cache when fresh. While the instance's budget is
    /// all in use (a request waited for it within the TTL), a list up to `list_max_age` old is
    /// reused: a re-read would cost a write, and the operator's own writes keep the list current.
    pub async fn list_domains(&self) -> Result<super::SharedDomains, ClerkError> {
        let ttl = self.shared.cache.ttl();
        let age = if self.shared.throttle.busy_within(ttl) {
            self.list_max_age
        } else {
            ttl
        };
        let (list, hit) = self.shared.cache.get_within(&self.client, age).await?;
        if hit {
            self.metrics.list_cache_hits.inc();
        }
        Ok(list)
    }

    /// The instance's ID (`GET /instance`, asked once per key and process).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The instance's pacing, shared by all its keys.
    pub fn throttle(&self) -> &Throttle {
        &self.shared.throttle
    }

    /// Requests sent in the current window and the client-side rate (`None` without a throttle).
    pub fn rate_usage(&self) -> Option<(u32, super::Rate)> {
        self.client.throttle().map(|t| t.usage())
    }

    /// Drop the cached list so the next read asks Clerk.
    pub fn invalidate(&self) {
        self.shared.cache.invalidate();
    }

    /// `POST /domains`; an ambiguous failure invalidates the cache so the next read re-lists
    /// (a request never sent changed nothing).
    pub async fn create_domain(&self, body: &CreateDomain) -> Result<Domain, ClerkError> {
        match self.client.create_domain(body).await {
            Ok(d) => {
                self.shared.cache.upsert(&d);
                Ok(d)
            }
            Err(e) => {
                if !e.is_unsent() {
                    self.shared.cache.invalidate();
                }
                Err(e)
            }
        }
    }

    /// `PATCH /domains/{id}`.
    pub async fn update_domain(&self, id: &str, body: &UpdateDomain) -> Result<Domain, ClerkError> {
        match self.client.update_domain(id, body).await {
            Ok(d) => {
                self.shared.cache.upsert(&d);
                Ok(d)
            }
            Err(e) => {
                if !e.is_unsent() && (!e.is_terminal() || e.is_not_found()) {
                    self.shared.cache.invalidate();
                }
                Err(e)
            }
        }
    }

    /// `DELETE /domains/{id}`; a 404 also removes it from the cache.
    pub async fn delete_domain(&self, id: &str) -> Result<DeletedObject, ClerkError> {
        let r = self.client.delete_domain(id).await;
        match &r {
            Ok(_) => self.shared.cache.remove(id),
            Err(e) if e.is_not_found() => self.shared.cache.remove(id),
            Err(e) if e.is_unsent() => {}
            Err(_) => self.shared.cache.invalidate(),
        }
        r
    }
}

/// One secret key: the client that asks which instance it belongs to, then the instance.
struct KeyEntry {
    lookup: ClerkClient,
    instance: tokio::sync::OnceCell<Arc<ClerkInstance>>,
    last_used: Mutex<Instant>,
}

/// The instances the operator talks to. Keys are looked up once (`GET /instance`); the rate
/// budget and list cache belong to the instance, so two keys of one instance share them. Keys
/// unused for [`PoolConfig::idle`] are forgotten, and an instance's shared state goes with its
/// last key.
pub struct ClerkPool {
    config: PoolConfig,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    keys: Mutex<HashMap<SecretKey, Arc<KeyEntry>>>,
    instances: Mutex<HashMap<String, Weak<Shared>>>,
    /// Each Platform API token's budget and when it was last used.
    platform: Mutex<HashMap<PlatformToken, (Arc<Throttle>, Instant)>>,
    last_prune: Mutex<Instant>,
}

impl ClerkPool {
    /// An empty pool; one HTTP connection pool serves every instance.
    pub fn new(config: PoolConfig, metrics: Arc<Metrics>) -> Self {
        let http = super::http_client_for(&config.client, &config.extra_roots);
        Self {
            config,
            http,
            metrics,
            keys: Mutex::new(HashMap::new()),
            instances: Mutex::new(HashMap::new()),
            platform: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    /// A Platform API client for `token` at `base`, on the pool's HTTP connection pool, paced by
    /// the token's budget (see [`PLATFORM_RATE`]), counted in the request metrics and fenced like
    /// every Backend client.
    pub fn platform(&self, base: url::Url, token: PlatformToken) -> PlatformClient {
        let throttle = {
            let mut tokens = self.platform.lock().unwrap();
            let (throttle, last_used) = tokens
                .entry(token.clone())
                .or_insert_with(|| (Arc::new(Throttle::new(PLATFORM_RATE)), Instant::now()));
            *last_used = Instant::now();
            throttle.clone()
        };
        let config = ClientConfig {
            base_url: base,
            ..self.config.client.clone()
        };
        PlatformClient::new(self.http.clone(), config, token).shared(
            throttle,
            self.metrics.clone(),
            self.config.fence.clone(),
        )
    }

    fn rate(&self, kind: InstanceKind) -> Rate {
        match kind {
            InstanceKind::Development => self.config.development_rate,
            InstanceKind::Production => self.config.production_rate,
        }
    }

    fn client(&self, key: SecretKey, throttle: Arc<Throttle>) -> ClerkClient {
        ClerkClient::with_http(self.http.clone(), self.config.client.clone(), key)
            .with_throttle(throttle)
            .with_metrics(self.metrics.clone())
            .with_fence(self.config.fence.clone())
    }

    /// The instance `key` was found to belong to, when it was looked up already (no request).
    pub fn known(&self, key: &SecretKey) -> Option<Arc<ClerkInstance>> {
        let keys = self.keys.lock().unwrap();
        keys.get(key)?.instance.get().cloned()
    }

    /// The instance `key` belongs to. The first use of a key asks Clerk (`GET /instance`, paced
    /// by the key's own limiter, since its instance is not known yet, and then charged to the
    /// instance's budget); a failure is not remembered, so the next call asks again. (A second
    /// key first used while its instance is at its limit can still put one window one request
    /// over; Clerk's 429 then pauses the instance for its `Retry-After`.)
    pub async fn instance(&self, key: SecretKey) -> Result<Arc<ClerkInstance>, ClerkError> {
        self.prune();
        let entry = {
            let mut keys = self.keys.lock().unwrap();
            keys.entry(key.clone())
                .or_insert_with(|| {
                    let throttle = Arc::new(Throttle::new(self.rate(key.kind())));
                    Arc::new(KeyEntry {
                        lookup: self.client(key.clone(), throttle),
                        instance: tokio::sync::OnceCell::new(),
                        last_used: Mutex::new(Instant::now()),
                    })
                })
                .clone()
        };
        *entry.last_used.lock().unwrap() = Instant::now();
        entry
            .instance
            .get_or_try_init(|| async {
                let id = entry.lookup.get_instance().await?.id;
                let shared = self.shared(&id, key.kind());
                // The lookup counts against the instance's budget too.
                shared.throttle.charge().await;
                Ok(Arc::new(ClerkInstance {
                    client: self.client(key.clone(), shared.throttle.clone()),
                    shared,
                    metrics: self.metrics.clone(),
                    id,
                    list_max_age: self.config.list_max_age,
                }))
            })
            .await
            .cloned()
    }

    /// The shared state of instance `id`, made on first use.
    fn shared(&self, id: &str, kind: InstanceKind) -> Arc<Shared> {
        let mut instances = self.instances.lock().unwrap();
        if let Some(shared) = instances.get(id).and_then(Weak::upgrade) {
            return shared;
        }
        let shared = Arc::new(Shared {
            throttle: Arc::new(Throttle::new(self.rate(kind))),
            cache: ListCache::new(self.config.list_ttl, self.config.list_max_age),
        });
        instances.insert(id.to_string(), Arc::downgrade(&shared));
        shared
    }

    /// Forget keys unused for the idle time (at most once a minute), and instances none of the
    /// remaining keys use.
    fn prune(&self) {
        {
            let mut last = self.last_prune.lock().unwrap();
            if last.elapsed() < PRUNE_EVERY {
                return;
            }
            *last = Instant::now();
        }
        let idle = self.config.idle;
        self.keys
            .lock()
            .unwrap()
            .retain(|_, e| e.last_used.lock().unwrap().elapsed() < idle);
        self.instances.lock().unwrap().retain(|_, w| w.strong_count() > 0);
        self.platform
            .lock()
            .unwrap()
            .retain(|_, (_, last_used)| last_used.elapsed() < idle);
    }

    /// How many keys and instances the pool holds.
    pub fn sizes(&self) -> (usize, usize) {
        let keys = self.keys.lock().unwrap().len();
        let instances = self
            .instances
            .lock()
            .unwrap()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count();
        (keys, instances)
    }
}

/// The client-side budget of each Platform API token. Clerk counts Backend API requests per
/// instance, by the secret key they carry; a Platform request carries a workspace's token and no
/// key, so it is not counted against any instance and spends none of an instance's budget: each
/// token has its own [`Throttle`] (a 429 pauses that token's requests only). Clerk publishes no
/// Platform API limit, so the budget is its smallest Backend one, a development instance's.
pub const PLATFORM_RATE: Rate = Rate::DEVELOPMENT;

/// How often [`ClerkPool::prune`] looks for idle keys.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests;
