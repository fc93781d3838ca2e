//! Secrets without Secret protection: the operator only gets the Secrets it is pointed at and
//! nothing watches them, so a Secret created after its ClerkDomain is found by looking again.

use anyhow::ensure;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

/// Without the Secret watch, an object whose Secret is missing looks again after the key
/// cache's TTL (here 2 s), not after the 10-minute recheck of other terminal failures: created
/// later, the Secret is found and the object becomes Ready.
pub async fn missing_secret_is_found_without_a_secret_watch(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        default_key: None,
        secret_protection: false,
        secret_cache_ttl: Duration::from_secs(2),
        ..Default::default()
    };
    let env = TestEnv::start(cp, "nowatch", opts).await?;
    env.create(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: later\nspec:\n  domain: later.nowatch.example.com\n  secretRef: {name: later, key: key}\n",
    )
    .await?;
    wait_for(&env.domains(), "later", "SecretNotFound", CONVERGE, |o| {
        condition(o, "Synced").is_some_and(|c| c.reason == "SecretNotFound")
    })
    .await?;
    env.secret("later", "key", LIVE_KEY).await?;
    let created = std::time::Instant::now();
    env.wait_ready("later").await?;
    eprintln!(
        "missing_secret_is_found_without_a_secret_watch: Ready {:?} after the Secret was created",
        created.elapsed()
    );
    ensure!(env.fake.stats().count("AddDomain") == 1);
    Ok(())
}
