//! Winding a run down: switch the key back and unpause, stop the kills and the faults, start
//! fresh operators and wait until everything converged.

use super::*;

/// What winding down measured and collected.
pub(super) struct Ending {
    /// The faults the fake injected before they stopped.
    pub(super) injected: FaultStats,
    /// The domain ID of every live object, once converged.
    pub(super) converged: anyhow::Result<BTreeMap<String, String>>,
    /// How long convergence took after the faults stopped.
    pub(super) converge_time: Duration,
    pub(super) kills: usize,
    pub(super) exits: usize,
    /// Every operator process's log.
    pub(super) logs: String,
    pub(super) stats: Stats,
}

/// Unpause, stop faults and kills, start fresh operators, converge, stop them.
pub(super) async fn wind_down(world: &mut World, w: &mut Workload) -> anyhow::Result<Ending> {
    let World {
        client,
        keys,
        fake,
        operators,
        poll_stop,
        poller,
        killer,
        ..
    } = world;
    if w.sw.active() {
        switch_back(client, keys, &mut w.sw).await?;
        w.ops.add("Secret key switched back");
    }
    for o in w.objs.iter_mut().filter(|o| o.deleted.is_none() && o.paused) {
        let api: Api<ClerkDomain> = Api::namespaced(client.clone(), &o.ns);
        let patch = Patch::Merge(json!({"metadata": {"annotations": {"clerk-operator.io/paused": null}}}));
        let pp = PatchParams::default();
        retry("unpause", || api.patch(&o.name, &pp, &patch)).await?;
        o.paused = false;
    }
    killer.stop.store(true, Ordering::SeqCst);
    (&mut killer.task).await?;
    let injected = fake.fault_stats();
    fake.set_faults(Faults::default());
    {
        let mut op = operators.lock().unwrap();
        op.kill(0);
        op.kill(1);
        op.start(0)?;
        op.start(1)?;
    }
    let faults_stopped = Instant::now();
    let converged = converge(client, &w.objs, fake, keys, Duration::from_secs(600)).await;
    let converge_time = faults_stopped.elapsed();
    poll_stop.store(true, Ordering::SeqCst);
    poller.await?;
    let (kills, exits, logs) = {
        let mut op = operators.lock().unwrap();
        op.stop();
        (op.kills, op.exits, std::mem::take(&mut op.logs))
    };
    Ok(Ending {
        injected,
        converged,
        converge_time,
        kills,
        exits,
        logs,
        stats: fake.stats(),
    })
}
