//! How much work a new object costs the operator: one reconcile when Clerk answers at once (the
//! reconcile that adds the finalizer goes on to create), and no reconcile from its own writes.
//! (A Secret's in-use finalizer, added when its first user comes, reconciles the users it has
//! then once: the metadata-only Secret watch cannot tell that write from a new key.)

use anyhow::ensure;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

/// Objects created at once.
const OBJECTS: u64 = 5;

/// Five new objects on the default key: each is Ready after one reconcile, and neither the
/// finalizer nor the status writes start another.
pub async fn new_object_is_reconciled_once(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        default_key: Some(TEST_KEY),
        ..Default::default()
    };
    let env = TestEnv::start(cp, "economy", opts).await?;
    for i in 0..OBJECTS {
        env.create(&format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: new{i}\nspec:\n  domain: new{i}.economy.example.com\n"
        ))
        .await?;
    }
    for i in 0..OBJECTS {
        env.wait_ready(&format!("new{i}")).await?;
    }
    // Anything the writes would start has had time to run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reconciles = env.reconciles();
    ensure!(
        reconciles == OBJECTS,
        "{reconciles} reconciles for {OBJECTS} new objects"
    );
    let creates = env.fake.stats().count("AddDomain");
    ensure!(creates == OBJECTS, "{creates} creates");
    Ok(())
}
