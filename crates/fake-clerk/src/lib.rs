//! A stateful, in-memory fake of Clerk's Backend API domain endpoints, faithful to Clerk's
//! OpenAPI spec in shapes and status codes. Tests embed it; the `fake-clerk` binary serves it.
//! The operator never links it: it is a dev-dependency of `clerk-operator` only.

mod errors;
pub mod faults;
mod names;
mod server;
mod state;

pub use faults::{FaultStats, Faults, Scripted, ScriptedFault};
pub use server::{FakeClerk, FakeConfig, router};
pub use state::{InstanceState, ProxyCheckRule, REQUEST_LOG_LIMIT, RequestRecord, SharedState, State, Stats};

/// Install rustls' ring crypto provider once per process (the proxy-check probe uses reqwest).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
