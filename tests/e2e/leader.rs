//! One writer: only the Lease holder talks to Clerk, even when it is cut off from the API
//! server and cannot know that a standby took over.

use crate::helm::Release;
use anyhow::{Context as _, bail, ensure};
use fake_clerk::RequestRecord;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_kit::cut_proxy::CutProxy;
use test_kit::operator_process::OperatorProcess;
use test_kit::*;

/// Objects made Ready by the first leader.
const OBJECTS: usize = 6;

/// Two operator processes with leader election (6 s lease, 2 s grace). The leader, A, reaches
/// the API server through a proxy; B directly. Once A has made everything Ready the proxy cuts
/// A off (connections hang, nothing is refused); from A's fence deadline on, Clerk keeps
/// getting drift that any leader would repair (domains renamed behind the operator's back),
/// and new objects appear once B leads. Asserts,
/// from the fake Clerk's request journal (each process names itself in its User-Agent):
/// A sends no Clerk write after its fence deadline (cut + duration − grace) nor after B
/// acquired the Lease; B writes after it acquired; everything ends Ready with one Clerk domain
/// per object; A exits non-zero.
pub async fn cut_off_leader_stops_clerk_writes_before_takeover(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp.clone(), "fence", false).await?;
    let (proxy, proxied) = proxied_kubeconfig(&cp, &rel).await?;
    let (duration, grace) = (Duration::from_secs(6), Duration::from_secs(2));
    let (mut a, b) = start_pair(&rel, proxied, duration, grace).await?;

    let (mut names, ids) = ready_under_a(&rel, &a).await?;

    // Cut A off the API server: it cannot renew, and cannot learn that B takes over.
    let cut_at = jiff::Timestamp::now();
    proxy.cut();
    // A's last successful renew started before the cut, so its fence closes by then. The
    // slack covers the fake's own scheduling delay in stamping a request that arrived in time.
    let fence_deadline = cut_at + (duration - grace) + Duration::from_millis(250);
    let (b_acquired, round) = drift_until_takeover(&rel, &a, &b, &ids, &mut names, fence_deadline).await?;
    let took = b_acquired.duration_since(cut_at);
    eprintln!("cut_off_leader: B acquired {took:?} after the cut; {round} renames");
    no_late_write_by_a(&rel, &a, &b, fence_deadline, b_acquired)?;
    // A took itself out: the fence closed by the clock, the process stopped and failed.
    let status = a.wait_exit(Duration::from_secs(15)).await?;
    ensure!(!status.success(), "A exited with {status}");
    ensure!(
        !a.log_lines(&["lost leadership"]).is_empty(),
        "{}",
        a.log_tail(30)
    );

    converges_under_b(&rel, &b, &names).await?;

    // Still true after convergence; and B did the repairs.
    let log = rel.fake.requests();
    ensure!(
        writes_by(&log, &a.identity).all(|r| r.at < fence_deadline && r.at < b_acquired),
        "A wrote to Clerk late"
    );
    let b_writes = writes_by(&log, &b.identity)
        .filter(|r| r.at >= b_acquired)
        .count();
    ensure!(b_writes >= 1, "B made no Clerk write after it acquired");
    let (_, black_holed) = proxy.counts();
    ensure!(black_holed >= 1, "the proxy never black-holed a connection of A");
    Ok(())
}

/// A proxy in front of the API server that can cut A off, and a copy of the release's
/// kubeconfig that goes through it.
async fn proxied_kubeconfig(
    cp: &ControlPlane,
    rel: &Release,
) -> anyhow::Result<(CutProxy, std::path::PathBuf)> {
    let upstream: std::net::SocketAddr = cp
        .server
        .trim_start_matches("https://")
        .parse()
        .context("API server address")?;
    let proxy = CutProxy::start(upstream).await?;
    let proxied = rel.kubeconfig.with_file_name("proxied-kubeconfig");
    std::fs::write(
        &proxied,
        std::fs::read_to_string(&rel.kubeconfig)?.replace(&cp.server, &format!("https://{}", proxy.addr())),
    )?;
    Ok((proxy, proxied))
}

/// A (through `proxied`) leading and B waiting, with a lease of `duration` and `grace`.
async fn start_pair(
    rel: &Release,
    proxied: std::path::PathBuf,
    duration: Duration,
    grace: Duration,
) -> anyhow::Result<(OperatorProcess, OperatorProcess)> {
    let extra: Vec<String> = vec![
        // Resync often, from a barely cached list: drift is write work for whoever leads.
        "--resync-period=2s".into(),
        "--list-cache-ttl=200ms".into(),
    ];
    let (mut a_opts, mut b_opts) = rel.pair((duration, grace));
    a_opts.kubeconfig = proxied;
    a_opts.extra_args.extend(extra.clone());
    b_opts.extra_args.extend(extra);
    rel.start_pair(&a_opts, &b_opts).await
}

/// The objects, made Ready by A: their names and domain IDs.
async fn ready_under_a(rel: &Release, a: &OperatorProcess) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut names = vec![];
    for i in 0..OBJECTS {
        let name = format!("d{i}");
        rel.create_domain(&name, json!({"domain": format!("d{i}.fence.example.com")}))
            .await?;
        names.push(name);
    }
    let mut ids = vec![];
    for name in &names {
        let o = rel.wait_ready(name, a).await?;
        ids.push(o.status.and_then(|s| s.domain_id).context("domain id")?);
    }
    ensure!(
        writes_by(&rel.fake.requests(), &a.identity).count() >= OBJECTS,
        "A created the domains"
    );
    Ok((names, ids))
}

/// Drift and, once B leads, new objects (added to `names`), until several seconds after the
/// takeover. When B acquired the Lease, and the number of renames.
async fn drift_until_takeover(
    rel: &Release,
    a: &OperatorProcess,
    b: &OperatorProcess,
    ids: &[String],
    names: &mut Vec<String>,
    fence_deadline: jiff::Timestamp,
) -> anyhow::Result<(jiff::Timestamp, usize)> {
    let leases: Api<Lease> = Api::namespaced(rel.client.clone(), &rel.ns);
    let started = Instant::now();
    let mut b_acquired: Option<jiff::Timestamp> = None;
    let mut round = 0usize;
    let mut late = 0usize;
    loop {
        // Drift that any leader's resync repairs with a PATCH, from the moment A must have
        // stopped writing (earlier, a repair would leave A's reconciles stuck on the status
        // write to the unreachable API server, with no write work left for it to do wrong).
        if jiff::Timestamp::now() >= fence_deadline {
            round += 1;
            let id = &ids[round % OBJECTS];
            rel.fake.modify_domain(LIVE_KEY, id, |d| {
                d.name = format!("hijacked-{round}.fence.example.com")
            });
        }
        if b_acquired.is_none() {
            let spec = leases.get(&rel.name).await?.spec.unwrap_or_default();
            if spec.holder_identity.as_deref() == Some(b.identity.as_str()) {
                b_acquired = Some(spec.acquire_time.context("acquireTime")?.0);
            }
        }
        if let Some(at) = b_acquired {
            if late < 2 {
                let name = format!("late{late}");
                rel.create_domain(&name, json!({"domain": format!("late{late}.fence.example.com")}))
                    .await?;
                names.push(name);
                late += 1;
            }
            // Keep making work for several seconds after the takeover.
            if jiff::Timestamp::now() > at + Duration::from_secs(8) {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(40) {
            bail!(
                "B never acquired the Lease\n{}\n{}",
                b.log_tail(30),
                a.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    Ok((b_acquired.expect("loop ends after the takeover"), round))
}

/// The invariant: A, cut off, made no Clerk write after its fence deadline, nor after B took
/// over (B's own writes were all made as the holder).
fn no_late_write_by_a(
    rel: &Release,
    a: &OperatorProcess,
    b: &OperatorProcess,
    fence_deadline: jiff::Timestamp,
    b_acquired: jiff::Timestamp,
) -> anyhow::Result<()> {
    let log = rel.fake.requests();
    let late_a: Vec<&RequestRecord> = writes_by(&log, &a.identity)
        .filter(|r| r.at >= fence_deadline || r.at >= b_acquired)
        .collect();
    ensure!(
        late_a.is_empty(),
        "A wrote to Clerk after its fence deadline ({fence_deadline}) or after B acquired \
         ({b_acquired}): {} writes, first {:#?}",
        late_a.len(),
        late_a.first()
    );
    ensure!(
        writes_by(&log, &b.identity).all(|r| r.at >= b_acquired),
        "B wrote before it acquired"
    );
    Ok(())
}

/// Everything converges under B, one Clerk domain per object.
async fn converges_under_b(rel: &Release, b: &OperatorProcess, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        rel.wait_ready(name, b).await?;
    }
    let deadline = Instant::now() + CONVERGE;
    loop {
        let mut clerk_names: Vec<String> = rel.fake.domains(LIVE_KEY).into_iter().map(|d| d.name).collect();
        clerk_names.sort();
        let want = names
            .iter()
            .map(|n| format!("{n}.fence.example.com"))
            .all(|n| clerk_names.iter().filter(|c| **c == n).count() == 1);
        let hijacked = clerk_names.iter().any(|c| c.starts_with("hijacked-"));
        if want && !hijacked && clerk_names.len() == names.len() + 1 {
            break;
        }
        ensure!(Instant::now() < deadline, "Clerk has {clerk_names:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Clerk writes whose User-Agent names `identity`.
fn writes_by<'a>(log: &'a [RequestRecord], identity: &'a str) -> impl Iterator<Item = &'a RequestRecord> {
    let tag = format!("({identity})");
    log.iter()
        .filter(move |r| r.is_write() && r.user_agent.ends_with(&tag))
}
