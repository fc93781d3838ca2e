//! One [`ClerkInstance`] per Clerk secret key: a client paced by the instance's rate limiter and
//! a shared domain-list cache. Every reconcile of every ClerkDomain using the key shares them.

use super::cache::ListCache;
use super::{
    ClerkClient, ClerkError, ClientConfig, CreateDomain, DeletedObject, Domain, InstanceKind, Rate,
    SecretKey, Throttle, UpdateDomain,
};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Clerk writes are sent only while this is open (the leader election's fence; always
    /// open by default, without election).
    pub fence: crate::leader::Fence,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            development_rate: Rate::DEVELOPMENT,
            production_rate: Rate::PRODUCTION,
            list_ttl: Duration::from_secs(5),
            fence: crate::leader::Fence::open(),
        }
    }
}

/// A Clerk instance as the operator sees it.
pub struct ClerkInstance {
    pub client: ClerkClient,
    cache: ListCache,
    metrics: Arc<Metrics>,
    id: tokio::sync::OnceCell<String>,
}

impl ClerkInstance {
    /// The instance's domains, from the shared cache when fresh.
    pub async fn list_domains(&self) -> Result<Arc<Vec<Domain>>, ClerkError> {
        let (list, hit) = self.cache.get(&self.client).await?;
        if hit {
            self.metrics.list_cache_hits.inc();
        }
        Ok(list)
    }

    /// The instance's ID (`GET /instance`, asked once per process).
    pub async fn instance_id(&self) -> Result<String, ClerkError> {
        self.id
            .get_or_try_init(|| async { self.client.get_instance().await.map(|i| i.id) })
            .await
            .cloned()
    }

    /// Requests sent in the current window and the client-side rate (`None` without a throttle).
    pub fn rate_usage(&self) -> Option<(u32, super::Rate)> {
        self.client.throttle().map(|t| t.usage())
    }

    /// Drop the cached list so the next read asks Clerk.
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// `POST /domains`; an ambiguous failure invalidates the cache so the next read re-lists.
    pub async fn create_domain(&self, body: &CreateDomain) -> Result<Domain, ClerkError> {
        match self.client.create_domain(body).await {
            Ok(d) => {
                self.cache.upsert(&d);
                Ok(d)
            }
            Err(e) => {
                self.cache.invalidate();
                Err(e)
            }
        }
    }

    /// `PATCH /domains/{id}`.
    pub async fn update_domain(&self, id: &str, body: &UpdateDomain) -> Result<Domain, ClerkError> {
        match self.client.update_domain(id, body).await {
            Ok(d) => {
                self.cache.upsert(&d);
                Ok(d)
            }
            Err(e) => {
                if !e.is_terminal() || e.is_not_found() {
                    self.cache.invalidate();
                }
                Err(e)
            }
        }
    }

    /// `DELETE /domains/{id}`; a 404 also removes it from the cache.
    pub async fn delete_domain(&self, id: &str) -> Result<DeletedObject, ClerkError> {
        let r = self.client.delete_domain(id).await;
        match &r {
            Ok(_) => self.cache.remove(id),
            Err(e) if e.is_not_found() => self.cache.remove(id),
            Err(_) => self.cache.invalidate(),
        }
        r
    }
}

/// The instances the operator talks to, by secret key.
pub struct ClerkPool {
    config: PoolConfig,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    instances: Mutex<HashMap<SecretKey, Arc<ClerkInstance>>>,
}

impl ClerkPool {
    /// An empty pool; one HTTP connection pool serves every instance.
    pub fn new(config: PoolConfig, metrics: Arc<Metrics>) -> Self {
        let http = super::http_client_for(&config.client);
        Self {
            config,
            http,
            metrics,
            instances: Mutex::new(HashMap::new()),
        }
    }

    /// The instance for `key`, created on first use.
    pub fn instance(&self, key: SecretKey) -> Arc<ClerkInstance> {
        let mut map = self.instances.lock().unwrap();
        map.entry(key.clone())
            .or_insert_with(|| {
                let rate = match key.kind() {
                    InstanceKind::Development => self.config.development_rate,
                    InstanceKind::Production => self.config.production_rate,
                };
                let client = ClerkClient::with_http(self.http.clone(), self.config.client.clone(), key)
                    .with_throttle(Arc::new(Throttle::new(rate)))
                    .with_metrics(self.metrics.clone())
                    .with_fence(self.config.fence.clone());
                Arc::new(ClerkInstance {
                    client,
                    cache: ListCache::new(self.config.list_ttl),
                    metrics: self.metrics.clone(),
                    id: tokio::sync::OnceCell::new(),
                })
            })
            .clone()
    }
}
