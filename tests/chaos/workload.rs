//! The seeded workload, the fault schedule, convergence and the final checks.

use crate::controlplane::ControlPlane;
use crate::model::{self, Deleted, Obj};
use crate::operator_process::{OperatorOptions, OperatorProcess};
use anyhow::{Context as _, bail, ensure};
use clerk_operator::api::ClerkDomain;
use clerk_operator::fake::{FakeClerk, FakeConfig, Faults};
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

/// One run's parameters.
pub struct Config {
    pub seed: u64,
    pub objects: usize,
    pub min_kills: usize,
}

/// Namespaces, and the Clerk instance each one uses: `a*` the operator's default key, `b*` a
/// Secret in the namespace.
const NAMESPACES: [(&str, usize); 4] = [("chaos-a0", 0), ("chaos-a1", 0), ("chaos-b0", 1), ("chaos-b1", 1)];
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

/// The operator process, restarted after every kill; logs of dead processes are kept.
struct Operator {
    opts: OperatorOptions,
    current: Option<OperatorProcess>,
    logs: String,
    kills: usize,
    starts: usize,
}

impl Operator {
    fn start(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        self.opts.identity = format!("chaos-operator-{}", self.starts);
        self.current = Some(OperatorProcess::spawn(&self.opts)?);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.current.take() {
            p.kill();
            self.logs.push_str(&p.logs());
            self.kills += 1;
        }
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.current.take() {
            p.kill();
            self.logs.push_str(&p.logs());
        }
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
    Ok(serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1",
        "kind": "ClerkDomain",
        "metadata": {"name": o.name, "namespace": o.ns},
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

    let operator = Arc::new(Mutex::new(Operator {
        opts: OperatorOptions {
            kubeconfig: cp.kubeconfig.clone(),
            clerk_api_url: fake.base_url(),
            secret_key: Some(keys[0].clone()),
            extra_args: vec![
                "--resync-period=30s".into(),
                "--clerk-timeout=5s".into(),
                "--concurrency=8".into(),
            ],
            ..Default::default()
        },
        current: None,
        logs: String::new(),
        kills: 0,
        starts: 0,
    }));
    operator.lock().unwrap().start()?;

    // Kill the operator at random moments until told to stop and at least `min_kills` happened.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (operator, stop) = (operator.clone(), stop.clone());
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6b696c6c);
        let min_kills = cfg.min_kills;
        tokio::spawn(async move {
            loop {
                let wait = rng.random_range(1200..3500);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let mut op = operator.lock().unwrap();
                if stop.load(Ordering::SeqCst) && op.kills >= min_kills {
                    return;
                }
                op.kill();
                if let Err(e) = op.start() {
                    eprintln!("[chaos] restarting the operator failed: {e:#}");
                }
            }
        })
    };

    // The workload.
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut objs: Vec<Obj> = vec![];
    let mut ops = Ops::default();
    let total_ops = cfg.objects + cfg.objects * 3 / 4;
    let (mut secret_deleted, mut apiserver_restarted, mut namespace_deleted) = (false, false, false);
    let mut created = 0;
    for step in 0..total_ops {
        let progress = step as f64 / total_ops as f64;
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
        if !apiserver_restarted && progress >= 0.5 {
            apiserver_restarted = true;
            tokio::task::block_in_place(|| cp.restart_apiserver());
            ops.add("kube-apiserver restart");
        }
        if !namespace_deleted && progress >= 0.6 {
            namespace_deleted = true;
            for o in objs
                .iter_mut()
                .filter(|o| o.ns == DOOMED_NAMESPACE && o.deleted.is_none())
            {
                o.deleted = Some(Deleted {
                    orphaned: o.orphan_policy || o.paused,
                    domain_id: None,
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
            let mut choices: Vec<(&str, usize)> = NAMESPACES.to_vec();
            if namespace_deleted {
                choices.retain(|(ns, _)| *ns != DOOMED_NAMESPACE);
            }
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
            let roll: f64 = rng.random();
            let pp = PatchParams::default();
            if roll < 0.3 {
                let generation = objs[i].names.len();
                let domain = domain_for(&name, &objs[i].ns, generation);
                let patch = Patch::Merge(json!({"spec": {"domain": domain}}));
                retry("rename", || api.patch(&name, &pp, &patch)).await?;
                objs[i].names.insert(domain.clone());
                objs[i].domain = domain;
                ops.add("rename");
            } else if roll < 0.5 {
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
                let patch =
                    Patch::Merge(json!({"metadata": {"annotations": {"clerk-operator.io/paused": value}}}));
                retry("pause", || api.patch(&name, &pp, &patch)).await?;
                objs[i].paused = paused;
                ops.add(if paused { "pause" } else { "unpause" });
            } else {
                let current = retry("get", || api.get_opt(&name)).await?;
                let domain_id = current.and_then(|c| c.status.and_then(|s| s.domain_id));
                retry("delete", || async {
                    match api.delete(&name, &DeleteParams::default()).await {
                        Err(e) if is_status(&e, 404) => Ok(()),
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    }
                })
                .await?;
                let orphaned = objs[i].orphan_policy || objs[i].paused;
                objs[i].deleted = Some(Deleted { orphaned, domain_id });
                ops.add(match (objs[i].orphan_policy, objs[i].paused) {
                    (true, _) => "delete (Orphan policy)",
                    (false, true) => "delete (paused)",
                    _ => "delete",
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..60))).await;
    }
    let workload_done = started.elapsed();

    // Wind down: unpause, stop faults and kills, start a fresh operator.
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
        let mut op = operator.lock().unwrap();
        op.kill();
        op.start()?;
    }
    let faults_stopped = Instant::now();
    let converged = converge(&client, &objs, &fake, &keys, Duration::from_secs(600)).await;
    let converge_time = faults_stopped.elapsed();
    let (kills, logs) = {
        let mut op = operator.lock().unwrap();
        op.stop();
        (op.kills, std::mem::take(&mut op.logs))
    };
    let stats = fake.stats();

    // Invariants.
    let mut problems = vec![];
    let live_ids = match converged {
        Ok(ids) => ids,
        Err(e) => {
            problems.push(format!("did not converge: {e:#}"));
            BTreeMap::new()
        }
    };
    if !problems.is_empty() {
        // Still check Clerk, to report leaks and duplicates alongside.
        let all: Api<ClerkDomain> = Api::all(client.clone());
        let list = all
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let stuck: Vec<String> = list
            .iter()
            .filter(|o| o.metadata.deletion_timestamp.is_some())
            .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
            .collect();
        if !stuck.is_empty() {
            problems.push(format!("stuck Terminating: {stuck:?}"));
        }
    } else {
        for (i, key) in keys.iter().enumerate() {
            problems.extend(model::check_instance(i, &objs, &live_ids, &fake.domains(key)));
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
        "\n=== chaos summary (seed {seed}) ===\nobjects created: {created}; live at the end: {live}; deleted: {deleted}\nops applied: {ops:?}\nfaults injected: {injected:?}\noperator SIGKILLs: {kills}; kube-apiserver restarts: 1\nClerk calls by operation and status: {calls:?} (total {total})\nworkload phase: {workload:.1?}; time to converge after faults stopped: {conv:.1?}\nreplay: CHAOS_SEEDS={seed} CHAOS_OBJECTS={n} cargo test --test chaos\n",
        seed = cfg.seed,
        live = objs.len() - deleted,
        ops = ops.0,
        calls = stats.requests,
        total = stats.total,
        workload = workload_done,
        conv = converge_time,
        n = cfg.objects,
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

/// Wait until every live object is Ready and Synced for its generation with Clerk matching,
/// every deleted object is gone, and the doomed namespace is gone. Returns live objects' IDs.
async fn converge(
    client: &Client,
    objs: &[Obj],
    fake: &FakeClerk,
    keys: &[String; 2],
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, String>> {
    let start = Instant::now();
    let all: Api<ClerkDomain> = Api::all(client.clone());
    let nss: Api<Namespace> = Api::all(client.clone());
    loop {
        let mut waiting = vec![];
        let lp = kube::api::ListParams::default();
        let list = retry("list", || all.list(&lp)).await?.items;
        let by_key: BTreeMap<String, &ClerkDomain> = list
            .iter()
            .map(|o| {
                (
                    format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
                    o,
                )
            })
            .collect();
        let mut ids = BTreeMap::new();
        for o in objs {
            let found = by_key.get(&o.key());
            match (&o.deleted, found) {
                (Some(_), Some(_)) => waiting.push(format!("{} not gone", o.key())),
                (Some(_), None) => {}
                (None, None) => bail!("{} vanished though never deleted", o.key()),
                (None, Some(obj)) => {
                    let st = obj.status.clone().unwrap_or_default();
                    let cond = |t: &str| st.conditions.iter().any(|c| c.type_ == t && c.status == "True");
                    let current = st.observed_generation == obj.metadata.generation;
                    let in_clerk = st
                        .domain_id
                        .as_ref()
                        .and_then(|id| fake.domains(&keys[o.instance]).into_iter().find(|d| &d.id == id));
                    let matches = in_clerk.is_some_and(|d| d.name == o.domain && d.proxy_url == o.proxy);
                    if cond("Ready") && cond("Synced") && current && matches {
                        ids.insert(o.key(), st.domain_id.unwrap());
                    } else {
                        let why = st
                            .conditions
                            .iter()
                            .map(|c| format!("{}={}/{}", c.type_, c.status, c.reason))
                            .collect::<Vec<_>>();
                        waiting.push(format!("{} not converged {why:?}", o.key()));
                    }
                }
            }
        }
        if retry("get namespace", || nss.get_opt(DOOMED_NAMESPACE))
            .await?
            .is_some()
        {
            waiting.push(format!("namespace {DOOMED_NAMESPACE} not gone"));
        }
        if waiting.is_empty() {
            return Ok(ids);
        }
        if start.elapsed() > timeout {
            bail!(
                "{} not converged after {timeout:?}, e.g. {:?}",
                waiting.len(),
                &waiting[..waiting.len().min(10)]
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
