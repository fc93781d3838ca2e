//! Scenario 5: single-object latency, apply→Ready and spec change→status.

use crate::LIVE_KEY;
use crate::env::{Env, domain};
use crate::processes::{Fake, Operator, OperatorRun};
use crate::tracker::Tracker;
use anyhow::bail;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};
use test_kit::process::Usage;

/// Sequential single-object latencies.
#[derive(Clone, Debug, Default)]
pub(crate) struct Latency {
    pub(crate) trials: usize,
    pub(crate) ready: Vec<Duration>,
    pub(crate) update: Vec<Duration>,
    pub(crate) usage: Usage,
}

pub(crate) async fn latency(env: &Env, fake: &Fake) -> anyhow::Result<Latency> {
    let ns = "bench-latency";
    let api = env.namespace(ns).await?;
    let op = Operator::start(
        env,
        fake,
        OperatorRun::new("operator-latency", ns, LIVE_KEY, Duration::from_secs(300)),
    )
    .await?;
    let tracker = Tracker::start(api.clone()).await;
    let mut out = Latency {
        trials: env.args.trials,
        ..Default::default()
    };
    let guard = Duration::from_secs(120);
    for i in 0..env.args.trials {
        let name = format!("l{i:04}");
        let t0 = Instant::now();
        api.create(&PostParams::default(), &domain(ns, &name)).await?;
        let r = tracker
            .wait("Ready", guard, |s| s.ready.contains_key(&name))
            .await;
        if let Err(e) = r {
            bail!("{e:#}\n{}", op.proc.log_tail(40));
        }
        out.ready
            .push(tracker.seen.lock().unwrap().ready[&name].saturating_duration_since(t0));
        let t1 = Instant::now();
        let patched = api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"isSecondary": true}})),
            )
            .await?;
        let generation = patched.metadata.generation.unwrap_or(2);
        let key = (name.clone(), generation);
        let r = tracker
            .wait("synced after the spec change", guard, |s| {
                s.synced_gen.contains_key(&key)
            })
            .await;
        if let Err(e) = r {
            bail!("{e:#}\n{}", op.proc.log_tail(40));
        }
        out.update
            .push(tracker.seen.lock().unwrap().synced_gen[&key].saturating_duration_since(t1));
    }
    out.ready.sort();
    out.update.sort();
    out.usage = op.usage()?;
    Ok(out)
}
