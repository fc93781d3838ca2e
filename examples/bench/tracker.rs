//! Watching ClerkDomains: when each object was first seen Ready and Synced.

use anyhow::bail;
use clerk_operator::api::ClerkDomain;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Seen {
    /// When Ready=True was first seen, by name.
    pub(crate) ready: HashMap<String, Instant>,
    /// When `observedGeneration == generation` with Synced=True was first seen, by name.
    pub(crate) synced_gen: HashMap<(String, i64), Instant>,
    /// Watch events (object writes) seen after the initial list.
    pub(crate) events: u64,
}

/// A watch on one namespace's ClerkDomains, timestamping what it sees.
pub(crate) struct Tracker {
    pub(crate) seen: Arc<Mutex<Seen>>,
    pub(crate) changed: Arc<tokio::sync::Notify>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

pub(crate) fn cond_true(o: &ClerkDomain, type_: &str) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

/// `BENCH_TRACE`: one watched object's metadata and conditions, on stderr.
fn trace(obj: &ClerkDomain, name: &str) {
    let conds: Vec<String> = obj
        .status
        .iter()
        .flat_map(|st| &st.conditions)
        .map(|c| format!("{}={}/{}", c.type_, c.status, c.reason))
        .collect();
    eprintln!(
        "  trace {name}: rv {:?} gen {:?} finalizers {:?} observedGen {:?} {conds:?}",
        obj.metadata.resource_version,
        obj.metadata.generation,
        obj.metadata.finalizers,
        obj.status.as_ref().and_then(|s| s.observed_generation),
    );
}

impl Tracker {
    pub(crate) async fn start(api: Api<ClerkDomain>) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let changed = Arc::new(tokio::sync::Notify::new());
        let (init_tx, init_rx) = tokio::sync::oneshot::channel();
        let task = {
            let seen = seen.clone();
            let changed = changed.clone();
            tokio::spawn(async move {
                let mut init_tx = Some(init_tx);
                let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
                while let Some(ev) = stream.next().await {
                    let now = Instant::now();
                    let (obj, live) = match ev {
                        Ok(watcher::Event::Apply(o)) => (o, true),
                        Ok(watcher::Event::InitApply(o)) => (o, false),
                        Ok(watcher::Event::InitDone) => {
                            if let Some(tx) = init_tx.take() {
                                let _ = tx.send(());
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    let name = obj.name_any();
                    if live && std::env::var("BENCH_TRACE").is_ok_and(|t| t == name) {
                        trace(&obj, &name);
                    }
                    let mut s = seen.lock().unwrap();
                    if live {
                        s.events += 1;
                    }
                    if cond_true(&obj, "Ready") {
                        s.ready.entry(name.clone()).or_insert(now);
                    }
                    let observed = obj.status.as_ref().and_then(|st| st.observed_generation);
                    if let (Some(g), Some(og)) = (obj.metadata.generation, observed)
                        && g == og
                        && cond_true(&obj, "Synced")
                    {
                        s.synced_gen.entry((name, g)).or_insert(now);
                    }
                    drop(s);
                    changed.notify_waiters();
                }
            })
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), init_rx).await;
        Tracker { seen, changed, task }
    }

    pub(crate) fn events(&self) -> u64 {
        self.seen.lock().unwrap().events
    }

    /// Wait until `done` holds for what was seen, or fail after `guard`.
    pub(crate) async fn wait(
        &self,
        what: &str,
        guard: Duration,
        done: impl Fn(&Seen) -> bool,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let notified = self.changed.notified();
            if done(&self.seen.lock().unwrap()) {
                return Ok(());
            }
            if start.elapsed() > guard {
                bail!("not {what} after {guard:?} (a guard against a hung run, not a timing target)");
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
