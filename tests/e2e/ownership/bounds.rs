//! Nothing a tenant writes can stall or outlive its object: bounded annotations, a way out of
//! every deletion, foreign DNSEndpoints left alone, no state after the object, the default key's
//! namespaces.

use super::*;

/// Invariant 6: malformed annotations get a clear reason and one Warning Event per value, not
/// one per reconcile; nobody else is affected.
pub async fn hostile_annotations_are_bounded(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "own-annot", Default::default()).await?;
    let bad = annotated(
        "bad",
        "    clerk-operator.io/resync-period: 99999999999999999999999y\n",
        "  domain: bad.example.com\n",
    );
    env.create(&bad).await?;
    env.wait_ready("bad").await?;
    // Several more reconciles (each label change triggers one).
    for i in 0..4 {
        env.domains()
            .patch(
                "bad",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"poke": i.to_string()}}})),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    env.wait_event("bad", "InvalidAnnotation").await?;
    let n: i32 = env
        .events_in(&env.ns, "bad")
        .await?
        .into_iter()
        .filter(|(r, _)| r == "InvalidAnnotation")
        .map(|(_, n)| n)
        .sum();
    ensure!(n == 1, "{n} InvalidAnnotation events for one value");
    let ghost = annotated(
        "ghost",
        "    clerk-operator.io/domain-id: \"../../domains/x?y=1\"\n",
        "  domain: ghost.example.com\n",
    );
    env.create(&ghost).await?;
    let o = wait_reason_in(&env.domains(), "ghost", "Ready", "InvalidAnnotation").await?;
    ensure!(is_true(&o, "Stalled"));
    ensure!(
        env.fake.stats().count("AddDomain") == 1,
        "created despite a malformed annotation"
    );
    env.create(&manifest("fine", "  domain: fine.example.com\n"))
        .await?;
    env.wait_ready("fine").await?;
    Ok(())
}

/// Invariant 8: cleanup never hangs on what retrying cannot fix; the object says why, and
/// `deletionPolicy: Orphan` on the terminating object releases it.
pub async fn deletion_always_has_an_exit(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        default_key: None,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "own-exit", opts).await?;
    env.secret("clerk", "key", LIVE_KEY).await?;
    let spec = "  domain: exit.example.com\n  secretRef: {name: clerk, key: key}\n";
    env.create(&manifest("exit", spec)).await?;
    let id = env.ready_id("exit").await?;
    // The key leaves the Secret (the Secret stays): deleting cannot succeed.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    secrets
        .patch(
            "clerk",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"key": null, "other": "eA=="}})),
        )
        .await?;
    env.delete("exit").await?;
    let o = wait_for(&env.domains(), "exit", "stalled in deletion", CONVERGE, |o| {
        is_true(o, "Stalled")
            && condition(o, "Stalled").is_some_and(|c| c.message.contains("deletionPolicy: Orphan"))
    })
    .await?;
    ensure!(
        condition(&o, "Stalled").unwrap().reason == "CredentialsNotFound",
        "{o:?}"
    );
    patch_spec(&env.domains(), "exit", json!({"deletionPolicy": "Orphan"})).await?;
    wait_gone(&env.domains(), "exit", CONVERGE).await?;
    ensure!(
        domain_name(&env, LIVE_KEY, &id).is_some(),
        "an orphaned domain was deleted"
    );
    // A key Clerk refuses (401): the same exit.
    refused_key_has_the_same_exit(&env, &secrets).await?;
    Ok(())
}

/// A key Clerk refuses (401) on delete: Stalled with `ClerkUnauthorized`, and
/// `deletionPolicy: Orphan` releases the object.
async fn refused_key_has_the_same_exit(env: &TestEnv, secrets: &Api<Secret>) -> anyhow::Result<()> {
    secrets
        .patch(
            "clerk",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"key": LIVE_KEY}})),
        )
        .await?;
    // Another name: the orphaned domain keeps the first (and is not adopted by name).
    let spec = "  domain: exit2.example.com\n  secretRef: {name: clerk, key: key}\n";
    env.create(&manifest("exit2", spec)).await?;
    let id2 = env.ready_id("exit2").await?;
    env.fake.set_faults(Faults {
        scripted: (0..20)
            .map(|_| Scripted {
                operation: "DeleteDomain".into(),
                key: None,
                fault: ScriptedFault::Status(401),
            })
            .collect(),
        ..Default::default()
    });
    env.delete("exit2").await?;
    wait_reason_in(&env.domains(), "exit2", "Stalled", "ClerkUnauthorized").await?;
    patch_spec(&env.domains(), "exit2", json!({"deletionPolicy": "Orphan"})).await?;
    wait_gone(&env.domains(), "exit2", CONVERGE).await?;
    ensure!(domain_name(env, LIVE_KEY, &id2).is_some());
    Ok(())
}

/// Invariant 9: the operator never overwrites or deletes a DNSEndpoint it did not create.
pub async fn foreign_dnsendpoint_is_left_alone(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    {
        let _lock = test_kit::real_dns::EXTERNAL_DNS_CRD.lock().await;
        test_kit::real_dns::install_external_dns_crd(&cp)?;
    }
    let env = TestEnv::start(cp.clone(), "own-dns", Default::default()).await?;
    let foreign = format!(
        "apiVersion: externaldns.k8s.io/v1alpha1\nkind: DNSEndpoint\nmetadata:\n  name: web\n  namespace: {}\nspec:\n  endpoints:\n  - dnsName: keep.example.org\n    recordType: A\n    targets: [192.0.2.1]\n",
        env.ns
    );
    let out = cp.kubectl_stdin(&["apply", "-f", "-"], &foreign);
    ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec = "  domain: web.example.com\n  dns:\n    externalDNS: {enabled: true}\n";
    env.create(&manifest("web", spec)).await?;
    let o = wait_reason_in(&env.domains(), "web", "DNSPublished", "DNSEndpointNotOwned").await?;
    ensure!(is_true(&o, "Ready"), "DNS does not change Ready");
    let get = || {
        let out = cp.kubectl(&[
            "get",
            "dnsendpoint",
            "web",
            "-n",
            &env.ns,
            "-o",
            "jsonpath={.spec.endpoints[*].dnsName}",
        ]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ensure!(
        get() == "keep.example.org",
        "foreign DNSEndpoint overwritten: {}",
        get()
    );
    // Turning publishing off does not delete it either.
    patch_spec(&env.domains(), "web", json!({"dns": null})).await?;
    wait_for(&env.domains(), "web", "DNSPublished dropped", CONVERGE, |o| {
        condition(o, "DNSPublished").is_none()
            && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
    })
    .await?;
    ensure!(get() == "keep.example.org", "foreign DNSEndpoint deleted");
    Ok(())
}

/// Invariant 10: what the process remembers about an object goes with the object, also when it
/// was removed without a cleanup: a refusal never names an object that no longer exists.
pub async fn state_does_not_outlive_objects(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "own-prune", Default::default()).await?;
    env.secret("k", "key", LIVE_KEY).await?;
    env.create(&manifest(
        "first",
        "  domain: prune.example.com
  secretRef: {name: k, key: key}
",
    ))
    .await?;
    let id = env.ready_id("first").await?;
    env.create(&manifest(
        "second",
        "  domain: prune.example.com
",
    ))
    .await?;
    wait_reason_in(&env.domains(), "second", "Ready", "AlreadyOwned").await?;
    // `first` cannot clean up (its key left the Secret), and a user removes it by hand.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    secrets
        .patch(
            "k",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"key": null, "other": "eA=="}})),
        )
        .await?;
    env.delete("first").await?;
    wait_for(&env.domains(), "first", "stuck in cleanup", CONVERGE, |o| {
        is_true(o, "Stalled")
    })
    .await?;
    env.domains()
        .patch(
            "first",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await?;
    wait_gone(&env.domains(), "first", CONVERGE).await?;
    ensure!(domain_name(&env, LIVE_KEY, &id).is_some());
    // Nobody owns the domain now: `second` may adopt it, by its ID (adoption is explicit).
    let adopt = json!({"metadata": {"annotations": {"clerk-operator.io/domain-id": id}}});
    env.domains()
        .patch("second", &PatchParams::default(), &Patch::Merge(adopt))
        .await?;
    let o = env.wait_ready("second").await?;
    let st = o.status.unwrap();
    ensure!(
        st.domain_id.as_deref() == Some(id.as_str()) && st.adopted == Some(true),
        "{st:?}"
    );
    Ok(())
}

/// Invariant 11: the default key is usable only from the namespaces the operator allows.
pub async fn default_key_is_scoped(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        default_key_namespaces: Some(vec!["platform".into()]),
        ..Default::default()
    };
    let env = TestEnv::start(cp, "own-scope", opts).await?;
    env.create(&manifest("nokey", "  domain: nokey.example.com\n"))
        .await?;
    let o = wait_reason_in(&env.domains(), "nokey", "Ready", "DefaultKeyNotAllowed").await?;
    ensure!(condition(&o, "Ready").unwrap().message.contains(&env.ns));
    ensure!(
        env.fake.stats().total == 0,
        "Clerk was called with the default key"
    );
    env.secret("own", "key", LIVE_KEY).await?;
    env.create(&manifest(
        "ownkey",
        "  domain: ownkey.example.com\n  secretRef: {name: own, key: key}\n",
    ))
    .await?;
    env.wait_ready("ownkey").await?;
    Ok(())
}
