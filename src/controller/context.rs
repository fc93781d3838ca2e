use crate::clerk::{ClerkClient, ClientConfig, SecretKey};
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Operator settings, from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// Clerk API base URL, version and timeout.
    pub clerk: ClientConfig,
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            clerk: ClientConfig::default(),
            default_key: None,
            resync: Duration::from_secs(300),
            namespace: None,
            concurrency: 8,
            instance: None,
        }
    }
}

/// What every reconcile shares: clients, the event recorder, settings, failure counts.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Events (events.k8s.io).
    pub recorder: Recorder,
    /// Settings.
    pub config: Config,
    http: reqwest::Client,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// Build the context; one HTTP connection pool serves every Clerk instance.
    pub fn new(client: Client, config: Config) -> Self {
        let reporter = Reporter {
            controller: "clerk-operator".into(),
            instance: config.instance.clone(),
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Self {
            client,
            recorder,
            http: crate::clerk::http_client_for(&config.clerk),
            config,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// A Clerk client for `key`, sharing the connection pool.
    pub fn clerk(&self, key: SecretKey) -> ClerkClient {
        ClerkClient::with_http(self.http.clone(), self.config.clerk.clone(), key)
    }

    /// Count one more consecutive failure of `object`; returns the new count.
    pub fn note_failure(&self, object: &str) -> u32 {
        let mut f = self.failures.lock().unwrap();
        let n = f.entry(object.to_string()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// Forget the failures of `object` after a success.
    pub fn note_success(&self, object: &str) {
        self.failures.lock().unwrap().remove(object);
    }
}
