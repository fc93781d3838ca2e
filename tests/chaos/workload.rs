//! The seeded workload, the fault schedule, convergence and the final checks.

use crate::model::{self, Deleted, Hostile, Obj, Squat};
use anyhow::{Context as _, bail, ensure};
use clerk_operator::api::ClerkDomain;
use fake_clerk::{FakeClerk, FakeConfig, Faults, RequestRecord};
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
mod operators;
mod switch;

use attacks::*;
use converge::*;
use operators::*;
pub(crate) use operators::{Acquired, Cut, check_writes};
use switch::*;
pub(crate) use switch::{Switch, check_switch};

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
    let mut cp = ControlPlane::start();
    cp.install_crds();
    let client = cp.client().await;
    let keys = [
        format!("sk_live_chaos_a_{:08x}", cfg.seed),
        format!("sk_live_chaos_b_{:08x}", cfg.seed),
    ];
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: keys.to_vec(),
        faults: faults(),
        ..Default::default()
    })
    .await?;

    let nss: Api<Namespace> = Api::all(client.clone());
    for (ns, instance) in NAMESPACES {
        let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        nss.create(&PostParams::default(), &n).await?;
        if instance == 1 {
            let s: Secret = serde_json::from_value(json!({
                "metadata": {"name": "clerk", "namespace": ns},
                "stringData": {"key": keys[1]},
            }))?;
            Api::<Secret>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &s)
                .await?;
        }
    }

    // Slot `a` talks to the API server through a proxy that can cut it off.
    let upstream: std::net::SocketAddr = cp
        .server
        .trim_start_matches("https://")
        .parse()
        .context("API server address")?;
    let proxy = Arc::new(CutProxy::start(upstream).await?);
    let proxied = cp.kubeconfig.with_file_name("chaos-proxied-kubeconfig");
    std::fs::write(
        &proxied,
        std::fs::read_to_string(&cp.kubeconfig)?.replace(&cp.server, &format!("https://{}", proxy.addr())),
    )?;
    let opts = OperatorOptions {
        binary: env!("CARGO_BIN_EXE_clerk-operator").into(),
        kubeconfig: cp.kubeconfig.clone(),
        clerk_api_url: fake.base_url(),
        secret_key: Some(keys[0].clone()),
        lease: Some((LEASE_NS.into(), LEASE_NAME.into())),
        lease_timing: Some((LEASE_DURATION, LEASE_GRACE)),
        extra_args: vec![
            "--resync-period=30s".into(),
            "--clerk-timeout=5s".into(),
            "--concurrency=8".into(),
        ],
        ..Default::default()
    };
    let operators = Arc::new(Mutex::new(Operators {
        slots: [
            (
                OperatorOptions {
                    kubeconfig: proxied,
                    ..opts.clone()
                },
                None,
            ),
            (opts, None),
        ],
        logs: String::new(),
        kills: 0,
        exits: 0,
        starts: 0,
    }));
    {
        let mut op = operators.lock().unwrap();
        op.start(0)?;
        op.start(1)?;
    }
    let poll_stop = Arc::new(AtomicBool::new(false));
    let (timeline, poller) = poll_lease(client.clone(), poll_stop.clone());

    // Kill one of the operators at random moments until told to stop and at least `min_kills`
    // happened; once asked, cut the leader off from the API server (no kills meanwhile).
    let stop = Arc::new(AtomicBool::new(false));
    let cut_requested = Arc::new(AtomicBool::new(false));
    let cut_result: Arc<Mutex<Option<Result<Cut, String>>>> = Default::default();
    let killer = {
        let (operators, stop, cut_requested, cut_result, timeline, proxy) = (
            operators.clone(),
            stop.clone(),
            cut_requested.clone(),
            cut_result.clone(),
            timeline.clone(),
            proxy.clone(),
        );
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6b696c6c);
        let min_kills = cfg.min_kills;
        tokio::spawn(async move {
            loop {
                let wait = rng.random_range(2000..5000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if cut_requested.swap(false, Ordering::SeqCst) {
                    let r = cut_the_leader(&operators, &proxy, &timeline).await;
                    *cut_result.lock().unwrap() = Some(r.map_err(|e| format!("{e:#}")));
                    continue;
                }
                let mut op = operators.lock().unwrap();
                if let Err(e) = op.reap() {
                    eprintln!("[chaos] restarting an operator failed: {e:#}");
                }
                if stop.load(Ordering::SeqCst) && op.kills >= min_kills {
                    return;
                }
                let slot = rng.random_range(0..2);
                op.kill(slot);
                if let Err(e) = op.start(slot) {
                    eprintln!("[chaos] restarting the operator failed: {e:#}");
                }
            }
        })
    };

    // The workload.
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut objs: Vec<Obj> = vec![];
    let mut ops = Ops::default();
    let mut problems: Vec<String> = vec![];
    let mut sw = Switch::default();
    let total_ops = cfg.objects + cfg.objects * 3 / 4;
    let (mut secret_deleted, mut apiserver_restarted, mut namespace_deleted) = (false, false, false);
    let mut forced = [false; 2];
    let mut created = 0;
    for step in 0..total_ops {
        let progress = step as f64 / total_ops as f64;
        if !cut_requested.load(Ordering::SeqCst) && cut_result.lock().unwrap().is_none() && progress >= 0.3 {
            cut_requested.store(true, Ordering::SeqCst);
        }
        if !secret_deleted && progress >= 0.4 {
            secret_deleted = true;
            let secrets: Api<Secret> = Api::namespaced(client.clone(), SECRET_GONE_NAMESPACE);
            retry("delete Secret", || async {
                secrets
                    .delete("clerk", &DeleteParams::default())
                    .await
                    .map(|_| ())
            })
            .await?;
            ops.add("secret deleted before its ClerkDomains");
        }
        // Squats and hostile objects need settled objects: make sure each happens at least
        // once, waiting for the operator if need be.
        for (n, at) in [0.25, 0.55].into_iter().enumerate() {
            if !forced[n] && progress >= at {
                forced[n] = true;
                let p = &mut problems;
                if !insist!(try_squat(&mut objs, &client, &fake, &keys, &mut rng, p).await?) {
                    problems.push(format!("no settled pair to squat at progress {at}"));
                } else {
                    ops.add("rename into a taken name");
                }
                let by_annotation = n == 0;
                let p = &mut problems;
                if !insist!(
                    try_hostile(
                        &mut objs,
                        by_annotation,
                        namespace_deleted,
                        &client,
                        &fake,
                        &keys,
                        &mut rng,
                        p
                    )
                    .await?
                ) {
                    problems.push(format!("no settled victim at progress {at}"));
                } else {
                    ops.add(if by_annotation {
                        "hostile by annotation"
                    } else {
                        "hostile by name"
                    });
                }
            }
        }
        if sw.at.is_none() && progress >= 0.45 {
            switch_key(&client, &objs, &keys, &fake, &mut sw).await?;
            ops.add("Secret key switched to the other instance");
        }
        if sw.at.is_some()
            && sw.back_at.is_none()
            && progress >= 0.75
            && sw.started.is_some_and(|s| s.elapsed() >= SWITCH_MIN)
        {
            switch_back(&client, &keys, &mut sw).await?;
            ops.add("Secret key switched back");
        }
        if !apiserver_restarted && progress >= 0.5 {
            apiserver_restarted = true;
            tokio::task::block_in_place(|| cp.restart_apiserver());
            ops.add("kube-apiserver restart");
        }
        if !namespace_deleted && progress >= 0.6 {
            namespace_deleted = true;
            let at = jiff::Timestamp::now();
            for o in objs
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
            ops.add("namespace deletion");
        }
        let live: Vec<usize> = (0..objs.len()).filter(|&i| objs[i].deleted.is_none()).collect();
        let create = created < cfg.objects && (live.is_empty() || rng.random::<f64>() < 0.6);
        if create {
            let switching = progress >= 0.35 && sw.back_at.is_none();
            let mut choices: Vec<(&str, usize)> = NAMESPACES.to_vec();
            choices.retain(|(ns, _)| !(namespace_deleted && *ns == DOOMED_NAMESPACE));
            choices.retain(|(ns, _)| !(switching && *ns == SWITCH_NAMESPACE));
            let (ns, instance) = choices[rng.random_range(0..choices.len())];
            let name = format!("o{created}");
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
            let api: Api<ClerkDomain> = Api::namespaced(client.clone(), &o.ns);
            let body = manifest(&o)?;
            retry("create", || async {
                match api.create(&PostParams::default(), &body).await {
                    Err(e) if is_status(&e, 409) => Ok(body.clone()),
                    other => other,
                }
            })
            .await?;
            objs.push(o);
            created += 1;
            ops.add("create");
        } else {
            let i = live[rng.random_range(0..live.len())];
            let api: Api<ClerkDomain> = Api::namespaced(client.clone(), &objs[i].ns);
            let name = objs[i].name.clone();
            let mut roll: f64 = rng.random();
            let pp = PatchParams::default();
            let guarded = protected(&objs, &objs[i].key());
            if roll < 0.12 {
                let p = &mut problems;
                let op = if roll < 0.06 {
                    try_squat(&mut objs, &client, &fake, &keys, &mut rng, p)
                        .await?
                        .then_some("rename into a taken name")
                } else {
                    let by_annotation = roll < 0.09;
                    try_hostile(
                        &mut objs,
                        by_annotation,
                        namespace_deleted,
                        &client,
                        &fake,
                        &keys,
                        &mut rng,
                        p,
                    )
                    .await?
                    .then_some(if by_annotation {
                        "hostile by annotation"
                    } else {
                        "hostile by name"
                    })
                };
                ops.add(op.unwrap_or("squat/hostile skipped (nothing settled)"));
            } else if objs[i].hostile.is_some() && roll < 0.65 {
                // Hostile objects are only ever deleted.
                ops.add("hostile left alone");
            } else {
                if guarded && !(0.42..0.65).contains(&roll) {
                    // A holder or victim keeps its name and stays: change its proxy instead.
                    roll = 0.45;
                }
                let switched = sw.at.is_some() && sw.back_at.is_none();
                if switched && objs[i].ns == SWITCH_NAMESPACE && (0.52..0.65).contains(&roll) {
                    // An unpause now could let an object that never read its key use the
                    // other instance's: change its proxy instead.
                    roll = 0.45;
                }
                if objs[i].squat.is_some() && (0.35..0.52).contains(&roll) {
                    // A refused rename applies no proxy change: rename it away instead.
                    roll = 0.2;
                }
                if roll < 0.35 {
                    let generation = objs[i].names.len();
                    let domain = domain_for(&name, &objs[i].ns, generation);
                    let patch = Patch::Merge(json!({"spec": {"domain": domain}}));
                    retry("rename", || api.patch(&name, &pp, &patch)).await?;
                    objs[i].names.insert(domain.clone());
                    objs[i].domain = domain;
                    ops.add(if objs[i].squat.take().is_some() {
                        "rename away from a taken name"
                    } else {
                        "rename"
                    });
                } else if roll < 0.52 {
                    let proxy = match objs[i].proxy {
                        Some(_) => None,
                        None => Some(format!("https://{}/__clerk", objs[i].domain)),
                    };
                    let patch = Patch::Merge(json!({"spec": {"proxyUrl": proxy}}));
                    retry("proxy", || api.patch(&name, &pp, &patch)).await?;
                    objs[i].proxy = proxy;
                    ops.add("proxyUrl change");
                } else if roll < 0.65 {
                    let paused = !objs[i].paused;
                    let value = paused.then_some("true");
                    let patch = Patch::Merge(
                        json!({"metadata": {"annotations": {"clerk-operator.io/paused": value}}}),
                    );
                    retry("pause", || api.patch(&name, &pp, &patch)).await?;
                    objs[i].paused = paused;
                    ops.add(if paused { "pause" } else { "unpause" });
                } else {
                    let current = retry("get", || api.get_opt(&name)).await?;
                    let domain_id = current.and_then(|c| c.status.and_then(|s| s.domain_id));
                    let at = jiff::Timestamp::now();
                    retry("delete", || async {
                        match api.delete(&name, &DeleteParams::default()).await {
                            Err(e) if is_status(&e, 404) => Ok(()),
                            Ok(_) => Ok(()),
                            Err(e) => Err(e),
                        }
                    })
                    .await?;
                    let orphaned = objs[i].orphan_policy || objs[i].paused;
                    objs[i].deleted = Some(Deleted {
                        orphaned,
                        domain_id,
                        at,
                    });
                    ops.add(match (&objs[i].hostile, objs[i].orphan_policy, objs[i].paused) {
                        (Some(_), ..) => "delete (hostile)",
                        (_, true, _) => "delete (Orphan policy)",
                        (_, false, true) => "delete (paused)",
                        _ => "delete",
                    });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..250))).await;
    }
    let workload_done = started.elapsed();
    if sw.at.is_some() && sw.back_at.is_none() {
        switch_back(&client, &keys, &mut sw).await?;
        ops.add("Secret key switched back");
    }

    // Wind down: unpause, stop faults and kills, start fresh operators.
    for o in objs.iter_mut().filter(|o| o.deleted.is_none() && o.paused) {
        let api: Api<ClerkDomain> = Api::namespaced(client.clone(), &o.ns);
        let patch = Patch::Merge(json!({"metadata": {"annotations": {"clerk-operator.io/paused": null}}}));
        let pp = PatchParams::default();
        retry("unpause", || api.patch(&o.name, &pp, &patch)).await?;
        o.paused = false;
    }
    stop.store(true, Ordering::SeqCst);
    killer.await?;
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
    let converged = converge(&client, &objs, &fake, &keys, Duration::from_secs(600)).await;
    let converge_time = faults_stopped.elapsed();
    poll_stop.store(true, Ordering::SeqCst);
    poller.await?;
    let (kills, exits, logs) = {
        let mut op = operators.lock().unwrap();
        op.stop();
        (op.kills, op.exits, std::mem::take(&mut op.logs))
    };
    let stats = fake.stats();

    // Invariants.
    let live_ids = match converged {
        Ok(ids) => ids,
        Err(e) => {
            problems.push(format!("did not converge: {e:#}"));
            BTreeMap::new()
        }
    };
    let final_list = list_all(&client).await?;
    let journals: Vec<(String, Vec<(jiff::Timestamp, String)>)> = {
        let state = fake.state();
        let s = state.lock().unwrap();
        keys.iter()
            .map(|k| {
                (
                    s.instances[k.as_str()].id.clone(),
                    s.instances[k.as_str()].journal.clone(),
                )
            })
            .collect()
    };
    let records: Vec<(String, Option<String>, Option<String>)> = final_list
        .iter()
        .filter(|(_, o)| o.metadata.deletion_timestamp.is_none())
        .map(|(k, o)| {
            let st = o.status.clone().unwrap_or_default();
            (k.clone(), st.instance_id, st.domain_id)
        })
        .collect();
    problems.extend(model::check_ownership(&objs, &records, &journals));
    problems.extend(check_switch(&sw, &journals));
    let cut = match cut_result.lock().unwrap().take() {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            problems.push(format!("cutting the leader off: {e}"));
            None
        }
        None => {
            problems.push("the leader was never cut off".into());
            None
        }
    };
    let timeline = timeline.lock().unwrap().clone();
    let requests = fake.requests();
    if (requests.len() as u64) < stats.total {
        problems.push(format!(
            "the fake logged {} of {} requests: the write attribution is incomplete",
            requests.len(),
            stats.total
        ));
    }
    let (write_problems, writes) = check_writes(&requests, &timeline, cut.as_ref());
    problems.extend(write_problems);
    if !problems.iter().any(|p| p.starts_with("did not converge")) {
        for (i, key) in keys.iter().enumerate() {
            problems.extend(model::check_instance(i, &objs, &live_ids, &fake.domains(key)));
        }
    } else {
        // Still report what is stuck.
        let stuck: Vec<&String> = final_list
            .iter()
            .filter(|(_, o)| o.metadata.deletion_timestamp.is_some())
            .map(|(k, _)| k)
            .collect();
        if !stuck.is_empty() {
            problems.push(format!("stuck Terminating: {stuck:?}"));
        }
    }
    if logs.contains("panicked") {
        let line = logs.lines().find(|l| l.contains("panicked")).unwrap_or_default();
        problems.push(format!("panic in the operator's logs: {line}"));
    }
    for key in &keys {
        if logs.contains(key.as_str()) {
            problems.push("a secret key appears in the operator's logs".into());
        }
    }
    let out = cp.kubectl(&[
        "get",
        "events.events.k8s.io,events,clerkdomains",
        "-A",
        "-o",
        "yaml",
    ]);
    let dump = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "kubectl get events: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in &keys {
        if dump.contains(key.as_str()) {
            problems.push("a secret key appears in Events or status".into());
        }
    }

    let deleted = objs.iter().filter(|o| o.deleted.is_some()).count();
    println!(
        "\n=== chaos summary (seed {seed}) ===\nobjects created: {created}; live at the end: {live}; deleted: {deleted}\nops applied: {ops:?}\nfaults injected: {injected:?}\noperator SIGKILLs: {kills}; exits after lost leadership: {exits}; kube-apiserver restarts: 1\nleader cut off: {cut:?}\nLease acquisitions: {acquisitions}; Clerk writes per process: {writes:?}\nkey switch: {sw:?}\nproxy connections (forwarded, black-holed): {proxied:?}\nClerk calls by operation and status: {calls:?} (total {total})\nworkload phase: {workload:.1?}; time to converge after faults stopped: {conv:.1?}\nreplay: CHAOS_SEEDS={seed} CHAOS_OBJECTS={n} cargo test --test chaos\n",
        seed = cfg.seed,
        live = objs.len() - deleted,
        ops = ops.0,
        calls = stats.requests,
        total = stats.total,
        workload = workload_done,
        conv = converge_time,
        n = cfg.objects,
        acquisitions = timeline.len(),
        proxied = proxy.counts(),
    );
    if kills < cfg.min_kills {
        problems.push(format!("only {kills} operator kills"));
    }
    if !problems.is_empty() && std::env::var_os("CHAOS_VERBOSE").is_some() {
        let all: Api<ClerkDomain> = Api::all(client.clone());
        let statuses: BTreeMap<String, String> = all
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                (
                    format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
                    format!("{:?}", o.status),
                )
            })
            .collect();
        for o in &objs {
            eprintln!(
                "[chaos] model {o:?} live_id={:?} status={:?}",
                live_ids.get(&o.key()),
                statuses.get(&o.key())
            );
        }
        for key in &keys {
            for d in fake.domains(key) {
                eprintln!("[chaos] clerk {} {} {:?}", d.id, d.name, d.proxy_url);
            }
            let state = fake.state();
            let s = state.lock().unwrap();
            for (at, entry) in &s.instances[key.as_str()].journal {
                eprintln!("[chaos] journal {at} {entry}");
            }
        }
        let _ = std::fs::write("/tmp/chaos-operator.log", &logs);
    }
    if !problems.is_empty() {
        bail!(
            "{} invariant violations:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}
