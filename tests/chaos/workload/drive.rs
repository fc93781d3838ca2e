//! The seeded workload: events scheduled at fixed points of its progress (the leader cut, the
//! Secret deletion, forced squats and hostile objects, the key switch, the kube-apiserver
//! restart, the namespace deletion) between random creates and changes of ClerkDomains.

use super::*;

mod change;
use change::change_one;

/// What the workload did to the objects, and what went wrong on the way.
#[derive(Default)]
pub(super) struct Workload {
    pub(super) objs: Vec<Obj>,
    pub(super) ops: Ops,
    pub(super) problems: Vec<String>,
    pub(super) sw: Switch,
    pub(super) created: usize,
}

/// The scheduled events that already happened.
#[derive(Default)]
struct Scheduled {
    secret_deleted: bool,
    apiserver_restarted: bool,
    namespace_deleted: bool,
    /// The squat and hostile object forced at 25 % and at 55 %.
    forced: [bool; 2],
}

/// Run the workload of `cfg.seed`; faults and kills go on meanwhile.
pub(super) async fn drive(cfg: &Config, world: &mut World) -> anyhow::Result<Workload> {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut w = Workload::default();
    let mut done = Scheduled::default();
    let total_ops = cfg.objects + cfg.objects * 3 / 4;
    for step in 0..total_ops {
        let progress = step as f64 / total_ops as f64;
        scheduled(world, &mut w, &mut done, &mut rng, progress).await?;
        let live: Vec<usize> = (0..w.objs.len())
            .filter(|&i| w.objs[i].deleted.is_none())
            .collect();
        let create = w.created < cfg.objects && (live.is_empty() || rng.random::<f64>() < 0.6);
        if create {
            create_one(world, &mut w, done.namespace_deleted, &mut rng, progress).await?;
        } else {
            let i = live[rng.random_range(0..live.len())];
            change_one(world, &mut w, i, done.namespace_deleted, &mut rng).await?;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..250))).await;
    }
    Ok(w)
}

/// The events due at `progress` that did not happen yet.
async fn scheduled(
    world: &mut World,
    w: &mut Workload,
    done: &mut Scheduled,
    rng: &mut StdRng,
    progress: f64,
) -> anyhow::Result<()> {
    let World {
        client,
        keys,
        fake,
        nss,
        killer,
        cp,
        ..
    } = world;
    if !killer.cut_requested.load(Ordering::SeqCst)
        && killer.cut_result.lock().unwrap().is_none()
        && progress >= 0.3
    {
        killer.cut_requested.store(true, Ordering::SeqCst);
    }
    if !done.secret_deleted && progress >= 0.4 {
        done.secret_deleted = true;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), SECRET_GONE_NAMESPACE);
        retry("delete Secret", || async {
            secrets
                .delete("clerk", &DeleteParams::default())
                .await
                .map(|_| ())
        })
        .await?;
        w.ops.add("secret deleted before its ClerkDomains");
    }
    forced_attacks(client, fake, keys, w, done, rng, progress).await?;
    if w.sw.at.is_none() && progress >= 0.45 {
        switch_key(client, &w.objs, keys, fake, &mut w.sw).await?;
        w.ops.add("Secret key switched to the other instance");
    }
    if w.sw.at.is_some()
        && w.sw.back_at.is_none()
        && progress >= 0.75
        && w.sw.started.is_some_and(|s| s.elapsed() >= SWITCH_MIN)
    {
        switch_back(client, keys, &mut w.sw).await?;
        w.ops.add("Secret key switched back");
    }
    if !done.apiserver_restarted && progress >= 0.5 {
        done.apiserver_restarted = true;
        tokio::task::block_in_place(|| cp.restart_apiserver());
        w.ops.add("kube-apiserver restart");
    }
    if !done.namespace_deleted && progress >= 0.6 {
        done.namespace_deleted = true;
        delete_doomed_namespace(nss, w).await?;
    }
    Ok(())
}

/// Create the next object, in a random namespace that is neither deleted nor being switched.
async fn create_one(
    world: &World,
    w: &mut Workload,
    namespace_deleted: bool,
    rng: &mut StdRng,
    progress: f64,
) -> anyhow::Result<()> {
    let switching = progress >= 0.35 && w.sw.back_at.is_none();
    let mut choices: Vec<(&str, usize)> = NAMESPACES.to_vec();
    choices.retain(|(ns, _)| !(namespace_deleted && *ns == DOOMED_NAMESPACE));
    choices.retain(|(ns, _)| !(switching && *ns == SWITCH_NAMESPACE));
    let (ns, instance) = choices[rng.random_range(0..choices.len())];
    let name = format!("o{}", w.created);
    let domain = domain_for(&name, ns, 0);
    let proxy = (rng.random::<f64>() < 0.3).then(|| format!("https://{domain}/__clerk"));
    let o = Obj {
        ns: ns.into(),
        name,
        instance,
        orphan_policy: rng.random::<f64>() < 0.2,
        names: [domain.clone()].into(),
        domain,
        proxy,
        paused: false,
        deleted: None,
        squat: None,
        hostile: None,
    };
    let api: Api<ClerkDomain> = Api::namespaced(world.client.clone(), &o.ns);
    let body = manifest(&o)?;
    retry("create", || async {
        match api.create(&PostParams::default(), &body).await {
            Err(e) if is_status(&e, 409) => Ok(body.clone()),
            other => other,
        }
    })
    .await?;
    w.objs.push(o);
    w.created += 1;
    w.ops.add("create");
    Ok(())
}

/// Squats and hostile objects need settled objects: make sure each happens at least once,
/// waiting for the operator if need be.
async fn forced_attacks(
    client: &Client,
    fake: &FakeClerk,
    keys: &[String; 2],
    w: &mut Workload,
    done: &mut Scheduled,
    rng: &mut StdRng,
    progress: f64,
) -> anyhow::Result<()> {
    for (n, at) in [0.25, 0.55].into_iter().enumerate() {
        if !done.forced[n] && progress >= at {
            done.forced[n] = true;
            if !insist!(try_squat(&mut w.objs, client, fake, keys, rng, &mut w.problems).await?) {
                w.problems
                    .push(format!("no settled pair to squat at progress {at}"));
            } else {
                w.ops.add("rename into a taken name");
            }
            let by_annotation = n == 0;
            let deleted = done.namespace_deleted;
            if !insist!(
                try_hostile(
                    &mut w.objs,
                    by_annotation,
                    deleted,
                    client,
                    fake,
                    keys,
                    rng,
                    &mut w.problems
                )
                .await?
            ) {
                w.problems.push(format!("no settled victim at progress {at}"));
            } else {
                w.ops.add(if by_annotation {
                    "hostile by annotation"
                } else {
                    "hostile by name"
                });
            }
        }
    }
    Ok(())
}

/// Delete the doomed namespace, its live objects with it.
async fn delete_doomed_namespace(nss: &Api<Namespace>, w: &mut Workload) -> anyhow::Result<()> {
    let at = jiff::Timestamp::now();
    for o in w
        .objs
        .iter_mut()
        .filter(|o| o.ns == DOOMED_NAMESPACE && o.deleted.is_none())
    {
        o.deleted = Some(Deleted {
            orphaned: o.orphan_policy || o.paused,
            domain_id: None,
            at,
        });
    }
    retry("delete namespace", || async {
        nss.delete(DOOMED_NAMESPACE, &DeleteParams::default())
            .await
            .map(|_| ())
    })
    .await?;
    w.ops.add("namespace deletion");
    Ok(())
}
