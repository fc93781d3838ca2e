//! The test kit of clerk-operator (not published): a real control plane, an embedded fake
//! Clerk and the controller per test namespace ([`TestEnv`]), the operator as a process
//! ([`operator_process`]), processes with their logs and resource usage ([`process`]), a
//! loopback cut proxy, a test DNS server, the real DNS chain (external-dns + BIND), a real nginx and the
//! GitOps health tools. The e2e, chaos, DNS and health tests, the bench and
//! `examples/local-cluster.rs` use it.

// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

pub mod controlplane;
pub mod cut_proxy;
pub mod dns_server;
pub mod fake_frontend_api;
pub mod health;
pub mod nginx;
pub mod operator_process;
mod options;
mod poll;
pub use options::EnvOptions;
pub use poll::{eventually, wait_for, wait_gone};
pub mod process;
pub mod real_dns;

use anyhow::{Context as _, bail};
use clerk_operator::api::ClerkDomain;
use clerk_operator::clerk::{ClientConfig, PoolConfig, SecretKey};
use clerk_operator::controller::{self, Config};
use clerk_operator::http::Health;
use clerk_operator::metrics::Metrics;
pub use controlplane::ControlPlane;
use fake_clerk::{FakeClerk, FakeConfig};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The repository root (this crate is `crates/test-kit`).
pub fn repo_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().and_then(Path::parent).unwrap_or(kit).to_path_buf()
}

/// Production key of the fake's first instance.
pub const LIVE_KEY: &str = "sk_live_e2e_first_instance_0001";
/// Development key of the fake's second instance.
pub const TEST_KEY: &str = "sk_test_e2e_second_instance_0002";
/// How long a test waits for the operator to converge.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// One test's world: its namespace, fake Clerk and running controller.
pub struct TestEnv {
    pub cp: Arc<ControlPlane>,
    pub ns: String,
    pub client: Client,
    pub fake: FakeClerk,
    pub metrics: Arc<Metrics>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Label that ties an object to the test that made it (the controller's selector when
/// watching every namespace).
pub const ENV_LABEL: &str = "e2e.clerk-operator.io/env";

impl TestEnv {
    /// Create a namespace, start a fake Clerk with a production and a development instance, and
    /// run the controller watching only that namespace.
    pub async fn start(cp: Arc<ControlPlane>, name: &str, opts: EnvOptions) -> anyhow::Result<Self> {
        let client = cp.client().await;
        let ns = format!("{name}-{:x}", rand::random::<u16>());
        let nss: Api<Namespace> = Api::all(client.clone());
        let names = if opts.cluster_wide {
            vec![ns.clone(), format!("{ns}-b")]
        } else {
            vec![ns.clone()]
        };
        for name in names {
            let mut n = Namespace::default();
            n.metadata.name = Some(name);
            nss.create(&PostParams::default(), &n)
                .await
                .context("create namespace")?;
        }
        let fake = FakeClerk::start(FakeConfig {
            secret_keys: vec![LIVE_KEY.into(), TEST_KEY.into()],
            ..Default::default()
        })
        .await?;
        let mut env = TestEnv {
            cp,
            ns,
            client,
            fake,
            metrics: Arc::new(Metrics::default()),
            shutdown: None,
            task: None,
        };
        env.start_controller(opts);
        Ok(env)
    }

    /// (Re)start the controller.
    pub fn start_controller(&mut self, opts: EnvOptions) {
        let config = Config {
            clerk: PoolConfig {
                client: ClientConfig {
                    base_url: url::Url::parse(opts.clerk_url.as_deref().unwrap_or(&self.fake.base_url()))
                        .unwrap(),
                    timeout: Duration::from_secs(5),
                    retry_base: Duration::from_millis(50),
                    ..Default::default()
                },
                list_ttl: opts.list_ttl,
                development_rate: opts
                    .development_rate
                    .unwrap_or(clerk_operator::clerk::Rate::DEVELOPMENT),
                ..Default::default()
            },
            default_key: opts.default_key.map(SecretKey::new),
            resync: opts.resync,
            namespace: (!opts.cluster_wide).then(|| self.ns.clone()),
            selector: opts
                .selector
                .clone()
                .or_else(|| opts.cluster_wide.then(|| format!("{ENV_LABEL}={}", self.ns))),
            instance_selector: opts
                .instance_selector
                .clone()
                .or_else(|| opts.cluster_wide.then(|| format!("{ENV_LABEL}={}", self.ns))),
            default_key_namespaces: opts.default_key_namespaces.clone(),
            concurrency: opts.concurrency,
            instance: Some("e2e".into()),
            dns_verify: opts.dns_resolver.map(Some),
            // The test's namespace plays the operator's: ClusterClerkInstances' Secrets are there.
            credentials_namespace: opts.credentials_namespace.then(|| self.ns.clone()),
            primary_domain_namespaces: match opts.primary_domains {
                true => vec![self.ns.clone()],
                false => vec![],
            },
            default_instance: opts.default_instance.clone(),
            // The fake serves the Platform API next to the Backend API.
            platform_url: url::Url::parse(&self.fake.base_url()).unwrap(),
            pod: None,
            secret_protection: opts.secret_protection,
            secret_cache_ttl: opts.secret_cache_ttl,
            frontend_api: opts.frontend_api.clone(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = self.client.clone();
        self.shutdown = Some(tx);
        let metrics = Arc::new(Metrics::default());
        self.metrics = metrics.clone();
        self.task = Some(tokio::spawn(controller::run(
            client,
            config,
            metrics,
            Health::default(),
            async move {
                let _ = rx.await;
            },
        )));
    }

    /// Stop the controller and wait for it to finish.
    pub async fn stop_controller(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .context("controller stops")???;
        }
        Ok(())
    }

    /// ClerkDomains of this namespace.
    pub fn domains(&self) -> Api<ClerkDomain> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The second namespace of a cluster-wide test.
    pub fn ns_b(&self) -> String {
        format!("{}-b", self.ns)
    }

    /// ClerkDomains of namespace `ns`.
    pub fn domains_in(&self, ns: &str) -> Api<ClerkDomain> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Create a ClerkDomain from YAML in namespace `ns` (labelled for this test).
    pub async fn create_in(&self, ns: &str, yaml: &str) -> anyhow::Result<ClerkDomain> {
        let mut obj: ClerkDomain = serde_yaml::from_str(yaml)?;
        obj.metadata.namespace = Some(ns.to_string());
        obj.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(ENV_LABEL.into(), self.ns.clone());
        Ok(self.domains_in(ns).create(&PostParams::default(), &obj).await?)
    }

    /// Create a Secret holding a Clerk key.
    pub async fn secret(&self, name: &str, key: &str, value: &str) -> anyhow::Result<()> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.string_data = Some([(key.to_string(), value.to_string())].into());
        secrets.create(&PostParams::default(), &s).await?;
        Ok(())
    }

    /// Create a ClerkDomain from YAML (namespace filled in).
    pub async fn create(&self, yaml: &str) -> anyhow::Result<ClerkDomain> {
        self.create_in(&self.ns, yaml).await
    }

    /// [`create`](Self::create) taking its YAML by value (for futures that outlive the caller).
    pub async fn create_owned(&self, yaml: String) -> anyhow::Result<ClerkDomain> {
        self.create(&yaml).await
    }

    /// Wait until the named ClerkDomain is Ready and synced with its current generation.
    pub async fn wait_ready(&self, name: &str) -> anyhow::Result<ClerkDomain> {
        self.wait_ready_within(name, CONVERGE).await
    }

    /// Wait until the named ClerkDomain is Ready; its Clerk domain ID.
    pub async fn ready_id(&self, name: &str) -> anyhow::Result<String> {
        let obj = self.wait_ready(name).await?;
        obj.status
            .and_then(|s| s.domain_id)
            .with_context(|| format!("{name} is Ready without status.domainId"))
    }

    /// [`wait_ready`](Self::wait_ready) with a custom timeout.
    pub async fn wait_ready_within(&self, name: &str, timeout: Duration) -> anyhow::Result<ClerkDomain> {
        wait_for(
            &self.domains(),
            name,
            "Ready and Synced",
            timeout,
            |o: &ClerkDomain| {
                is_true(o, "Ready")
                    && is_true(o, "Synced")
                    && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
            },
        )
        .await
    }

    /// Reconciles of ClerkDomains the operator started so far, whatever their result.
    pub fn reconciles(&self) -> u64 {
        let text = self.metrics.encode().unwrap_or_default();
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("clerk_operator_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        total as u64
    }

    /// Delete the named ClerkDomain.
    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        self.domains().delete(name, &DeleteParams::default()).await?;
        Ok(())
    }

    /// Delete the named ClerkDomain and wait until it is gone (its cleanup done).
    pub async fn delete_and_wait(&self, name: &str) -> anyhow::Result<()> {
        self.delete(name).await?;
        wait_gone(&self.domains(), name, CONVERGE).await
    }

    /// Reasons of the Events about the named object.
    pub async fn event_reasons(&self, name: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .events_in(&self.ns, name)
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// `(reason, occurrences)` of the Events about `name` in namespace `ns` (a repeated Event
    /// is one object with a series count).
    pub async fn events_in(&self, ns: &str, name: &str) -> anyhow::Result<Vec<(String, i32)>> {
        use k8s_openapi::api::events::v1::Event;
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let list = events.list(&Default::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| {
                let n = e.series.as_ref().map_or(1, |s| s.count.max(1));
                e.reason.map(|r| (r, n))
            })
            .collect())
    }

    /// Wait until an Event with `reason` about `name` exists.
    pub async fn wait_event(&self, name: &str, reason: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let reasons = self.event_reasons(name).await?;
            if reasons.iter().any(|r| r == reason) {
                return Ok(());
            }
            if start.elapsed() > CONVERGE {
                bail!("no Event {reason} for {name}; saw {reasons:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The condition of `type_`, if set.
pub fn condition<'a>(o: &'a ClerkDomain, type_: &str) -> Option<&'a Condition> {
    o.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is True.
pub fn is_true(o: &ClerkDomain, type_: &str) -> bool {
    condition(o, type_).is_some_and(|c| c.status == "True")
}

/// Run an async test body on its own runtime.
pub fn run_async(
    f: impl std::future::Future<Output = anyhow::Result<()>>,
) -> Result<(), libtest_mimic::Failed> {
    // Operator logs on stderr when RUST_LOG is set (e.g. RUST_LOG=clerk_operator=debug).
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = clerk_operator::telemetry::init(clerk_operator::telemetry::LogFormat::Text, "info");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(f).map_err(|e| format!("{e:#}").into())
}
