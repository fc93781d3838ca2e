//! The flags of `clerk-operator run`.

use crate::clerk::{DEFAULT_API_VERSION, DEFAULT_BASE_URL, Rate};
use crate::telemetry::LogFormat;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `run`. The default Clerk secret key comes from the environment variable
/// `CLERK_SECRET_KEY` or from `--secret-key-file`, never from a flag (flags show in `ps`).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Path to a kubeconfig; default: $KUBECONFIG, ~/.kube/config, or the in-cluster identity.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Clerk Backend API base URL.
    #[arg(long, env = "CLERK_API_URL", default_value = DEFAULT_BASE_URL)]
    pub clerk_api_url: url::Url,
    /// Clerk Platform API base URL, for instance objects with `spec.platform`.
    #[arg(long, env = "CLERK_PLATFORM_API_URL", default_value = crate::clerk::DEFAULT_PLATFORM_URL)]
    pub clerk_platform_api_url: url::Url,
    /// Value of the `Clerk-API-Version` header.
    #[arg(long, env = "CLERK_API_VERSION", default_value = DEFAULT_API_VERSION)]
    pub clerk_api_version: String,
    /// Timeout of one Clerk request.
    #[arg(long, env = "CLERK_REQUEST_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub clerk_timeout: Duration,
    /// Extra attempts after a transient Clerk failure (5xx, timeout, connection error); a 429
    /// pauses the instance (at most 60 s) and its objects are requeued after the pause.
    #[arg(long, env = "CLERK_RETRIES", default_value_t = 3)]
    pub clerk_retries: u32,
    /// Client-side rate limit for development instances (`sk_test_` keys).
    #[arg(long, env = "CLERK_RATE_LIMIT_DEVELOPMENT", default_value = "100/10s")]
    pub rate_limit_development: Rate,
    /// Client-side rate limit for production instances (`sk_live_` keys).
    #[arg(long, env = "CLERK_RATE_LIMIT_PRODUCTION", default_value = "1000/10s")]
    pub rate_limit_production: Rate,
    /// How long one `GET /domains` answer is shared by all reconciles of an instance.
    #[arg(long, env = "CLERK_LIST_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub list_cache_ttl: Duration,
    /// How long one `GET /domains` answer may be shared while the instance's rate budget is all
    /// in use (during a burst a re-read would cost a write; the operator's own writes keep the
    /// shared list current). At least the TTL; keep it below --resync-period.
    #[arg(long, env = "CLERK_LIST_CACHE_MAX_AGE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub list_cache_max_age: Duration,
    /// Address of the HTTP server for /metrics, /healthz and /readyz (empty: disabled).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: String,
    /// Serve --metrics-addr over HTTPS, and /metrics only to callers whose bearer token the API
    /// server authenticates (TokenReview) and authorizes for `get` on the non-resource URL
    /// /metrics (SubjectAccessReview). /healthz and /readyz stay open. Without it: plain HTTP,
    /// no authentication.
    #[arg(long, env = "METRICS_SECURE")]
    pub metrics_secure: bool,
    /// Directory holding tls.crt and tls.key for --metrics-secure (e.g. a mounted
    /// kubernetes.io/tls Secret); default: a self-signed certificate made at start.
    #[arg(long, env = "METRICS_CERT_DIR")]
    pub metrics_cert_dir: Option<PathBuf>,
    /// Check that each required CNAME record resolves to Clerk's target (condition DNSVerified).
    #[arg(long, env = "DNS_VERIFY")]
    pub dns_verify: bool,
    /// DNS server for --dns-verify and --frontend-api-check (e.g. 10.0.0.10:53); default: the
    /// system resolver.
    #[arg(long, env = "DNS_RESOLVER")]
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Probe each production domain's Frontend API: `GET https://<frontend API host>/v1/health`
    /// over the domain's own host (condition FrontendAPIReachable), and for domains with a proxy
    /// `GET <proxyUrl>/v1/proxy-health` through the proxy (the X-Forwarded-For Clerk saw, in
    /// ProxyVerified's message). Makes outbound HTTPS requests to the domains' hosts and
    /// proxies; resolves through --dns-resolver when given.
    #[arg(long, env = "FRONTEND_API_CHECK")]
    pub frontend_api_check: bool,
    /// Port of the Frontend API probe (tests serve it on loopback); production: 443.
    #[arg(long, env = "FRONTEND_API_PORT", default_value_t = 443, hide = true)]
    pub frontend_api_port: u16,
    /// A PEM bundle of CA certificates trusted besides the system's, by the Clerk API client and
    /// the Frontend API probe (a corporate TLS-inspecting proxy, a private CA).
    #[arg(long, env = "EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,
    /// Hold a Lease so that only one replica reconciles at a time.
    #[arg(long, env = "LEADER_ELECT")]
    pub leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "clerk-operator")]
    pub lease_name: String,
    /// The operator's namespace (in a cluster: the Pod's): the leader election Lease lives
    /// there.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// The namespace of ClusterClerkInstances' Secrets (the chart sets the release namespace).
    /// Unset, ClusterClerkInstances are not used (reason `CredentialsNamespaceNotSet`): no
    /// namespace is assumed.
    #[arg(long, env = "CREDENTIALS_NAMESPACE")]
    pub credentials_namespace: Option<String>,
    /// A ClusterClerkInstance that ClerkDomains without spec.instanceRef and spec.secretRef
    /// use (instead of the default key), subject to its namespaceSelector. Needs the operator
    /// to watch every namespace (no --namespace).
    #[arg(long, env = "DEFAULT_INSTANCE")]
    pub default_instance: Option<String>,
    /// How long the Lease stays valid without renewal; a standby takes over after it.
    #[arg(long, env = "LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// Safety margin: the leader stops writing to Clerk this long before a standby may take over
    /// (it renews every min(2s, (duration - grace)/4) and stops after duration - grace without a
    /// successful renewal).
    #[arg(long, env = "LEASE_RENEW_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub lease_grace: Duration,
    /// File holding the default Clerk secret key (used when CLERK_SECRET_KEY is unset).
    #[arg(long, env = "CLERK_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Secret protection: watch Secrets' metadata and put the clerk-operator.io/in-use finalizer
    /// on the Secrets in use, so that deleting a namespace cannot take a key away before its
    /// ClerkDomains are cleaned up. Needs list, watch and patch on Secrets; without it the
    /// operator only gets the Secrets it is pointed at.
    #[arg(long, env = "SECRET_PROTECTION")]
    pub secret_protection: bool,
    /// Without --secret-protection: how long a key read from a Secret is used before the Secret
    /// is read again (a rotated key is picked up by the first reconcile after that).
    #[arg(long, env = "SECRET_CACHE_TTL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub secret_cache_ttl: Duration,
    /// How often each ClerkDomain is compared with Clerk when nothing changes.
    #[arg(long, env = "RESYNC_PERIOD", default_value = "5m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Namespaces whose ClerkDomains may use the default key (comma-separated); `*` allows
    /// every namespace. ClerkDomains elsewhere must set spec.secretRef.
    #[arg(long, env = "DEFAULT_KEY_NAMESPACES", default_value = "*", value_parser = Namespaces::parse)]
    pub default_key_namespaces: Namespaces,
    /// Reconcile only ClerkDomains matching this label selector (e.g. `shard=a`), so several
    /// operators can split the objects between them. Instance objects are not filtered by it.
    #[arg(long, env = "WATCH_LABEL_SELECTOR")]
    pub watch_label_selector: Option<String>,
    /// Serve (check and write the status of) only ClerkInstances and ClusterClerkInstances
    /// matching this label selector, when two operator installations share a cluster.
    /// ClerkDomains may still use the others.
    #[arg(long, env = "INSTANCE_LABEL_SELECTOR")]
    pub instance_label_selector: Option<String>,
    /// Namespaces whose ClerkDomains may manage the primary domain with the default key
    /// (comma-separated); empty (the default): none. Instance objects allow it per object.
    #[arg(long, env = "PRIMARY_DOMAIN_NAMESPACES", default_value = "", value_parser = Namespaces::parse)]
    pub primary_domain_namespaces: Namespaces,
    /// How many ClerkDomains are reconciled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level or filter (e.g. `info`, `clerk_operator=debug`); RUST_LOG overrides it.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// A comma-separated list of namespaces, as a flag gives it: each name trimmed, empty ones
/// dropped (so `""` is no namespace).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespaces(pub Vec<String>);

impl Namespaces {
    /// Parse `a, b,c`.
    pub fn parse(text: &str) -> Result<Self, std::convert::Infallible> {
        let names = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Self(names))
    }

    /// The namespaces, or `None` when `*` (every namespace) is among them.
    pub fn unless_every(&self) -> Option<Vec<String>> {
        (!self.0.iter().any(|n| n == "*")).then(|| self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::Namespaces;

    #[test]
    fn namespace_lists_are_trimmed_and_star_means_every_namespace() {
        let parse = |t: &str| Namespaces::parse(t).unwrap();
        assert_eq!(parse(" a, ,b ").0, vec!["a", "b"]);
        assert_eq!(parse(""), Namespaces::default());
        assert_eq!(parse("a, *").unless_every(), None);
        assert_eq!(parse("a").unless_every(), Some(vec!["a".to_string()]));
    }
}
