//! The HTTP client towards Clerk: one connection pool, the operator's `User-Agent`.

use super::ClientConfig;
use std::time::Duration;

/// The `User-Agent` of every request: `clerk-operator/VERSION`, plus `(IDENTITY)` when given
/// (the pod name), so Clerk's logs and the fake's journal tell replicas apart.
pub fn user_agent(identity: Option<&str>) -> String {
    let base = concat!("clerk-operator/", env!("CARGO_PKG_VERSION"));
    match identity.map(str::trim).filter(|i| !i.is_empty()) {
        // Header values must be visible ASCII: anything else is replaced.
        Some(id) => {
            let id: String = id
                .chars()
                .take(128)
                .map(|c| {
                    if c.is_ascii_graphic() && c != '(' && c != ')' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{base} ({id})")
        }
        None => base.to_string(),
    }
}

/// Build the HTTP client once; clients for each key share its connection pool. It trusts the
/// system's roots and `extra_roots` (`--extra-ca-file`).
pub fn http_client_for(config: &ClientConfig, extra_roots: &[reqwest::Certificate]) -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(user_agent(config.identity.as_deref()))
        .timeout(config.timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .tls_certs_merge(extra_roots.iter().cloned())
        .build()
        .expect("HTTP client builds with rustls")
}
