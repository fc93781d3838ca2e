//! A stateful, in-memory fake of Clerk's Backend API domain endpoints, faithful to Clerk's
//! OpenAPI spec in shapes and status codes. Tests embed it; `fake-clerk` serves it.

mod errors;
pub mod faults;
mod names;
mod server;
mod state;

pub use faults::{FaultStats, Faults, Scripted, ScriptedFault};
pub use server::{FakeClerk, FakeConfig, router};
pub use state::{InstanceState, ProxyCheckRule, REQUEST_LOG_LIMIT, RequestRecord, SharedState, State, Stats};
