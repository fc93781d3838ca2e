//! The end of a run: the invariants (ownership, the key switch, the leader cut, who wrote to
//! Clerk, what Clerk holds, no panics, no secret key in logs, Events or status), the summary,
//! and with `CHAOS_VERBOSE` a dump of the model, the statuses and Clerk's journals.

use super::*;

/// Check every invariant after `wind_down`; fails with every violation found.
pub(super) async fn check(
    cfg: &Config,
    world: &World,
    mut w: Workload,
    end: Ending,
    workload_done: Duration,
) -> anyhow::Result<()> {
    let mut problems = std::mem::take(&mut w.problems);
    let live_ids = match &end.converged {
        Ok(ids) => ids.clone(),
        Err(e) => {
            problems.push(format!("did not converge: {e:#}"));
            BTreeMap::new()
        }
    };
    let (cut, writes, acquisitions) =
        check_clerk(world, &w, &live_ids, end.stats.total, &mut problems).await?;
    check_leaks(world, &end.logs, &mut problems)?;
    let summary = Summary {
        cut,
        writes,
        acquisitions,
        workload_done,
    };
    print_summary(cfg, world, &w, &end, &summary);
    if end.kills < cfg.min_kills {
        problems.push(format!("only {} operator kills", end.kills));
    }
    if !problems.is_empty() && std::env::var_os("CHAOS_VERBOSE").is_some() {
        let World {
            client, keys, fake, ..
        } = world;
        dump_state(client, &w.objs, &live_ids, fake, keys, &end.logs).await;
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

/// Ownership, the key switch, the leader cut, who wrote to Clerk and what Clerk holds. The leader
/// cut, the Clerk writes per process and the number of Lease acquisitions, for the summary.
async fn check_clerk(
    world: &World,
    w: &Workload,
    live_ids: &BTreeMap<String, String>,
    total: u64,
    problems: &mut Vec<String>,
) -> anyhow::Result<(Option<Cut>, BTreeMap<String, usize>, usize)> {
    let World {
        client,
        keys,
        fake,
        timeline,
        killer,
        ..
    } = world;
    let final_list = list_all(client).await?;
    let journals = journals(fake, keys);
    problems.extend(model::check_ownership(&w.objs, &records(&final_list), &journals));
    problems.extend(check_switch(&w.sw, &journals));
    let cut = take_cut(killer, problems);
    let timeline = timeline.lock().unwrap().clone();
    let requests = fake.requests();
    if (requests.len() as u64) < total {
        problems.push(format!(
            "the fake logged {} of {} requests: the write attribution is incomplete",
            requests.len(),
            total
        ));
    }
    let (write_problems, writes) = check_writes(&requests, &timeline, cut.as_ref());
    problems.extend(write_problems);
    if !problems.iter().any(|p| p.starts_with("did not converge")) {
        for (i, key) in keys.iter().enumerate() {
            problems.extend(model::check_instance(i, &w.objs, live_ids, &fake.domains(key)));
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
    Ok((cut, writes, timeline.len()))
}

/// Each instance's ID and journal.
fn journals(fake: &FakeClerk, keys: &[String; 2]) -> Vec<(String, Vec<(jiff::Timestamp, String)>)> {
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
}

/// `(key, instance ID, domain ID)` of every object not being deleted.
fn records(final_list: &BTreeMap<String, ClerkDomain>) -> Vec<(String, Option<String>, Option<String>)> {
    final_list
        .iter()
        .filter(|(_, o)| o.metadata.deletion_timestamp.is_none())
        .map(|(k, o)| {
            let st = o.status.clone().unwrap_or_default();
            (k.clone(), st.instance_id, st.domain_id)
        })
        .collect()
}

/// The leader cut's outcome; a problem when it failed or never happened.
fn take_cut(killer: &setup::Killer, problems: &mut Vec<String>) -> Option<Cut> {
    match killer.cut_result.lock().unwrap().take() {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            problems.push(format!("cutting the leader off: {e}"));
            None
        }
        None => {
            problems.push("the leader was never cut off".into());
            None
        }
    }
}

/// No panic in the operator's logs, no secret key in them, in Events or in status.
fn check_leaks(world: &World, logs: &str, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let World { keys, cp, .. } = world;
    if logs.contains("panicked") {
        let line = logs.lines().find(|l| l.contains("panicked")).unwrap_or_default();
        problems.push(format!("panic in the operator's logs: {line}"));
    }
    for key in keys {
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
    for key in keys {
        if dump.contains(key.as_str()) {
            problems.push("a secret key appears in Events or status".into());
        }
    }
    Ok(())
}

/// What the checks found that the summary shows.
struct Summary {
    cut: Option<Cut>,
    writes: BTreeMap<String, usize>,
    acquisitions: usize,
    workload_done: Duration,
}

/// The run's summary, on stdout.
fn print_summary(cfg: &Config, world: &World, w: &Workload, end: &Ending, summary: &Summary) {
    let Workload {
        objs,
        ops,
        sw,
        created,
        ..
    } = w;
    let Ending {
        injected,
        converge_time,
        kills,
        exits,
        stats,
        ..
    } = end;
    let Summary {
        cut,
        writes,
        acquisitions,
        workload_done,
    } = summary;
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
        proxied = world.proxy.counts(),
    );
}

/// For a failed run: the model next to each status, Clerk's domains and journals on stderr, the
/// operators' logs in /tmp/chaos-operator.log.
async fn dump_state(
    client: &Client,
    objs: &[Obj],
    live_ids: &BTreeMap<String, String>,
    fake: &FakeClerk,
    keys: &[String; 2],
    logs: &str,
) {
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
    for o in objs {
        eprintln!(
            "[chaos] model {o:?} live_id={:?} status={:?}",
            live_ids.get(&o.key()),
            statuses.get(&o.key())
        );
    }
    for key in keys {
        for d in fake.domains(key) {
            eprintln!("[chaos] clerk {} {} {:?}", d.id, d.name, d.proxy_url);
        }
        let state = fake.state();
        let s = state.lock().unwrap();
        for (at, entry) in &s.instances[key.as_str()].journal {
            eprintln!("[chaos] journal {at} {entry}");
        }
    }
    let _ = std::fs::write("/tmp/chaos-operator.log", logs);
}
