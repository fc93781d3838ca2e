//! The reconcile loop: wiring ([`run`](run::run)), the shared [`Context`], pure decisions
//! ([`plan`]), and the thin I/O shell that carries them out.

mod apply;
pub mod backoff;
mod children;
mod cleanup;
mod context;
mod converge;
pub mod crds;
pub mod credentials;
mod dns;
mod error;
mod events;
pub mod export;
mod failure;
mod frontend;
pub mod instances;
mod memory;
pub mod ownership;
pub mod plan;
mod platform;
mod probes;
mod proxy;
mod proxy_health;
pub mod reason;
mod reconcile;
mod run;
pub mod secrets;
mod served;
pub mod status;
mod steps;
mod watch;

pub use context::{Config, Context, Stores};
pub use error::Error;
pub use reconcile::{error_policy, reconcile};
pub use run::{run, users_of_secret};
pub use watch::wait_synced;
