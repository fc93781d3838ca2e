//! Clerk robustness against the real apiserver: faults, the call budget and rate limits.

use anyhow::ensure;
use clerk_operator::clerk::Rate;
use fake_clerk::{Faults, Scripted, ScriptedFault};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

fn manifest(name: &str, domain: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n  domain: {domain}\n"
    )
}

async fn create_many(env: &TestEnv, n: usize, zone: &str) -> anyhow::Result<()> {
    let creates = (0..n).map(|i| env.create_owned(manifest(&format!("d{i}"), &format!("d{i}.{zone}"))));
    for r in futures::future::join_all(creates).await {
        r?;
    }
    Ok(())
}

fn scripted(operation: &str, fault: ScriptedFault) -> Scripted {
    Scripted {
        operation: operation.into(),
        key: None,
        fault,
    }
}

/// 20 ClerkDomains converge while the fake answers 5xx and 429, drops connections, and drops
/// responses after committing POSTs; the fake ends with exactly one domain per object.
pub async fn converge_through_faults(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "faults", Default::default()).await?;
    env.fake.set_faults(Faults {
        error_rates: BTreeMap::from([(500, 0.08), (502, 0.04), (503, 0.04), (429, 0.04)]),
        retry_after_secs: Some(1),
        latency_ms: 50,
        drop_rate: 0.03,
        drop_after_commit_rate: 0.05,
        // Whatever the dice say, these happen: a lost POST response (the domain exists), a 429
        // on a POST, a 503 on a list and a reset.
        scripted: vec![
            scripted("ListDomains", ScriptedFault::Status(503)),
            scripted("AddDomain", ScriptedFault::DropAfterCommit),
            scripted("AddDomain", ScriptedFault::Status(429)),
            scripted("AddDomain", ScriptedFault::Drop),
            scripted("AddDomain", ScriptedFault::DropAfterCommit),
        ],
        ..Default::default()
    });
    create_many(&env, 20, "faults.example.com").await?;
    for i in 0..20 {
        env.wait_ready_within(&format!("d{i}"), Duration::from_secs(180))
            .await?;
    }
    env.fake.set_faults(Faults::default());
    let faults = env.fake.fault_stats();
    let domains = env.fake.domains(LIVE_KEY);
    for i in 0..20 {
        let name = format!("d{i}.faults.example.com");
        let matching: Vec<_> = domains.iter().filter(|d| d.name == name).collect();
        ensure!(matching.len() == 1, "{name}: {} domains in Clerk", matching.len());
        let st = env
            .domains()
            .get(&format!("d{i}"))
            .await?
            .status
            .unwrap_or_default();
        ensure!(
            st.domain_id.as_deref() == Some(matching[0].id.as_str()),
            "{name}: status names another id"
        );
    }
    ensure!(
        domains.len() == 21,
        "{} domains in Clerk, want 20 satellites + the primary",
        domains.len()
    );
    ensure!(
        faults.dropped_after_commit >= 2 && faults.injected.get(&429).copied().unwrap_or(0) >= 1,
        "{faults:?}"
    );
    eprintln!(
        "converge_through_faults: faults {faults:?}; requests {:?}",
        env.fake.stats().requests
    );
    Ok(())
}

/// Creating 50 domains costs one POST each, one key lookup, and at most one shared list per
/// list-cache TTL of the run (the list is reused while fresh), nothing else.
pub async fn call_budget(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions::default();
    let ttl = opts.list_ttl;
    let env = TestEnv::start(cp, "budget", opts).await?;
    let start = std::time::Instant::now();
    create_many(&env, 50, "budget.example.com").await?;
    for i in 0..50 {
        env.wait_ready(&format!("d{i}")).await?;
    }
    // Reconciles triggered by the status writes finish on the cache.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A list needs a whole TTL after the one before it.
    let periods = start.elapsed().as_secs_f64() / ttl.as_secs_f64();
    let stats = env.fake.stats();
    eprintln!(
        "call_budget: {} requests for 50 domains in {periods:.1} list TTLs: {:?}",
        stats.total, stats.requests
    );
    ensure!(stats.count("AddDomain") == 50, "{stats:?}");
    ensure!(stats.count("GetInstance") == 1, "{stats:?}");
    let lists = stats.count("ListDomains");
    ensure!(
        lists >= 1 && lists as f64 <= 1.0 + periods.floor(),
        "{lists} lists in {periods:.1} list TTLs: {stats:?}"
    );
    ensure!(stats.total == 51 + lists, "other requests: {stats:?}");
    Ok(())
}

/// The development key as default, the fake enforcing 10 requests per 1 s window, and the
/// operator's client-side limit one request per window under it: the 50 ms of pacing slack is
/// less than the scheduling jitter of a loaded test machine, and these windows are only 1 s.
async fn rate_limited_env(cp: Arc<ControlPlane>, name: &str) -> anyhow::Result<TestEnv> {
    let opts = EnvOptions {
        default_key: Some(TEST_KEY),
        development_rate: Some(Rate {
            requests: 9,
            per: Duration::from_secs(1),
        }),
        ..Default::default()
    };
    let env = TestEnv::start(cp, name, opts).await?;
    env.fake.set_faults(Faults {
        rate_limit: true,
        rate_limit_requests: Some(10),
        rate_limit_window_secs: Some(1),
        ..Default::default()
    });
    Ok(env)
}

/// With the fake enforcing a limit, the client-side limiter keeps every request under it.
pub async fn rate_limit_prevents_429(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = rate_limited_env(cp, "ratelimit").await?;
    create_many(&env, 30, "ratelimit.example.com").await?;
    for i in 0..30 {
        env.wait_ready(&format!("d{i}")).await?;
    }
    let stats = env.fake.stats();
    let throttled: u64 = stats.requests.values().filter_map(|m| m.get(&429)).sum();
    eprintln!(
        "rate_limit_prevents_429: {} requests, {throttled} answered 429",
        stats.total
    );
    ensure!(
        throttled == 0 && env.fake.fault_stats().rate_limited == 0,
        "{stats:?}"
    );
    ensure!(stats.count("AddDomain") == 30);
    Ok(())
}

/// Two keys of one Clerk instance (the default key and a second key in a namespace's Secret)
/// share the instance's budget, as Clerk counts it: at the instance's limit, no 429, and one
/// lookup per key. With a budget per key each key would send the whole limit.
pub async fn two_keys_of_one_instance_share_its_budget(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    const SECOND_KEY: &str = "sk_test_e2e_second_instance_second_key";
    let env = rate_limited_env(cp, "twokeys").await?;
    ensure!(env.fake.add_key(SECOND_KEY, TEST_KEY));
    env.secret("second-key", "key", SECOND_KEY).await?;
    let creates = (0..30).map(|i| {
        let secret = if i % 2 == 0 {
            "  secretRef:\n    name: second-key\n    key: key\n"
        } else {
            ""
        };
        env.create_owned(format!(
            "{}{secret}",
            manifest(&format!("d{i}"), &format!("d{i}.twokeys.example.com"))
        ))
    });
    for r in futures::future::join_all(creates).await {
        r?;
    }
    for i in 0..30 {
        env.wait_ready(&format!("d{i}")).await?;
    }
    let stats = env.fake.stats();
    let throttled: u64 = stats.requests.values().filter_map(|m| m.get(&429)).sum();
    eprintln!(
        "two_keys_of_one_instance_share_its_budget: {} requests, {throttled} answered 429: {:?}",
        stats.total, stats.requests
    );
    ensure!(
        throttled == 0,
        "two keys of one instance went over its limit: {stats:?}"
    );
    ensure!(stats.count("AddDomain") == 30, "{stats:?}");
    ensure!(stats.count("GetInstance") == 2, "one lookup per key: {stats:?}");
    Ok(())
}

/// Create ClerkDomain `name` for `domain` with the POST's answer lost after Clerk committed it
/// (1 s late, then dropped); the domain Clerk holds, as soon as it holds it.
async fn create_losing_the_answer(
    env: &TestEnv,
    name: &str,
    domain: &str,
) -> anyhow::Result<clerk_operator::clerk::Domain> {
    env.fake.set_faults(Faults {
        latency_ms: 1000,
        latency_min_ms: 1000,
        scripted: vec![scripted("AddDomain", ScriptedFault::DropAfterCommit)],
        ..Default::default()
    });
    env.create(&manifest(name, domain)).await?;
    eventually(
        "the POST in Clerk",
        CONVERGE,
        Duration::from_millis(10),
        || async {
            let held = env.fake.domains(LIVE_KEY);
            let found = held.into_iter().find(|d| d.name == domain);
            Ok(found.ok_or_else(|| format!("no domain {domain}")))
        },
    )
    .await
}

/// A create whose answer is lost, then a rename before the next successful look at Clerk: the
/// domain created under the old name is found through `status.pendingDomain` and renamed, not
/// leaked.
pub async fn lost_create_then_rename_leaks_nothing(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    use kube::api::{Patch, PatchParams};
    let env = TestEnv::start(cp, "lostcreate", Default::default()).await?;
    create_losing_the_answer(&env, "l", "v0.lost.example.com").await?;
    // Clerk is down from now on, so the operator cannot see the domain by its old name...
    env.fake.set_faults(Faults {
        error_rates: BTreeMap::from([(503, 1.0)]),
        ..Default::default()
    });
    // ...before the spec is renamed.
    let patch = Patch::Merge(serde_json::json!({"spec": {"domain": "v1.lost.example.com"}}));
    env.domains().patch("l", &PatchParams::default(), &patch).await?;
    wait_for(
        &env.domains(),
        "l",
        "a failed look after the rename",
        CONVERGE,
        |o| {
            let st = o.status.as_ref();
            st.and_then(|s| s.pending_domain.as_deref()) == Some("v0.lost.example.com")
                && st.and_then(|s| s.observed_generation) == Some(2)
                && condition(o, "Synced").is_some_and(|c| c.status == "False")
        },
    )
    .await?;
    env.fake.set_faults(Faults::default());
    let st = env
        .wait_ready_within("l", Duration::from_secs(90))
        .await?
        .status
        .unwrap();
    let domains = env.fake.domains(LIVE_KEY);
    let sats: Vec<_> = domains.iter().filter(|d| d.is_satellite).collect();
    ensure!(sats.len() == 1, "leaked: {sats:?}");
    ensure!(sats[0].name == "v1.lost.example.com" && st.domain_id.as_deref() == Some(sats[0].id.as_str()));
    ensure!(st.pending_domain.is_none() && st.adopted.is_none(), "{st:?}");
    ensure!(
        env.fake.stats().count_status("AddDomain", 200) == 1,
        "{:?}",
        env.fake.stats()
    );
    Ok(())
}

/// Credentials come from the watched Secret metadata: a Secret is read for its key only when its
/// resourceVersion changed, not on every reconcile.
pub async fn secret_is_read_only_when_it_changes(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    use kube::api::{Patch, PatchParams};
    let opts = EnvOptions {
        default_key: None,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "secret-reads", opts).await?;
    env.secret("clerk", "key", LIVE_KEY).await?;
    let yaml = "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: s\nspec:\n  domain: reads.example.com\n  secretRef: {name: clerk, key: key}\n";
    env.create(yaml).await?;
    env.wait_ready("s").await?;
    // The in-use finalizer changes the Secret once: let that settle before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = env.metrics.secret_reads.get();
    for i in 0..5 {
        let patch = serde_json::json!({"metadata": {"annotations": {"clerk-operator.io/reconcile-requested-at": i.to_string()}}});
        env.domains()
            .patch("s", &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        wait_for(&env.domains(), "s", "handled", CONVERGE, |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some(i.to_string().as_str())
        })
        .await?;
    }
    let after = env.metrics.secret_reads.get();
    ensure!(
        after - before <= 1,
        "{} Secret reads for 5 reconciles",
        after - before
    );
    // A changed Secret is read again (the key switched instance: InstanceChanged says so).
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    secrets
        .patch(
            "clerk",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"stringData": {"key": TEST_KEY}})),
        )
        .await?;
    wait_for(&env.domains(), "s", "InstanceChanged", CONVERGE, |o| {
        condition(o, "Ready").is_some_and(|c| c.reason == "InstanceChanged")
    })
    .await?;
    ensure!(
        env.metrics.secret_reads.get() > after,
        "the changed Secret was not read"
    );
    Ok(())
}

/// A create whose answer is lost, then a list that does not show it yet (a lagging read): the
/// create is sent again and Clerk answers that the name exists. That name is the object's own
/// (`status.pendingDomain`): it keeps the record, looks again and owns the first create's domain,
/// instead of reporting the name taken by someone else.
pub async fn resent_create_finds_its_own_name(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "resent", Default::default()).await?;
    let first = create_losing_the_answer(&env, "r", "resent.example.com").await?;
    // The next look at Clerk misses it.
    env.fake.set_faults(Faults {
        scripted: vec![scripted("ListDomains", ScriptedFault::StaleList)],
        ..Default::default()
    });
    let st = env.wait_ready("r").await?.status.unwrap();
    ensure!(st.domain_id.as_deref() == Some(first.id.as_str()), "{st:?}");
    let stats = env.fake.stats();
    ensure!(
        stats.count_status("AddDomain", 422) == 1,
        "the create was not sent again: {stats:?}"
    );
    let sats = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .filter(|d| d.is_satellite)
        .count();
    ensure!(sats == 1, "{sats} satellites");
    Ok(())
}
