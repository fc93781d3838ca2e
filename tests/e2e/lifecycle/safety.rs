//! Conflicts and credentials safety: a second object for an owned domain, a Secret in use, and
//! Secret references that stay in their namespace.

use super::*;

/// Two ClerkDomains for the same domain of the same instance: the one that created it owns it;
/// the other is refused (AlreadyOwned), never writes to Clerk, and deleting it deletes nothing.
pub async fn second_object_for_an_owned_domain_is_refused(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "conflict", Default::default()).await?;
    env.create(&manifest("first", "  domain: shared.example.com\n"))
        .await?;
    let first = env.wait_ready("first").await?.status.unwrap();
    ensure!(
        first
            .instance_id
            .as_deref()
            .is_some_and(|i| i.starts_with("ins_")),
        "{first:?}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // creationTimestamp has 1 s resolution
    env.create(&manifest(
        "second",
        "  domain: shared.example.com\n  proxyUrl: https://shared.example.com/__x\n",
    ))
    .await?;
    let obj = wait_reason(&env, "second", "Ready", "AlreadyOwned").await?;
    let msg = &condition(&obj, "Ready").unwrap().message;
    ensure!(
        msg.contains("first") && msg.contains(first.domain_id.as_deref().unwrap()),
        "{msg}"
    );
    ensure!(
        env.fake.stats().count("UpdateDomain") == 0,
        "the younger object wrote to Clerk"
    );
    ensure!(env.fake.stats().count("AddDomain") == 1);
    env.wait_event("second", "AlreadyOwned").await?;
    env.delete_and_wait("second").await?;
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.name == "shared.example.com"),
        "conflicting object deleted the domain"
    );
    ensure!(is_true(&env.domains().get("first").await?, "Ready"));
    env.delete_and_wait("first").await?;
    ensure!(
        !env.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.name == "shared.example.com")
    );
    Ok(())
}

/// A used Secret gets the in-use finalizer, so deleting it (or the whole namespace) cannot take
/// the key away before the ClerkDomains are cleaned up; the finalizer goes when no one uses it.
pub async fn secret_in_use_outlives_its_domains(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(
        cp,
        "inuse",
        EnvOptions {
            default_key: None,
            ..Default::default()
        },
    )
    .await?;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    env.secret("clerk", "key", LIVE_KEY).await?;
    env.create(&manifest(
        "a",
        "  domain: a.inuse.example.com\n  secretRef: {name: clerk, key: key}\n",
    ))
    .await?;
    env.create(&manifest(
        "b",
        "  domain: b.inuse.example.com\n  secretRef: {name: clerk, key: key}\n",
    ))
    .await?;
    env.wait_ready("a").await?;
    env.wait_ready("b").await?;
    let has_finalizer = |s: &Secret| {
        s.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "clerk-operator.io/in-use")
    };
    wait_for(&secrets, "clerk", "in-use finalizer", CONVERGE, has_finalizer).await?;
    // Deleting the Secret first: it waits for its users.
    secrets.delete("clerk", &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(
        secrets.get_opt("clerk").await?.is_some(),
        "Secret vanished while in use"
    );
    env.delete_and_wait("a").await?;
    ensure!(
        secrets.get_opt("clerk").await?.is_some(),
        "Secret vanished while b still uses it"
    );
    // The whole namespace goes: b is cleaned up with its key, then the Secret, then the namespace.
    namespace_goes_with_its_domains(&env).await?;
    Ok(())
}

/// Deleting the test namespace cleans up its ClerkDomains with their key, then the Secret,
/// then the namespace; nothing is left in Clerk.
async fn namespace_goes_with_its_domains(env: &TestEnv) -> anyhow::Result<()> {
    let nss: Api<Namespace> = Api::all(env.client.clone());
    nss.delete(&env.ns, &DeleteParams::default()).await?;
    if let Err(e) = wait_gone(&nss, &env.ns, Duration::from_secs(60)).await {
        let out = env
            .cp
            .kubectl(&["get", "clerkdomains,secrets", "-n", &env.ns, "-o", "yaml"]);
        anyhow::bail!(
            "namespace not deleted: {}\n{e:#}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let left: Vec<_> = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .filter(|d| d.name.contains("inuse"))
        .collect();
    ensure!(left.is_empty(), "domains left in Clerk: {left:?}");
    ensure!(env.fake.stats().count_status("DeleteDomain", 200) == 2);
    Ok(())
}

/// `spec.secretRef` reads only the object's own namespace.
pub async fn secret_ref_is_namespace_local(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(
        cp.clone(),
        "local",
        EnvOptions {
            default_key: None,
            ..Default::default()
        },
    )
    .await?;
    let other = TestEnv::start(
        cp,
        "other",
        EnvOptions {
            default_key: None,
            ..Default::default()
        },
    )
    .await?;
    other.secret("clerk", "key", LIVE_KEY).await?;
    env.create(&manifest(
        "x",
        "  domain: x.local.example.com\n  secretRef: {name: clerk, key: key}\n",
    ))
    .await?;
    let obj = wait_reason(&env, "x", "Synced", "SecretNotFound").await?;
    ensure!(
        condition(&obj, "Synced")
            .unwrap()
            .message
            .contains(&format!("{}/clerk", env.ns))
    );
    ensure!(env.fake.stats().total == 0);
    Ok(())
}
