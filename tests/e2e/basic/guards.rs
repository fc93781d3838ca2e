//! What the loop refuses or leaves alone: a name Clerk already has, the primary domain, a wrong
//! key, a missing Secret, a manifest the apiserver rejects, and an object with nothing to do.

use super::*;

/// A satellite that already exists in Clerk (created by another operator, cluster or client)
/// is not adopted by name: the object says the name is taken, writes nothing, and deleting it
/// deletes nothing.
pub async fn existing_name_is_not_adopted(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "adopt", Default::default()).await?;
    let existing = env.fake.insert_domain(LIVE_KEY, "shop.example.com", None);
    env.create(&ns_yaml(
        "shop",
        "  domain: shop.example.com\n  proxyUrl: https://evil.example.net/p\n",
    ))
    .await?;
    let o = wait_for(&env.domains(), "shop", "NameTakenInClerk", CONVERGE, |o| {
        condition(o, "Ready").is_some_and(|c| c.reason == "NameTakenInClerk")
    })
    .await?;
    let msg = &condition(&o, "Ready").unwrap().message;
    ensure!(
        msg.contains(&existing.id) && msg.contains("clerk-operator.io/domain-id"),
        "{msg}"
    );
    ensure!(is_true(&o, "Stalled") && o.status.as_ref().unwrap().domain_id.is_none());
    let stats = env.fake.stats();
    ensure!(
        stats.count("AddDomain") + stats.count("UpdateDomain") == 0,
        "wrote to a domain it did not create: {stats:?}"
    );
    env.delete_and_wait("shop").await?;
    let held = env.fake.domains(LIVE_KEY);
    let d = held.iter().find(|d| d.id == existing.id).context("deleted")?;
    ensure!(d.proxy_url.is_none(), "proxy set: {d:?}");
    ensure!(env.fake.stats().count("DeleteDomain") == 0);
    Ok(())
}

pub async fn primary_never_deleted(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        primary_domains: true,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "primary", opts).await?;
    env.create(&ns_yaml("root", "  domain: example.com\n  isSatellite: false\n"))
        .await?;
    let st = env.wait_ready("root").await?.status.unwrap();
    let primary = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .find(|d| !d.is_satellite)
        .unwrap();
    ensure!(st.domain_id.as_deref() == Some(primary.id.as_str()));
    ensure!(
        st.accounts_portal_url.as_deref() == Some("https://accounts.example.com"),
        "{:?}",
        st.accounts_portal_url
    );
    env.delete_and_wait("root").await?;
    ensure!(
        env.fake.domains(LIVE_KEY).iter().any(|d| d.id == primary.id),
        "primary deleted"
    );
    ensure!(env.fake.stats().count("DeleteDomain") == 0);
    env.wait_event("root", "PrimaryKept").await?;
    Ok(())
}

pub async fn wrong_key(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    use kube::api::{Patch, PatchParams};
    use serde_json::json;
    let env = TestEnv::start(cp, "badkey", Default::default()).await?;
    env.secret("clerk", "key", "sk_live_not_a_real_key").await?;
    env.create(&ns_yaml(
        "bad",
        "  domain: bad.example.com\n  secretRef: {name: clerk, key: key}\n",
    ))
    .await?;
    let obj = wait_for(&env.domains(), "bad", "Synced=False", CONVERGE, |o| {
        condition(o, "Synced").is_some_and(|c| c.status == "False")
    })
    .await?;
    let c = condition(&obj, "Synced").unwrap();
    ensure!(c.reason == "ClerkUnauthorized", "reason {}", c.reason);
    ensure!(
        c.message.contains("Secret Key is invalid"),
        "Clerk's long_message: {}",
        c.message
    );
    ensure!(!c.message.contains("sk_live_not_a_real_key"), "key leaked");
    ensure!(condition(&obj, "Ready").is_some_and(|c| c.status == "False"));
    env.wait_event("bad", "ClerkUnauthorized").await?;
    // A terminal error is not retried in a loop: after the reconcile that our own status write
    // triggers, no more Clerk calls until something changes.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let calls = env.fake.stats().total;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let after = env.fake.stats();
    ensure!(
        after.total == calls,
        "Clerk called again after a 401 with nothing changed: {calls} then {after:?}"
    );
    // Fixing the Secret triggers a reconcile (no 10-minute wait) and the object recovers.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    secrets
        .patch(
            "clerk",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"key": LIVE_KEY}})),
        )
        .await?;
    env.wait_ready("bad").await?;
    Ok(())
}

pub async fn missing_secret(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "nosecret", Default::default()).await?;
    env.create(&ns_yaml(
        "orphan",
        "  domain: nosecret.example.com\n  secretRef: {name: absent, key: key}\n",
    ))
    .await?;
    let obj = wait_for(&env.domains(), "orphan", "SecretNotFound", CONVERGE, |o| {
        condition(o, "Synced").is_some_and(|c| c.reason == "SecretNotFound")
    })
    .await?;
    ensure!(condition(&obj, "Synced").unwrap().message.contains("absent"));
    // No hot loop: no Clerk calls at all, and the status settles.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let rv = env.domains().get("orphan").await?.metadata.resource_version;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    ensure!(
        env.domains().get("orphan").await?.metadata.resource_version == rv,
        "status keeps changing"
    );
    ensure!(env.fake.stats().total == 0, "Clerk called without credentials");
    env.secret("absent", "key", LIVE_KEY).await?;
    env.wait_ready("orphan").await?;
    Ok(())
}

pub async fn admission_rejects(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "admission", Default::default()).await?;
    let cases = [
        ("  domain: https://a.example.com\n", "must not contain a scheme"),
        ("  domain: a.example.com/path\n", "must not contain a path"),
        ("  domain: \"*.example.com\"\n", "must not be a wildcard"),
        ("  domain: A.example.com\n", "must be lowercase"),
        (
            "  domain: a.example.com\n  proxyUrl: http://a.example.com/__clerk\n",
            "proxyUrl must be an https:// URL",
        ),
        (
            "  domain: a.example.com\n  deletionPolicy: Keep\n",
            "Unsupported value",
        ),
    ];
    for (i, (spec, want)) in cases.iter().enumerate() {
        let out = env.cp.kubectl_stdin(
            &["apply", "-n", &env.ns, "-f", "-"],
            &ns_yaml(&format!("bad{i}"), spec),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "{spec} was accepted");
        ensure!(stderr.contains(want), "{spec}: got {stderr}, want {want}");
    }
    env.create(&ns_yaml(
        "good",
        "  domain: localhost:3000\n  deletionPolicy: Orphan\n",
    ))
    .await?;
    Ok(())
}

pub async fn idle_object_is_quiet(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(
        cp,
        "idle",
        EnvOptions {
            resync: std::time::Duration::from_secs(1),
            list_ttl: std::time::Duration::from_millis(100),
            ..Default::default()
        },
    )
    .await?;
    env.create(&ns_yaml("idle", "  domain: idle.example.com\n"))
        .await?;
    let obj = env.wait_ready("idle").await?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = env.domains().get("idle").await?;
    let lists_before = env.fake.stats().count("ListDomains");
    let reconciles_before = env.reconciles();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let after = env.domains().get("idle").await?;
    ensure!(
        before.metadata.resource_version == after.metadata.resource_version,
        "idle object was written"
    );
    let ready_before = condition(&obj, "Ready").unwrap().last_transition_time.clone();
    ensure!(condition(&after, "Ready").unwrap().last_transition_time == ready_before);
    let lists = env.fake.stats().count("ListDomains") - lists_before;
    let count = env.reconciles() - reconciles_before;
    ensure!(
        (3..=7).contains(&count),
        "{count} reconciles in 5 s at a 1 s resync"
    );
    // About one list per resync (1 s) over 5 s; far fewer than a hot loop would make.
    ensure!((3..=7).contains(&lists), "{lists} lists in 5 s at a 1 s resync");
    Ok(())
}
