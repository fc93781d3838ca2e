use crate::api::{ClerkDomain, ClusterClerkInstance};
use crate::clerk::{ClerkInstance, ClerkPool, PoolConfig, SecretKey};
use crate::metrics::Metrics;
use futures::channel::mpsc::UnboundedSender;
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

/// `namespace/name` of a Secret.
pub type SecretKeyName = (String, String);

/// `(namespace, name, key)` of a key in a Secret.
type SecretKeyRefKey = (String, String, String);

/// The caches the controllers share, built before the [`Context`].
pub struct Stores {
    /// Every watched ClerkDomain.
    pub domains: Store<ClerkDomain>,
    /// The metadata of every watched Secret (key material is read only when it changed).
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Every watched ClerkInstance.
    pub namespaced: Store<crate::api::ClerkInstance>,
    /// Every ClusterClerkInstance, when the operator serves them (it watches all namespaces).
    pub cluster: Option<Store<ClusterClerkInstance>>,
}

/// What the process remembers of one ClerkDomain between reconciles (forgotten when it goes).
#[derive(Default)]
struct Remembered {
    /// Consecutive failures.
    failures: u32,
    /// Consecutive DNS checks that did not verify.
    dns_attempts: u32,
    /// The last Warning published once per distinct message.
    warned: Option<String>,
}

/// What the process keeps of Secrets: keys read (by resourceVersion), and the Secrets that
/// carry the in-use finalizer.
#[derive(Default)]
struct SecretKeys {
    keys: Mutex<HashMap<SecretKeyRefKey, (String, SecretKey)>>,
    tracked: Mutex<std::collections::HashSet<SecretKeyName>>,
}

/// What every reconcile shares: clients, the event recorder, settings, caches and memory.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Events (events.k8s.io).
    pub recorder: kube::runtime::events::Recorder,
    /// Settings.
    pub config: Config,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The caches.
    pub stores: Stores,
    /// Resolves CNAME records for `DNSVerified` (none when verification is off).
    pub verifier: Option<crate::dns::verify::Verifier>,
    /// Who owns which Clerk domain.
    pub ownership: super::ownership::Ownership,
    /// ClerkInstances and ClusterClerkInstances: wakeups, users, checks.
    pub instances: super::instances::Registry,
    remembered: Mutex<HashMap<String, Remembered>>,
    wake: UnboundedSender<ObjectRef<ClerkDomain>>,
    /// Wakes the Secret release loop.
    pub secrets_changed: tokio::sync::Notify,
    secret_keys: SecretKeys,
    pool: ClerkPool,
}

impl Context {
    /// Build the context on `stores`; one HTTP connection pool serves every Clerk instance.
    /// `wake` asks the ClerkDomain controller to reconcile an object again.
    pub fn new(
        client: Client,
        config: Config,
        metrics: Arc<Metrics>,
        stores: Stores,
        wake: UnboundedSender<ObjectRef<ClerkDomain>>,
    ) -> Self {
        let verifier = config.dns_verify.and_then(|addr| {
            let made = match addr {
                Some(a) => crate::dns::verify::Verifier::with_server(a),
                None => crate::dns::verify::Verifier::system(),
            };
            made.map_err(|e| tracing::warn!(error = %e, "DNS verification disabled: no resolver"))
                .ok()
        });
        let reporter = kube::runtime::events::Reporter {
            controller: "clerk-operator".into(),
            instance: config.instance.clone(),
        };
        let recorder = kube::runtime::events::Recorder::new(client.clone(), reporter);
        let instances = super::instances::Registry::new(stores.namespaced.clone(), stores.cluster.clone());
        let ownership = super::ownership::Ownership::new(stores.domains.clone());
        Self {
            wake,
            client,
            recorder,
            pool: ClerkPool::new(config.clerk.clone(), metrics.clone()),
            metrics,
            config,
            stores,
            ownership,
            instances,
            remembered: Mutex::default(),
            verifier,
            secrets_changed: tokio::sync::Notify::new(),
            secret_keys: SecretKeys::default(),
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

    /// The cached metadata of Secret `namespace/name`, if the cache has it.
    pub fn secret_meta(&self, namespace: &str, name: &str) -> Option<Arc<PartialObjectMeta<Secret>>> {
        self.stores.secrets.get(&ObjectRef::new(name).within(namespace))
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
        let keys = self.secret_keys.keys.lock().unwrap();
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
        let mut keys = self.secret_keys.keys.lock().unwrap();
        keys.insert(
            (namespace.to_string(), name.to_string(), key.to_string()),
            (resource_version, value),
        );
    }

    /// Forget keys of Secrets that are gone from the cache.
    pub fn prune_keys(&self) {
        let mut keys = self.secret_keys.keys.lock().unwrap();
        keys.retain(|(ns, name, _), _| self.secret_meta(ns, name).is_some());
    }

    /// Remember a Secret carrying the in-use finalizer.
    pub fn track_secret(&self, secret: SecretKeyName) {
        self.secret_keys.tracked.lock().unwrap().insert(secret);
    }

    /// Forget a released Secret.
    pub fn untrack_secret(&self, secret: &SecretKeyName) {
        self.secret_keys.tracked.lock().unwrap().remove(secret);
    }

    /// Secrets carrying the in-use finalizer.
    pub fn tracked_secrets(&self) -> Vec<SecretKeyName> {
        self.secret_keys.tracked.lock().unwrap().iter().cloned().collect()
    }

    /// Count one more consecutive failure of `object`; returns the new count.
    pub fn note_failure(&self, object: &str) -> u32 {
        let mut m = self.remembered.lock().unwrap();
        let r = m.entry(object.to_string()).or_default();
        r.failures = r.failures.saturating_add(1);
        r.failures
    }

    /// DNS of `object` was not verified again; returns the consecutive count.
    pub fn dns_unverified(&self, object: &str) -> u32 {
        let mut m = self.remembered.lock().unwrap();
        let r = m.entry(object.to_string()).or_default();
        r.dns_attempts = r.dns_attempts.saturating_add(1);
        r.dns_attempts
    }

    /// DNS of `object` is verified.
    pub fn dns_verified(&self, object: &str) {
        if let Some(r) = self.remembered.lock().unwrap().get_mut(object) {
            r.dns_attempts = 0;
        }
    }

    /// Whether `object` failed last time and has not succeeded since.
    pub fn is_failing(&self, object: &str) -> bool {
        self.remembered
            .lock()
            .unwrap()
            .get(object)
            .is_some_and(|r| r.failures > 0)
    }

    /// Follow the ClerkDomain watch: the ownership index, the instance registry, and what the
    /// process remembers of objects that are gone.
    pub fn observe(&self, event: &kube::runtime::watcher::Event<ClerkDomain>) {
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
            self.forget(&gone);
        }
        for (ns, name) in seen.wake {
            self.wake_domain(&ns, &name);
        }
    }

    /// Reconcile ClerkDomain `namespace/name` again soon.
    pub fn wake_domain(&self, namespace: &str, name: &str) {
        let _ = self.wake.unbounded_send(ObjectRef::new(name).within(namespace));
    }

    /// Drop what this process remembers of `object` (`namespace/name`).
    pub fn forget(&self, object: &str) {
        self.remembered.lock().unwrap().remove(object);
    }

    /// Whether `message` is new for `object` (a Warning Event is due once per distinct value).
    pub fn first_warning(&self, object: &str, message: &str) -> bool {
        let mut m = self.remembered.lock().unwrap();
        let r = m.entry(object.to_string()).or_default();
        if r.warned.as_deref() == Some(message) {
            return false;
        }
        r.warned = Some(message.to_string());
        true
    }

    /// Forget the failures of `object` after a success.
    pub fn note_success(&self, object: &str) {
        if let Some(r) = self.remembered.lock().unwrap().get_mut(object) {
            r.failures = 0;
        }
    }
}
