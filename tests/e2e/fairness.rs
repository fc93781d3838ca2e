//! Fair share between Clerk instances: an instance that Clerk paused (429) holds no reconcile
//! worker, and one whose client-side budget is spent holds only a few; their other objects are
//! requeued, so another instance's objects get workers at once.

use anyhow::ensure;
use clerk_operator::clerk::Rate;
use fake_clerk::{Faults, Scripted, ScriptedFault};
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

/// Objects of the saturated development instance.
const SATURATING: usize = 30;

async fn ready_count(env: &TestEnv) -> anyhow::Result<usize> {
    let list = env.domains().list(&Default::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|o| o.metadata.name.as_deref().is_some_and(|n| n.starts_with("dev")))
        .filter(|o| is_true(o, "Ready"))
        .count())
}

/// Thirty objects of a development instance whose client-side budget is two requests a second,
/// then one of a production instance: the production object is Ready while most of the
/// development objects still wait for their turns (with every worker asleep on the development
/// budget it waited behind nearly all of them), and every development object gets there in the
/// end with one create each and no 429.
pub async fn saturated_instance_leaves_workers_to_others(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        default_key: Some(TEST_KEY),
        development_rate: Some(Rate {
            requests: 2,
            per: Duration::from_secs(1),
        }),
        concurrency: 4,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "fairshare", opts).await?;
    env.secret("live", "key", LIVE_KEY).await?;
    create_saturating(&env).await?;
    let other = std::time::Instant::now();
    env.create(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: live\nspec:\n  domain: live.fair.example.com\n  secretRef: {name: live, key: key}\n",
    )
    .await?;
    env.wait_ready("live").await?;
    let other_took = other.elapsed();
    let ready_then = ready_count(&env).await?;
    eprintln!(
        "saturated_instance_leaves_workers_to_others: the other instance's object Ready after {other_took:?}, {ready_then} of {SATURATING} saturating objects Ready then, {} turns given",
        env.metrics.rate_limiter_turns.get()
    );
    ensure!(
        ready_then <= SATURATING / 2,
        "{ready_then} of {SATURATING} objects of the saturated instance were Ready before the other instance's object"
    );
    ensure!(
        env.metrics.rate_limiter_turns.get() > 0,
        "no request was given a turn"
    );
    for i in 0..SATURATING {
        env.wait_ready(&format!("dev{i}")).await?;
    }
    one_create_each(&env)?;
    Ok(())
}

/// Wait until Clerk has answered the scripted 429.
async fn answered_429(env: &TestEnv) -> anyhow::Result<()> {
    eventually(
        "a request at the scripted 429",
        CONVERGE,
        Duration::from_millis(50),
        || async {
            let injected = env.fake.fault_stats().injected;
            let answered = injected.get(&429).is_some_and(|n| *n > 0);
            Ok(answered.then_some(()).ok_or_else(|| format!("{injected:?}")))
        },
    )
    .await
}

/// Clerk answers one instance's first request with 429 and a long `Retry-After`. With a single
/// worker, that instance's objects must not hold it through the pause: they fail fast
/// (ClerkRateLimited, no request sent) and are requeued after the pause, so the other
/// instance's objects get Ready at once; the paused ones are Ready after the pause.
pub async fn rate_limited_instance_does_not_starve_others(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    const PAUSE: Duration = Duration::from_secs(20);
    let opts = EnvOptions {
        concurrency: 1,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "pause429", opts).await?;
    env.secret("dev", "key", TEST_KEY).await?;
    let dev_instance = script_pause(&env, PAUSE);
    // The paused instance's objects come first, so one of them gets the worker first.
    for i in 0..3 {
        env.create(&format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: dev{i}\nspec:\n  domain: dev{i}.pause.example.com\n  secretRef: {{name: dev, key: key}}\n"
        ))
        .await?;
    }
    // Clerk has answered 429: the instance is paused from now on.
    answered_429(&env).await?;
    let paused_at = std::time::Instant::now();
    for i in 0..3 {
        env.create(&format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: live{i}\nspec:\n  domain: live{i}.pause.example.com\n"
        ))
        .await?;
    }
    for i in 0..3 {
        env.wait_ready_within(&format!("live{i}"), PAUSE / 2).await?;
    }
    let live_took = paused_at.elapsed();
    ensure!(live_took < PAUSE / 2, "the other instance waited {live_took:?}");
    // Meanwhile the paused instance got exactly one request (the 429): the others were refused
    // by the client, not sent.
    let sent = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.instance.as_deref() == Some(dev_instance.as_str()))
        .count();
    ensure!(
        sent == 1,
        "{sent} requests to the paused instance during its pause"
    );
    none_ready_during_the_pause(&env).await?;
    // After the pause they converge.
    for i in 0..3 {
        env.wait_ready_within(&format!("dev{i}"), PAUSE + CONVERGE)
            .await?;
    }
    let dev_took = paused_at.elapsed();
    ensure!(
        dev_took >= PAUSE - Duration::from_secs(3),
        "paused objects Ready after {dev_took:?}, before the pause ended"
    );
    eprintln!(
        "rate_limited_instance_does_not_starve_others: other instance Ready after {live_took:?}, paused one after {dev_took:?}"
    );
    Ok(())
}

/// The saturating objects, created at once; returns once the development instance is spending
/// its budget (before the other object comes).
async fn create_saturating(env: &TestEnv) -> anyhow::Result<()> {
    let creates = (0..SATURATING).map(|i| {
        env.create_owned(format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: dev{i}\nspec:\n  domain: dev{i}.fair.example.com\n"
        ))
    });
    for r in futures::future::join_all(creates).await {
        r?;
    }
    eventually(
        "development domains created",
        CONVERGE,
        Duration::from_millis(20),
        || async {
            let stats = env.fake.stats();
            Ok((stats.count("AddDomain") >= 2)
                .then_some(())
                .ok_or_else(|| format!("{stats:?}")))
        },
    )
    .await
}

/// Two reconciles at most per object (the one that adds the finalizer goes on to send, or to
/// take a turn; the turn's sends), no 429 and one create per object.
fn one_create_each(env: &TestEnv) -> anyhow::Result<()> {
    let reconciles = env.reconciles();
    ensure!(
        reconciles <= 2 * (SATURATING as u64 + 1),
        "{reconciles} reconciles for {} objects",
        SATURATING + 1
    );
    let stats = env.fake.stats();
    let throttled: u64 = stats.requests.values().filter_map(|m| m.get(&429)).sum();
    ensure!(throttled == 0, "{stats:?}");
    ensure!(
        stats.count("AddDomain") == SATURATING as u64 + 1,
        "one create per object: {stats:?}"
    );
    Ok(())
}

/// Clerk answers the development instance's first `GetInstance` with 429 and a `Retry-After`
/// of `pause`. The instance's ID.
fn script_pause(env: &TestEnv, pause: Duration) -> String {
    env.fake.set_faults(Faults {
        retry_after_secs: Some(pause.as_secs()),
        scripted: vec![Scripted {
            operation: "GetInstance".into(),
            key: Some(TEST_KEY.into()),
            fault: ScriptedFault::Status(429),
        }],
        ..Default::default()
    });
    env.fake.state().lock().unwrap().instances[TEST_KEY].id.clone()
}

/// Which of the paused objects met the 429 depends on the order the single worker took them in
/// (an object's finalizer is added in a reconcile of its own, and those interleave), and one the
/// worker reaches only now may be read between its first status and its refusal. So: none is
/// Ready or Registered, and the one that met the 429 says so (its reconcile ended before the
/// other instance's objects got the worker).
async fn none_ready_during_the_pause(env: &TestEnv) -> anyhow::Result<()> {
    let mut limited = false;
    for i in 0..3 {
        let o = env.domains().get(&format!("dev{i}")).await?;
        ensure!(
            !is_true(&o, "Ready"),
            "dev{i} Ready during the pause: {:?}",
            o.status
        );
        let reasons: Vec<&str> = o
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().map(|c| c.reason.as_str()))
            .collect();
        ensure!(!reasons.contains(&"Registered"), "dev{i}: {reasons:?}");
        limited |= reasons.contains(&"ClerkRateLimited");
    }
    ensure!(limited, "no paused object reports ClerkRateLimited");
    Ok(())
}
