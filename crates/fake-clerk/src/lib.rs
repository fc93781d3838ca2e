//! A stateful, in-memory fake of Clerk's Backend API domain endpoints, faithful to Clerk's
//! OpenAPI spec in shapes and status codes. Tests embed it; the `fake-clerk` binary serves it.
//! The operator never links it: it is a dev-dependency of `clerk-operator` only.

// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

mod errors;
mod fault_settings;
pub mod faults;
mod names;
pub mod platform;
mod server;
mod state;

pub use fault_settings::{FaultStats, Faults, Scripted, ScriptedFault};
pub use platform::PlatformRule;
pub use server::{FakeClerk, FakeConfig, router};
pub use state::{InstanceState, ProxyCheckRule, REQUEST_LOG_LIMIT, RequestRecord, SharedState, State, Stats};

/// Install rustls' ring crypto provider once per process (the proxy-check probe uses reqwest).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
