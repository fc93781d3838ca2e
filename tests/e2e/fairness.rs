//! Fair share between Clerk instances: one instance's spent client-side budget holds only a few
//! reconcile workers; its other objects are requeued for their turn, so another instance's
//! objects get workers at once.

use anyhow::ensure;
use clerk_operator::clerk::Rate;
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
    let creates = (0..SATURATING).map(|i| {
        env.create_owned(format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: dev{i}\nspec:\n  domain: dev{i}.fair.example.com\n"
        ))
    });
    for r in futures::future::join_all(creates).await {
        r?;
    }
    // The development instance is spending its budget before the other object comes.
    let start = std::time::Instant::now();
    while env.fake.stats().count("AddDomain") < 2 {
        ensure!(start.elapsed() < CONVERGE, "no development domain was created");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    let stats = env.fake.stats();
    let throttled: u64 = stats.requests.values().filter_map(|m| m.get(&429)).sum();
    ensure!(throttled == 0, "{stats:?}");
    ensure!(
        stats.count("AddDomain") == SATURATING as u64 + 1,
        "one create per object: {stats:?}"
    );
    Ok(())
}
