//! What a [`TestEnv`](crate::TestEnv) runs the controller with.

use crate::LIVE_KEY;
use std::time::Duration;

/// Options for [`TestEnv::start`](crate::TestEnv::start).
pub struct EnvOptions {
    pub default_key: Option<&'static str>,
    pub resync: Duration,
    pub list_ttl: Duration,
    /// Client-side limit for development keys (default: Clerk's 100/10s).
    pub development_rate: Option<clerk_operator::clerk::Rate>,
    /// Verify DNS against this server (`--dns-verify --dns-resolver`).
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// ClerkDomains reconciled at once (`--concurrency`).
    pub concurrency: u16,
    /// Watch every namespace (objects are told apart by this test's label), with a second
    /// namespace `<ns>-b` for cross-namespace tests.
    pub cluster_wide: bool,
    /// `--default-key-namespaces` (`None`: every namespace).
    pub default_key_namespaces: Option<Vec<String>>,
    /// `--default-instance` (a ClusterClerkInstance; needs `cluster_wide`).
    pub default_instance: Option<String>,
    /// `--secret-protection` (the Secret watch and the in-use finalizer): on in these tests, which
    /// check what it adds; the trials of the default (get-only) mode turn it off.
    pub secret_protection: bool,
    /// `--secret-cache-ttl` (without Secret protection).
    pub secret_cache_ttl: Duration,
    /// `--frontend-api-check` with these settings (port, extra roots, resolver).
    pub frontend_api: Option<clerk_operator::frontend_api::ProbeConfig>,
    /// `--credentials-namespace` set to the test's namespace (the default), or unset.
    pub credentials_namespace: bool,
    /// `--watch-label-selector` (default: the test's label when `cluster_wide`).
    pub selector: Option<String>,
    /// `--instance-label-selector` (default: the test's label when `cluster_wide`).
    pub instance_selector: Option<String>,
    /// Another test's fake Clerk (its `base_url`), so that two operators share one Clerk.
    pub clerk_url: Option<String>,
    /// `--primary-domain-namespaces` lists the test's namespace: its ClerkDomains may manage
    /// the primary domain with the default key.
    pub primary_domains: bool,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            default_key: Some(LIVE_KEY),
            resync: Duration::from_secs(300),
            list_ttl: Duration::from_secs(5),
            development_rate: None,
            dns_resolver: None,
            concurrency: 4,
            cluster_wide: false,
            default_key_namespaces: None,
            default_instance: None,
            secret_protection: true,
            secret_cache_ttl: Duration::from_secs(60),
            frontend_api: None,
            credentials_namespace: true,
            primary_domains: false,
            selector: None,
            instance_selector: None,
            clerk_url: None,
        }
    }
}
