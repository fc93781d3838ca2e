//! One soak, in phases: [`setup`] (control plane, fake Clerk, operators, killer), [`drive`] (the
//! seeded workload and the events scheduled in it), [`wind_down`] (faults and kills stop, then
//! convergence) and [`invariants`] (the final checks); this module holds their shared pieces.

use crate::model::{self, Deleted, Hostile, Obj, Squat};
use anyhow::{Context as _, bail, ensure};
use clerk_operator::api::ClerkDomain;
use fake_clerk::{FakeClerk, FakeConfig, FaultStats, Faults, RequestRecord, Stats};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_kit::controlplane::ControlPlane;
use test_kit::cut_proxy::CutProxy;
use test_kit::operator_process::{OperatorOptions, OperatorProcess};
use tokio::task::JoinHandle;

/// Try `attempt` until it succeeds, for at most 90 s; false when it never did.
macro_rules! insist {
    ($attempt:expr) => {{
        let start = Instant::now();
        loop {
            if $attempt {
                break true;
            }
            if start.elapsed() > Duration::from_secs(90) {
                break false;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }};
}

mod attacks;
mod converge;
mod drive;
mod invariants;
mod operators;
mod setup;
mod switch;
mod wind_down;

use attacks::*;
use converge::*;
use drive::Workload;
use operators::*;
pub(crate) use operators::{Acquired, Cut, check_writes};
use setup::World;
use switch::*;
pub(crate) use switch::{Switch, check_switch, tally};
use wind_down::Ending;

/// One run's parameters.
pub struct Config {
    pub seed: u64,
    pub objects: usize,
    pub min_kills: usize,
}

/// Namespaces, and the Clerk instance each one uses: `a*` the operator's default key, `b*` a
/// Secret in the namespace.
const NAMESPACES: [(&str, usize); 5] = [
    ("chaos-a0", 0),
    ("chaos-a1", 0),
    ("chaos-b0", 1),
    ("chaos-b1", 1),
    ("chaos-b2", 1),
];
/// The namespace whose Secret is switched to the other instance's key for a while.
const SWITCH_NAMESPACE: &str = "chaos-b2";
/// How long the key stays switched, at least; writes in flight when it switched may land
/// during the first `SWITCH_GRACE` of it.
const SWITCH_MIN: Duration = Duration::from_secs(40);
pub(crate) const SWITCH_GRACE: Duration = Duration::from_secs(20);
/// The leader election Lease of the two operator processes, and its timing.
const LEASE_NS: &str = "default";
const LEASE_NAME: &str = "clerk-operator-chaos";
const LEASE_DURATION: Duration = Duration::from_secs(6);
const LEASE_GRACE: Duration = Duration::from_secs(2);
/// The namespace deleted as a whole mid-run.
const DOOMED_NAMESPACE: &str = "chaos-b1";
/// The namespace whose Secret is deleted before its ClerkDomains.
const SECRET_GONE_NAMESPACE: &str = "chaos-b0";

fn faults() -> Faults {
    Faults {
        error_rates: [(500, 0.10), (502, 0.05), (503, 0.05), (429, 0.05)].into(),
        retry_after_secs: Some(1),
        latency_ms: 1000,
        drop_rate: 0.02,
        drop_after_commit_rate: 0.03,
        ..Default::default()
    }
}

/// Op counters for the summary.
#[derive(Default, Debug)]
struct Ops(BTreeMap<&'static str, usize>);

impl Ops {
    fn add(&mut self, what: &'static str) {
        *self.0.entry(what).or_default() += 1;
    }
}

/// Retry a Kubernetes call through apiserver restarts.
async fn retry<T, F, Fut>(what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() < Duration::from_secs(90) => {
                tracing_free_log(&format!("{what}: {e}; retrying"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context(what.to_string()),
        }
    }
}

fn tracing_free_log(msg: &str) {
    if std::env::var_os("CHAOS_VERBOSE").is_some() {
        eprintln!("[chaos] {msg}");
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

fn domain_for(name: &str, ns: &str, generation: usize) -> String {
    format!("{name}-v{generation}.{ns}.chaos.example.com")
}

fn manifest(o: &Obj) -> anyhow::Result<ClerkDomain> {
    let mut spec =
        json!({"domain": o.domain, "deletionPolicy": if o.orphan_policy { "Orphan" } else { "Delete" }});
    if let Some(p) = &o.proxy {
        spec["proxyUrl"] = json!(p);
    }
    if o.instance == 1 {
        spec["secretRef"] = json!({"name": "clerk", "key": "key"});
    }
    let mut metadata = json!({"name": o.name, "namespace": o.ns});
    if let Some(id) = o.hostile.as_ref().and_then(|h| h.by_annotation.as_ref()) {
        metadata["annotations"] = json!({"clerk-operator.io/domain-id": id});
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1",
        "kind": "ClerkDomain",
        "metadata": metadata,
        "spec": spec,
    }))?)
}

/// Run one soak; fails with every invariant violation found.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut world = setup::start(&cfg).await?;
    let mut workload = drive::drive(&cfg, &mut world).await?;
    let workload_done = started.elapsed();
    let end = wind_down::wind_down(&mut world, &mut workload).await?;
    invariants::check(&cfg, &world, workload, end, workload_done).await
}
