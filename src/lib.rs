//! clerk-operator: makes Clerk domains declarative on Kubernetes.
//!
//! - [`api`]: the `ClerkDomain` custom resource.
//! - [`clerk`]: a client for Clerk's Backend API.
//! - [`controller`]: the reconcile loop (pure decisions in [`controller::plan`]).
//! - [`dns`]: external-dns `DNSEndpoint`s for Clerk's records, and DNS verification.
//! - [`frontend_api`]: the Frontend API health probe and extra trust roots.
//! - [`readiness`]: `clerk-operator status`, readiness as the cluster reports it.
//!
//! The fake Clerk for tests and CI is the `fake-clerk` crate (`crates/fake-clerk`), a
//! dev-dependency only.

// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

pub mod api;
pub mod clerk;
pub mod cli;
pub mod controller;
pub mod dns;
pub mod frontend_api;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod readiness;
pub mod telemetry;

/// Install rustls' ring crypto provider once per process (kube and reqwest both use rustls).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
