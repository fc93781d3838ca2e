//! `helm install` and the ClerkDomain lifecycle as the chart's ServiceAccount; a missing RBAC
//! rule is reported, not a crash.

use super::*;

/// Keys of the development instance (aliases of [`TEST_KEY`]) the tenant's Secret rotates between.
const OLD_TENANT_KEY: &str = "sk_test_e2e_tenant_key_before_rotation";
const NEW_TENANT_KEY: &str = "sk_test_e2e_tenant_key_after_rotation";

/// Rotate the tenant's key (the Secret gets the new key, the old one is revoked in Clerk): with
/// no Secret watch, the operator reads the Secret again once its cached key is older than
/// `--secret-cache-ttl`, so the next change reaches Clerk with the new key.
async fn rotate_tenant_key(rel: &Release, secrets: &Api<Secret>, op: &OperatorProcess) -> anyhow::Result<()> {
    let patch = json!({"stringData": {"CLERK_SECRET_KEY": NEW_TENANT_KEY}});
    secrets
        .patch("tenant-key", &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    ensure!(rel.fake.revoke_key(OLD_TENANT_KEY));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spec = json!({"spec": {"domain": "tenant2.example.com"}});
    rel.domains()
        .patch("tenant", &PatchParams::default(), &Patch::Merge(spec))
        .await?;
    wait_for(
        &rel.domains(),
        "tenant",
        "renamed with the new key",
        CONVERGE,
        |o: &ClerkDomain| {
            is_true(o, "Ready")
                && o.status.as_ref().and_then(|s| s.domain.as_deref()) == Some("tenant2.example.com")
        },
    )
    .await
    .with_context(|| op.log_tail(40))?;
    ensure!(
        rel.fake
            .domains(TEST_KEY)
            .iter()
            .any(|d| d.name == "tenant2.example.com")
    );
    Ok(())
}

/// `helm install` the chart (default values: Secrets are only read one by one, `get`), then run
/// the operator as a separate process holding only a token of the chart's ServiceAccount: create
/// → Ready, a rotated key is picked up without a Secret watch, update → PATCH in Clerk, delete →
/// gone from Clerk; Events and the Lease are written under that identity.
pub async fn helm_install_and_lifecycle_as_service_account(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp.clone(), "helm", false).await?;
    let notes = &rel.install_output;
    ensure!(
        notes.contains("NOTES:")
            && notes.contains("kind: ClerkDomain")
            && notes.contains("kubectl -n default wait --for=condition=Ready"),
        "NOTES do not give the next step:\n{notes}"
    );
    rel.check_restricted()?;
    // The installed permissions, cluster-wide (ClusterRole): what is needed, nothing more.
    allowed_permissions(&rel)?;
    denied_permissions(&rel)?;

    let identity = format!("{}-7d9f-abcde", rel.name);
    let mut opts = rel.operator(&identity, true);
    opts.extra_args.push("--secret-cache-ttl=2s".into());
    let mut op = OperatorProcess::spawn(&opts)?;
    op.wait_log(&["acquired leadership"], CONVERGE).await?;
    rel.wait_lease_holder(&identity, Duration::from_secs(10)).await?;

    let secrets: Api<Secret> = Api::namespaced(rel.client.clone(), &rel.app_ns);
    let site = create_domains(&rel, &secrets, &op).await?;
    let configmaps = check_export(&rel, &op).await?;
    let id = site.status.and_then(|s| s.domain_id).context("domain id")?;
    check_created(&rel, &secrets, &id).await?;
    rotate_tenant_key(&rel, &secrets, &op).await?;
    rename_site(&rel, &op, &id).await?;
    check_events(&rel, &identity).await?;
    delete_domains(&rel, &op, &configmaps, &id).await?;

    // Still the leader; no permission error anywhere in its log.
    ensure!(rel.lease_holder().await?.as_deref() == Some(identity.as_str()));
    let forbidden = op.log_lines(&["forbidden"]);
    ensure!(forbidden.is_empty(), "permission errors: {forbidden:#?}");
    ensure!(op.is_running(), "operator exited: {}", op.log_tail(40));

    // SIGTERM: graceful stop releases the Lease at once.
    op.terminate();
    let status = op.wait_exit(Duration::from_secs(30)).await?;
    ensure!(status.success(), "exit status {status}: {}", op.log_tail(20));
    ensure!(rel.lease_holder().await?.is_none(), "Lease not released");

    ok(
        rel.helm(&["uninstall", &rel.name, "--namespace", &rel.ns]),
        "helm uninstall",
    )?;
    ensure!(
        !cp.kubectl(&["get", "clusterrole", &rel.name]).status.success(),
        "ClusterRole left behind"
    );
    Ok(())
}

/// What the chart grants: the operator's calls, each allowed.
fn allowed_permissions(rel: &Release) -> anyhow::Result<()> {
    let app = Some(rel.app_ns.as_str());
    let sys = Some(rel.ns.as_str());
    for (verb, resource, ns) in [
        ("list", "clerkdomains.clerk-operator.io", None),
        ("watch", "clerkdomains.clerk-operator.io", None),
        ("patch", "clerkdomains.clerk-operator.io", app),
        ("patch", "clerkdomains.clerk-operator.io/status", app),
        ("get", "secrets", app),
        ("create", "events.events.k8s.io", app),
        ("get", "configmaps", app),
        ("create", "configmaps", app),
        ("list", "configmaps", None),
        ("watch", "configmaps", None),
        ("patch", "configmaps", app),
        ("delete", "configmaps", app),
        ("create", "leases.coordination.k8s.io", sys),
        ("patch", &format!("leases.coordination.k8s.io/{}", rel.name), sys),
    ] {
        ensure!(
            rel.can_i(verb, resource, ns),
            "{} may not {verb} {resource}",
            rel.user()
        );
    }
    Ok(())
}

/// What the chart does not grant: every neighbouring call refused.
fn denied_permissions(rel: &Release) -> anyhow::Result<()> {
    let app = Some(rel.app_ns.as_str());
    let sys = Some(rel.ns.as_str());
    for (verb, resource, ns) in [
        ("get", "clerkdomains.clerk-operator.io", app),
        ("update", "clerkdomains.clerk-operator.io", app),
        ("delete", "clerkdomains.clerk-operator.io", app),
        ("create", "clerkdomains.clerk-operator.io", app),
        ("update", "clerkdomains.clerk-operator.io/status", app),
        ("create", "secrets", app),
        ("delete", "secrets", app),
        ("update", "secrets", app),
        ("patch", "secrets", app),
        ("list", "secrets", app),
        ("watch", "secrets", None),
        ("update", "configmaps", app),
        ("create", "events", app),
        ("delete", "events.events.k8s.io", app),
        ("create", "leases.coordination.k8s.io", app),
        ("patch", "leases.coordination.k8s.io/someone-else", sys),
        ("delete", &format!("leases.coordination.k8s.io/{}", rel.name), sys),
        ("get", "pods", sys),
    ] {
        ensure!(
            !rel.can_i(verb, resource, ns),
            "{} may {verb} {resource}",
            rel.user()
        );
    }
    Ok(())
}

/// Create: one ClerkDomain with the default key, one with a Secret of its namespace; both
/// Ready. The first, as it was when Ready.
async fn create_domains(
    rel: &Release,
    secrets: &Api<Secret>,
    op: &OperatorProcess,
) -> anyhow::Result<ClerkDomain> {
    let mut s = Secret::default();
    s.metadata.name = Some("tenant-key".into());
    ensure!(rel.fake.add_key(OLD_TENANT_KEY, TEST_KEY) && rel.fake.add_key(NEW_TENANT_KEY, TEST_KEY));
    s.string_data = Some([("CLERK_SECRET_KEY".to_string(), OLD_TENANT_KEY.to_string())].into());
    secrets.create(&PostParams::default(), &s).await?;
    rel.create_domain("site", json!({"domain": "site.example.com"}))
        .await?;
    rel.create_domain(
        "tenant",
        json!({"domain": "tenant.example.com", "secretRef": {"name": "tenant-key", "key": "CLERK_SECRET_KEY"},
               "export": {"configMapName": "tenant-clerk"}}),
    )
    .await?;
    let site = rel.wait_ready("site", op).await?;
    rel.wait_ready("tenant", op).await?;
    Ok(site)
}

/// The export, written with the chart's permissions: a development key gives pk_test_ from
/// the Frontend API host of the instance's primary domain. The ConfigMaps of the app namespace.
async fn check_export(
    rel: &Release,
    op: &OperatorProcess,
) -> anyhow::Result<Api<k8s_openapi::api::core::v1::ConfigMap>> {
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(rel.client.clone(), &rel.app_ns);
    let primary = rel
        .fake
        .domains(TEST_KEY)
        .into_iter()
        .find(|d| !d.is_satellite)
        .context("primary domain")?;
    let host = primary
        .frontend_api_url
        .trim_start_matches("https://")
        .to_string();
    let pk = clerk_operator::controller::export::publishable_key(&host, false);
    ensure!(pk.starts_with("pk_test_"), "{pk}");
    wait_for(&configmaps, "tenant-clerk", "exported", CONVERGE, |cm| {
        let d = cm.data.clone().unwrap_or_default();
        d.get("CLERK_PUBLISHABLE_KEY") == Some(&pk)
            && d.get("CLERK_DOMAIN").map(String::as_str) == Some("tenant.example.com")
    })
    .await
    .with_context(|| op.log_tail(40))?;
    Ok(configmaps)
}

/// Both domains are in Clerk; without Secret protection, no in-use finalizer.
async fn check_created(rel: &Release, secrets: &Api<Secret>, id: &str) -> anyhow::Result<()> {
    ensure!(
        rel.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.id == *id && d.name == "site.example.com")
    );
    ensure!(
        rel.fake
            .domains(TEST_KEY)
            .iter()
            .any(|d| d.name == "tenant.example.com")
    );
    let in_use = |s: &Secret| s.finalizers().iter().any(|f| f == "clerk-operator.io/in-use");
    ensure!(
        !in_use(&secrets.get("tenant-key").await?),
        "in-use finalizer without Secret protection"
    );
    Ok(())
}

/// Update: a PATCH reaches Clerk.
async fn rename_site(rel: &Release, op: &OperatorProcess, id: &str) -> anyhow::Result<()> {
    let patches = rel.fake.stats().count_status("UpdateDomain", 200);
    rel.domains()
        .patch(
            "site",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domain": "site2.example.com"}})),
        )
        .await?;
    wait_for(&rel.domains(), "site", "renamed", CONVERGE, |o: &ClerkDomain| {
        is_true(o, "Ready")
            && o.status.as_ref().and_then(|s| s.domain.as_deref()) == Some("site2.example.com")
    })
    .await
    .with_context(|| op.log_tail(40))?;
    ensure!(rel.fake.stats().count_status("UpdateDomain", 200) == patches + 1);
    ensure!(
        rel.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.id == *id && d.name == "site2.example.com")
    );
    Ok(())
}

/// Events, reported by this process.
async fn check_events(rel: &Release, identity: &str) -> anyhow::Result<()> {
    for (name, reason) in [("site", "Created"), ("tenant", "Created"), ("site", "Updated")] {
        let e = rel.wait_event(name, reason).await?;
        ensure!(
            e.reporting_controller.as_deref() == Some("clerk-operator"),
            "{e:?}"
        );
        ensure!(e.reporting_instance.as_deref() == Some(identity), "{e:?}");
    }
    Ok(())
}

/// Delete: gone from Clerk, the objects and the Secret's finalizer released.
async fn delete_domains(
    rel: &Release,
    op: &OperatorProcess,
    configmaps: &Api<k8s_openapi::api::core::v1::ConfigMap>,
    id: &str,
) -> anyhow::Result<()> {
    rel.domains().delete("site", &Default::default()).await?;
    rel.domains().delete("tenant", &Default::default()).await?;
    wait_gone(&rel.domains(), "site", CONVERGE)
        .await
        .with_context(|| op.log_tail(40))?;
    wait_gone(&rel.domains(), "tenant", CONVERGE).await?;
    wait_gone(configmaps, "tenant-clerk", CONVERGE).await?;
    ensure!(
        !rel.fake.domains(LIVE_KEY).iter().any(|d| d.id == *id),
        "site still in Clerk"
    );
    ensure!(
        !rel.fake
            .domains(TEST_KEY)
            .iter()
            .any(|d| d.name.starts_with("tenant"))
    );
    rel.wait_event("site", "Deleted").await?;
    Ok(())
}
