//! Deletion order, the shared list of a ClusterClerkInstance and its request count.

use super::kit::*;
use super::*;

/// Deletion order: an instance object in use stays (finalizer) until its ClerkDomains are
/// gone, then goes; deleting a namespace with a ClerkInstance, its Secret and ClerkDomains
/// completes, with the domain deleted from Clerk.
pub async fn instance_deletion_waits_for_domains(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "inst-delete", EnvOptions::default()).await?;
    let (ns, ns_b) = (env.ns.clone(), env.ns_b());
    secret_in(&env, &ns, "clerk", LIVE_KEY).await?;
    clerk_instance(&env, &ns, "team", "clerk").await?;
    for n in ["a", "b"] {
        env.create_in(
            &ns,
            &domain(
                n,
                &format!("{n}.del.example.com"),
                Some(("ClerkInstance", "team")),
            ),
        )
        .await?;
    }
    wait_domain_ready(&env, &ns, "a").await?;
    wait_domain_ready(&env, &ns, "b").await?;
    let cins: Api<ClerkInstance> = Api::namespaced(env.client.clone(), &ns);
    wait_for(&cins, "team", "finalizer", CONVERGE, |o: &ClerkInstance| {
        o.metadata.finalizers.iter().flatten().any(|f| f == IN_USE)
    })
    .await?;
    cins.delete("team", &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let o = cins.get_opt("team").await?.context("deleted while in use")?;
    ensure!(o.metadata.deletion_timestamp.is_some());
    env.delete_and_wait("a").await?;
    ensure!(cins.get_opt("team").await?.is_some(), "deleted while b uses it");
    env.delete_and_wait("b").await?;
    wait_gone(&cins, "team", CONVERGE).await?;
    ensure!(env.fake.stats().count_status("DeleteDomain", 200) == 2);

    // A whole namespace: ClerkInstance, Secret and ClerkDomain go, the domain with them.
    namespace_deletion_completes(&env, &ns_b).await?;
    Ok(())
}

/// Deleting namespace `ns_b` with a ClerkInstance, its Secret and a ClerkDomain completes, with
/// the domain deleted from Clerk.
async fn namespace_deletion_completes(env: &TestEnv, ns_b: &str) -> anyhow::Result<()> {
    secret_in(env, ns_b, "clerk", LIVE_KEY).await?;
    clerk_instance(env, ns_b, "team", "clerk").await?;
    env.create_in(
        ns_b,
        &domain("c", "c.del.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    wait_domain_ready(env, ns_b, "c").await?;
    let nss: Api<Namespace> = Api::all(env.client.clone());
    nss.delete(ns_b, &DeleteParams::default()).await?;
    if let Err(e) = wait_gone(&nss, ns_b, Duration::from_secs(60)).await {
        let out = env.cp.kubectl(&[
            "get",
            "clerkdomains,clerkinstances,secrets",
            "-n",
            ns_b,
            "-o",
            "yaml",
        ]);
        anyhow::bail!(
            "namespace not deleted: {}\n{e:#}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .all(|d| !d.name.contains("del.example"))
    );
    ensure!(env.fake.stats().count_status("DeleteDomain", 200) == 3);
    Ok(())
}

/// Two namespaces share one ClusterClerkInstance (one by instanceRef, one as the operator's
/// `--default-instance`): steady state is one `GET /domains` per resync period for all four
/// ClerkDomains.
pub async fn shared_cluster_instance_lists_once_per_resync(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    const PERIOD: Duration = Duration::from_secs(4);
    let name = format!("shared-{:x}", rand::random::<u32>());
    let env = start(
        cp,
        "inst-shared",
        EnvOptions {
            resync: PERIOD,
            list_ttl: Duration::from_secs(2),
            default_instance: Some(name.clone()),
            ..Default::default()
        },
    )
    .await?;
    let (ns, ns_b) = (env.ns.clone(), env.ns_b());
    secret_in(&env, &ns, "shared-key", LIVE_KEY).await?;
    cluster_instance(&env, &name, "shared-key", None).await?;
    for n in ["a", "b"] {
        env.create_in(
            &ns,
            &domain(
                n,
                &format!("{n}.shared.example.com"),
                Some(("ClusterClerkInstance", &name)),
            ),
        )
        .await?;
        env.create_in(&ns_b, &domain(n, &format!("{n}.b-shared.example.com"), None))
            .await?;
    }
    for n in ["a", "b"] {
        wait_domain_ready(&env, &ns, n).await?;
        wait_domain_ready(&env, &ns_b, n).await?;
    }
    let ccins: Api<ClusterClerkInstance> = Api::all(env.client.clone());
    wait_for(&ccins, &name, "4 users", CONVERGE, |o: &ClusterClerkInstance| {
        o.status.as_ref().is_some_and(|s| s.domains == 4)
    })
    .await?;
    // Count over three whole periods, from just after a boundary (resyncs are aligned).
    tokio::time::sleep(PERIOD * 2).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let into = Duration::from_millis((now.as_millis() % PERIOD.as_millis()) as u64);
    tokio::time::sleep(PERIOD - into + Duration::from_millis(1500)).await;
    env.fake.state().lock().unwrap().stats = Default::default();
    tokio::time::sleep(PERIOD * 3).await;
    let stats = env.fake.stats();
    let lists = stats.count("ListDomains");
    ensure!(
        (2..=4).contains(&lists),
        "{lists} lists in 3 periods (one per period expected): {stats:?}"
    );
    ensure!(
        stats.count("AddDomain") + stats.count("UpdateDomain") == 0,
        "{stats:?}"
    );
    Ok(())
}

/// `status.rateLimit.used` counts every request the instance's budget let through in Clerk's
/// window, not only the last tenth of it: twelve new domains through one ClerkInstance show at
/// least twelve.
pub async fn instance_rate_limit_counts_every_request(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    const DOMAINS: i64 = 12;
    let env = start(cp, "inst-used", EnvOptions::default()).await?;
    let ns_b = env.ns_b();
    secret_in(&env, &ns_b, "clerk", LIVE_KEY).await?;
    clerk_instance(&env, &ns_b, "team", "clerk").await?;
    for i in 0..DOMAINS {
        let (name, host) = (format!("d{i}"), format!("d{i}.used.example.com"));
        env.create_in(&ns_b, &domain(&name, &host, Some(("ClerkInstance", "team"))))
            .await?;
    }
    for i in 0..DOMAINS {
        wait_domain_ready(&env, &ns_b, &format!("d{i}")).await?;
    }
    let creates = env.fake.stats().count("AddDomain");
    ensure!(creates == DOMAINS as u64, "{creates} creates");
    // The budget is read when the instance object is checked: ask for a check now.
    let cins: Api<ClerkInstance> = Api::namespaced(env.client.clone(), &ns_b);
    let ask = json!({"metadata": {"annotations": {"clerk-operator.io/reconcile-requested-at": "used"}}});
    cins.patch("team", &PatchParams::default(), &Patch::Merge(&ask))
        .await?;
    let used = |o: &ClerkInstance| {
        let st = o.status.as_ref();
        st.and_then(|s| s.rate_limit.as_ref()).map_or(0, |r| r.used)
    };
    wait_for(
        &cins,
        "team",
        "12 requests counted",
        CONVERGE,
        |o: &ClerkInstance| used(o) >= DOMAINS,
    )
    .await?;
    Ok(())
}
