use crate::clerk::{ClerkInstance, ClerkPool, PoolConfig, SecretKey};
use crate::metrics::Metrics;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Operator settings, from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// Clerk API base URL, version, timeout, retries, rate limits and list cache TTL.
    pub clerk: PoolConfig,
    /// Key for ClerkDomains without `spec.secretRef`.
    pub default_key: Option<SecretKey>,
    /// Steady-state resync period.
    pub resync: Duration,
    /// Watch one namespace only; `None` watches all.
    pub namespace: Option<String>,
    /// Objects reconciled at once.
    pub concurrency: u16,
    /// Reported as the Events' reporting instance.
    pub instance: Option<String>,
    /// Check that CNAME records resolve (`DNSVerified`); `Some(None)` uses the system resolver.
    pub dns_verify: Option<Option<std::net::SocketAddr>>,
    /// Namespaces whose ClerkDomains may use `default_key`; `None` allows every namespace.
    pub default_key_namespaces: Option<Vec<String>>,
    /// Watch only ClerkDomains (and instance objects) matching this label selector (sharding,
    /// tests).
    pub selector: Option<String>,
    /// The operator's namespace: where ClusterClerkInstances' Secrets are.
    pub operator_namespace: String,
    /// The ClusterClerkInstance used by ClerkDomains without `instanceRef` and `secretRef`.
    pub default_instance: Option<String>,
}

impl Config {
    /// Whether ClerkDomains in `namespace` may use the default key.
    pub fn default_key_allowed(&self, namespace: &str) -> bool {
        self.default_key_namespaces
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|n| n == namespace))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            clerk: PoolConfig::default(),
            default_key: None,
            resync: Duration::from_secs(300),
            namespace: None,
            concurrency: 8,
            instance: None,
            dns_verify: None,
            default_key_namespaces: None,
            selector: None,
            operator_namespace: "default".into(),
            default_instance: None,
        }
    }
}

/// `(namespace, name, key)` of a key in a Secret.
type SecretKeyRefKey = (String, String, String);

/// What every reconcile shares: clients, the event recorder, settings, failure counts.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Events (events.k8s.io).
    pub recorder: super::events::Recorder,
    /// Settings.
    pub config: Config,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Resolves CNAME records for `DNSVerified` (none when verification is off).
    pub verifier: Option<crate::dns::verify::Verifier>,
    dns_attempts: Mutex<HashMap<String, u32>>,
    /// Who owns which Clerk domain.
    pub ownership: super::ownership::Ownership,
    /// ClerkInstances and ClusterClerkInstances: caches, wakeups, users, checks.
    pub instances: super::instances::Registry,
    warned: Mutex<HashMap<String, String>>,
    wake: futures::channel::mpsc::UnboundedSender<ObjectRef<super::CachedDomain>>,
    wakeups: Mutex<Option<futures::channel::mpsc::UnboundedReceiver<ObjectRef<super::CachedDomain>>>>,
    /// Wakes the Secret release loop.
    pub secrets_changed: tokio::sync::Notify,
    secret_store: std::sync::OnceLock<Store<PartialObjectMeta<Secret>>>,
    /// Keys read from Secrets, by (namespace, name, key), with the resourceVersion read.
    keys: Mutex<HashMap<SecretKeyRefKey, (String, SecretKey)>>,
    tracked_secrets: Mutex<std::collections::HashSet<super::secrets::SecretKeyName>>,
    pool: ClerkPool,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// Build the context; one HTTP connection pool serves every Clerk instance.
    pub fn new(client: Client, config: Config, metrics: Arc<Metrics>) -> Self {
        let verifier = config.dns_verify.and_then(|addr| {
            let made = match addr {
                Some(a) => crate::dns::verify::Verifier::with_server(a),
                None => crate::dns::verify::Verifier::system(),
            };
            made.map_err(|e| tracing::warn!(error = %e, "DNS verification disabled: no resolver"))
                .ok()
        });
        let recorder =
            super::events::Recorder::new(client.clone(), "clerk-operator", config.instance.clone());
        let (wake, wakeups) = futures::channel::mpsc::unbounded();
        Self {
            wake,
            wakeups: Mutex::new(Some(wakeups)),
            client,
            recorder,
            pool: ClerkPool::new(config.clerk.clone(), metrics.clone()),
            metrics,
            config,
            failures: Mutex::new(HashMap::new()),
            ownership: Default::default(),
            instances: Default::default(),
            warned: Mutex::new(HashMap::new()),
            verifier,
            dns_attempts: Mutex::new(HashMap::new()),
            secrets_changed: tokio::sync::Notify::new(),
            secret_store: std::sync::OnceLock::new(),
            keys: Mutex::new(HashMap::new()),
            tracked_secrets: Mutex::new(Default::default()),
        }
    }

    /// The Clerk instance `key` belongs to (its rate limiter and list cache are shared).
    pub async fn clerk(&self, key: SecretKey) -> Result<Arc<ClerkInstance>, crate::clerk::ClerkError> {
        self.pool.instance(key).await
    }

    /// Delay until the next steady-state resync. Resyncs are aligned to multiples of the period
    /// (plus a little jitter), so all objects of an instance wake together and share one list.
    pub fn resync_delay(&self) -> std::time::Duration {
        super::backoff::aligned(self.config.resync, std::time::SystemTime::now(), rand::random())
    }

    /// Give the context the cache of Secrets' metadata.
    pub fn set_secret_store(&self, store: Store<PartialObjectMeta<Secret>>) {
        let _ = self.secret_store.set(store);
    }

    /// The cached metadata of Secret `namespace/name`, if the cache has it.
    pub fn secret_meta(&self, namespace: &str, name: &str) -> Option<Arc<PartialObjectMeta<Secret>>> {
        let store = self.secret_store.get()?;
        store.get(&ObjectRef::new(name).within(namespace))
    }

    /// The key read earlier from `namespace/name`'s `key`, if the Secret is still at
    /// `resource_version`.
    pub fn cached_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        resource_version: &str,
    ) -> Option<SecretKey> {
        let keys = self.keys.lock().unwrap();
        keys.get(&(namespace.to_string(), name.to_string(), key.to_string()))
            .filter(|(rv, _)| rv == resource_version)
            .map(|(_, k)| k.clone())
    }

    /// Remember a key read from a Secret at `resource_version`.
    pub fn remember_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        resource_version: String,
        value: SecretKey,
    ) {
        let mut keys = self.keys.lock().unwrap();
        keys.insert(
            (namespace.to_string(), name.to_string(), key.to_string()),
            (resource_version, value),
        );
    }

    /// Forget keys of Secrets that are gone from the cache.
    pub fn prune_keys(&self) {
        if self.secret_store.get().is_none() {
            return;
        }
        let mut keys = self.keys.lock().unwrap();
        keys.retain(|(ns, name, _), _| self.secret_meta(ns, name).is_some());
    }

    /// Remember a Secret carrying the in-use finalizer.
    pub fn track_secret(&self, secret: super::secrets::SecretKeyName) {
        self.tracked_secrets.lock().unwrap().insert(secret);
    }

    /// Forget a released Secret.
    pub fn untrack_secret(&self, secret: &super::secrets::SecretKeyName) {
        self.tracked_secrets.lock().unwrap().remove(secret);
    }

    /// Secrets carrying the in-use finalizer.
    pub fn tracked_secrets(&self) -> Vec<super::secrets::SecretKeyName> {
        self.tracked_secrets.lock().unwrap().iter().cloned().collect()
    }

    /// Set the `clerkdomains{ready=...}` gauge from the current objects.
    pub fn update_ready_gauge(&self, objects: &[Arc<super::CachedDomain>]) {
        use crate::metrics::ReadyLabels;
        let (mut t, mut f, mut u) = (0, 0, 0);
        for o in objects {
            o.with_conditions(|conditions| {
                let ready = conditions
                    .iter()
                    .find(|c| c.type_ == crate::api::condition_type::READY);
                match ready.map(|c| c.status.as_ref()) {
                    Some("True") => t += 1,
                    Some("False") => f += 1,
                    _ => u += 1,
                }
            });
        }
        self.metrics
            .clerkdomains
            .get_or_create(&ReadyLabels { ready: "True" })
            .set(t);
        self.metrics
            .clerkdomains
            .get_or_create(&ReadyLabels { ready: "False" })
            .set(f);
        self.metrics
            .clerkdomains
            .get_or_create(&ReadyLabels { ready: "Unknown" })
            .set(u);
    }

    /// Count one more consecutive failure of `object`; returns the new count.
    pub fn note_failure(&self, object: &str) -> u32 {
        let mut f = self.failures.lock().unwrap();
        let n = f.entry(object.to_string()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// DNS of `object` was not verified again; returns the consecutive count.
    pub fn dns_unverified(&self, object: &str) -> u32 {
        let mut m = self.dns_attempts.lock().unwrap();
        let n = m.entry(object.to_string()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// DNS of `object` is verified.
    pub fn dns_verified(&self, object: &str) {
        self.dns_attempts.lock().unwrap().remove(object);
    }

    /// Whether `object` failed last time and has not succeeded since.
    pub fn is_failing(&self, object: &str) -> bool {
        self.failures.lock().unwrap().contains_key(object)
    }

    /// Follow the controller's watch: the ownership index, and pruning of every per-object
    /// registry when an object is gone (also when it went without a cleanup).
    pub fn observe(&self, event: &kube::runtime::watcher::Event<super::CachedDomain>) {
        let Some(event) = &super::cached::expand_event(event) else {
            return;
        };
        let default = self.config.default_instance.as_deref();
        self.instances.follow(event, |d| {
            let ns = d.namespace().unwrap_or_default();
            match super::instances::choose(&d.spec, &ns, default) {
                super::instances::KeySource::Instance(k) => Some(k),
                _ => None,
            }
        });
        let seen = self.ownership.observe(event);
        for gone in seen.gone {
            self.forget(&gone.object);
        }
        for (ns, name) in seen.wake {
            let _ = self.wake.unbounded_send(ObjectRef::new(&name).within(&ns));
        }
    }

    /// Reconcile ClerkDomain `namespace/name` again soon.
    pub fn wake_domain(&self, namespace: &str, name: &str) {
        let _ = self.wake.unbounded_send(ObjectRef::new(name).within(namespace));
    }

    /// Take the stream of objects to reconcile again because an owner they wait on changed.
    pub fn wakeups(
        &self,
    ) -> Option<futures::channel::mpsc::UnboundedReceiver<ObjectRef<super::CachedDomain>>> {
        self.wakeups.lock().unwrap().take()
    }

    /// Drop what this process remembers of `object` (`namespace/name`).
    pub fn forget(&self, object: &str) {
        self.failures.lock().unwrap().remove(object);
        self.dns_attempts.lock().unwrap().remove(object);
        self.warned.lock().unwrap().remove(object);
    }

    /// Whether `message` is new for `object` (a Warning Event is due once per distinct value).
    pub fn first_warning(&self, object: &str, message: &str) -> bool {
        let mut w = self.warned.lock().unwrap();
        if w.get(object).is_some_and(|m| m == message) {
            return false;
        }
        w.insert(object.to_string(), message.to_string());
        true
    }

    /// Forget the failures of `object` after a success.
    pub fn note_success(&self, object: &str) {
        self.failures.lock().unwrap().remove(object);
    }
}
