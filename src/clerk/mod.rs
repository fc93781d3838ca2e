//! Small clients for Clerk's Backend API (the domain endpoints and `GET /instance`) and for
//! its Platform API (a domain's readiness), sharing one HTTP connection pool and one send path.

mod bearer;
mod cache;
mod client;
mod error;
mod platform_client;
mod pool;
mod throttle;

pub use bearer::PlatformToken;
pub use clerk_model::*;
pub use client::{
    ClerkClient, ClientConfig, DEFAULT_API_VERSION, DEFAULT_BASE_URL, ListedDomains, MAX_RETRY_AFTER,
    http_client_for, user_agent,
};
pub use error::{ClerkApiError, ClerkError, ErrorItem};
pub use platform_client::{CheckStarted, DEFAULT_PLATFORM_URL, PlatformClient};
pub use pool::{ClerkInstance, ClerkPool, PLATFORM_RATE, PoolConfig};
pub use throttle::{Rate, Throttle, Wait};

/// An instance's domains as the list cache shares them: one immutable list of shared domains,
/// so that a write to the cache while a reader holds the list copies pointers, not domains.
pub type SharedDomains = std::sync::Arc<Vec<std::sync::Arc<Domain>>>;
