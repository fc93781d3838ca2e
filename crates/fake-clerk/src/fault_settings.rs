//! What the fake injects (its fault settings, scripted faults, counts) and the rate-limit
//! window it keeps per instance: plain data, read by the state and the fault middleware.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// What to inject. Probabilities are per request, in `[0, 1]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// HTTP status (500, 502, 503, 429) -> probability. The request is not processed.
    pub error_rates: BTreeMap<u16, f64>,
    /// `Retry-After` seconds on injected 429 and 503 responses (default 1).
    pub retry_after_secs: Option<u64>,
    /// Each response is delayed by a uniform random time in `[latency_min_ms, latency_ms]`,
    /// after the request was processed.
    pub latency_ms: u64,
    pub latency_min_ms: u64,
    /// Probability that the connection drops before the request is processed.
    pub drop_rate: f64,
    /// Probability that the request is processed (e.g. a POST commits) but the response is lost.
    pub drop_after_commit_rate: f64,
    /// Emulate Clerk's rate limits per instance: 100 requests / 10 s for development instances,
    /// 1000 / 10 s for production ones (fixed windows), answering 429 with `Retry-After`.
    pub rate_limit: bool,
    /// Override the emulated limit for every instance (requests per window).
    pub rate_limit_requests: Option<u32>,
    /// Override the emulated window length in seconds (default 10).
    pub rate_limit_window_secs: Option<u64>,
    /// Faults for specific upcoming requests, each used once, in order, by the first request
    /// of its operation: makes a test's fault sequence deterministic.
    pub scripted: Vec<Scripted>,
}

/// One scripted fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scripted {
    /// `ListDomains`, `AddDomain`, `UpdateDomain`, `DeleteDomain`, `GetInstance` or
    /// `VerifyDomainProxy`.
    pub operation: String,
    /// Only for requests with this secret key (one instance); any key when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What happens to that request.
    pub fault: ScriptedFault,
}

/// What a scripted fault does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptedFault {
    /// Answer with this status (429 and 503 carry `Retry-After`).
    Status(u16),
    /// Drop the connection without processing.
    Drop,
    /// Process the request, then drop the response.
    DropAfterCommit,
    /// For a `ListDomains`: answer as a reader that has not yet seen the instance's newest
    /// domain (the list without it), as a lagging read of a just committed create would.
    StaleList,
}

/// What was injected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    /// Injected error responses by status.
    pub injected: BTreeMap<u16, u64>,
    /// 429s from the rate-limit emulation.
    pub rate_limited: u64,
    /// Connections dropped before processing.
    pub dropped: u64,
    /// Requests processed whose response was dropped.
    pub dropped_after_commit: u64,
}

/// A fixed rate-limit window of one instance.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: Instant,
    pub count: u32,
}
