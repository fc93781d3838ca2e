use super::memory::Memory;
use crate::api::{ClerkDomain, ClusterClerkInstance};
use crate::clerk::{ClerkInstance, ClerkPool, PoolConfig, SecretKey};
use crate::metrics::Metrics;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
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
    /// Namespaces whose ClerkDomains may manage the primary domain with `default_key`
    /// (`--primary-domain-namespaces`); empty: none.
    pub primary_domain_namespaces: Vec<String>,
    /// Watch only ClerkDomains matching this label selector (sharding, tests).
    pub selector: Option<String>,
    /// Serve only instance objects matching this label selector (two installations in one
    /// cluster, tests). A ClerkDomain still reads an instance object left out (from the API
    /// server), but its status is another operator's to write.
    pub instance_selector: Option<String>,
    /// Where ClusterClerkInstances' Secrets are (`--credentials-namespace`). Unset, no
    /// ClusterClerkInstance is used (reason `CredentialsNamespaceNotSet`): no namespace is
    /// assumed, since ordinary users can often create Secrets in one first.
    pub credentials_namespace: Option<String>,
    /// The ClusterClerkInstance used by ClerkDomains without `instanceRef` and `secretRef`.
    pub default_instance: Option<String>,
    /// Clerk's Platform API base URL (with `/v1`), for instance objects with `spec.platform`.
    pub platform_url: url::Url,
    /// The operator's Pod, (namespace, name) from `POD_NAMESPACE` and `POD_NAME`: Events about the operator
    /// itself (an optional CRD missing) are published on it.
    pub pod: Option<(String, String)>,
    /// Secret protection (`--secret-protection`): watch Secrets' metadata (list, watch) and put
    /// the `clerk-operator.io/in-use` finalizer on the Secrets in use (patch). Off: the operator
    /// only gets the Secrets it is pointed at, and re-reads a key after `secret_cache_ttl`.
    pub secret_protection: bool,
    /// Without Secret protection: how long a key read from a Secret is used before the Secret
    /// is read again (a rotated key is picked up by the first reconcile after it).
    pub secret_cache_ttl: Duration,
    /// Probe each production domain's Frontend API (`--frontend-api-check`,
    /// `FrontendAPIReachable`); `None`: off.
    pub frontend_api: Option<crate::frontend_api::ProbeConfig>,
}

impl Config {
    /// Whether ClerkDomains in `namespace` may manage the primary domain with the default key.
    pub fn primary_allowed_with_default_key(&self, namespace: &str) -> bool {
        self.primary_domain_namespaces.iter().any(|n| n == namespace)
    }

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
            primary_domain_namespaces: vec![],
            selector: None,
            instance_selector: None,
            credentials_namespace: None,
            default_instance: None,
            platform_url: url::Url::parse(crate::clerk::DEFAULT_PLATFORM_URL).expect("valid URL"),
            pod: None,
            secret_protection: false,
            secret_cache_ttl: Duration::from_secs(60),
            frontend_api: None,
        }
    }
}

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
    /// Which optional CRDs the API server serves.
    pub served: super::served::Served,
}

/// What every reconcile shares: clients, settings, caches and memory.
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
    pub dns: Option<crate::dns::verify::Verifier>,
    /// Probes Frontend API hosts for `FrontendAPIReachable` (none when the check is off).
    pub frontend: Option<crate::frontend_api::Prober>,
    /// What the process remembers between reconciles.
    pub memory: Memory,
    clerk: ClerkPool,
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
        let frontend = config.frontend_api.clone().and_then(|c| {
            crate::frontend_api::Prober::new(c)
                .map_err(|e| tracing::warn!(error = %e, "Frontend API check disabled"))
                .ok()
        });
        let reporter = kube::runtime::events::Reporter {
            controller: "clerk-operator".into(),
            instance: config.instance.clone(),
        };
        let recorder = kube::runtime::events::Recorder::new(client.clone(), reporter);
        let instances = (stores.namespaced.clone(), stores.cluster.clone());
        let memory = Memory::new(stores.domains.clone(), instances, wake);
        Self {
            client,
            recorder,
            clerk: ClerkPool::new(config.clerk.clone(), metrics.clone()),
            metrics,
            config,
            stores,
            dns: verifier,
            frontend,
            memory,
        }
    }

    /// The Clerk instance `key` belongs to (its rate limiter and list cache are shared).
    pub async fn clerk(&self, key: SecretKey) -> Result<Arc<ClerkInstance>, crate::clerk::ClerkError> {
        self.clerk.instance(key).await
    }

    /// The Clerk instance `key` was found to belong to, when it was looked up already (no
    /// request).
    pub fn known_clerk(&self, key: &SecretKey) -> Option<Arc<ClerkInstance>> {
        self.clerk.known(key)
    }

    /// A Platform API client for `token`, sharing the Backend clients' connection pool.
    pub fn platform(&self, token: crate::clerk::PlatformToken) -> crate::clerk::PlatformClient {
        self.clerk.platform(self.config.platform_url.clone(), token)
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

    /// Forget keys of Secrets that are gone from the cache.
    pub fn prune_keys(&self) {
        self.memory
            .prune_keys(|ns, name| self.secret_meta(ns, name).is_some());
    }

    /// Follow the ClerkDomain watch after the cache took the event: the ownership rule and
    /// what the process remembers of objects that are gone.
    pub fn observe(&self, event: &kube::runtime::watcher::Event<ClerkDomain>) {
        self.memory.observe(event);
    }
}
