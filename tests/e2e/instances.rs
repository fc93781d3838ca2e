//! ClerkInstance and ClusterClerkInstance, on the real apiserver with the fake Clerk.
//! Every test runs cluster-wide (ClusterClerkInstances are cluster-scoped), with the test's
//! namespace as the operator's (where ClusterClerkInstances' Secrets live) and a second
//! namespace `<ns>-b`.

use anyhow::{Context as _, ensure};
use clerk_operator::api::{ClerkInstance, ClusterClerkInstance};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

mod kit;
mod lifecycle;
mod platform;
use kit::*;
pub use lifecycle::*;
pub use platform::*;

/// Both kinds become Ready with what Clerk says (instance ID, environment), count their
/// ClerkDomains, show the rate-limit budget, hold the in-use finalizer, and their domains
/// reach Ready through them; `kubectl get` prints the columns.
pub async fn instances_report_clerk_status(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "inst-status", EnvOptions::default()).await?;
    let (ns, ns_b) = (env.ns.clone(), env.ns_b());
    let shared = format!("shared-{ns}");
    create_instances_and_domains(&env, &ns, &ns_b, &shared).await?;
    let (live_id, test_id) = domains_ready_through_instances(&env, &ns, &ns_b).await?;
    instance_status(&env, &ns_b, &shared, &live_id, &test_id).await?;
    secrets_in_use_and_columns(&env, &ns, &ns_b, &shared, &live_id, &test_id).await?;
    Ok(())
}

/// A ClerkInstance in `ns_b` and a ClusterClerkInstance `shared` (its Secret in the operator's
/// namespace `ns`); a ClerkDomain through the first, two through the second.
async fn create_instances_and_domains(
    env: &TestEnv,
    ns: &str,
    ns_b: &str,
    shared: &str,
) -> anyhow::Result<()> {
    secret_in(env, ns_b, "clerk", LIVE_KEY).await?;
    clerk_instance(env, ns_b, "team", "clerk").await?;
    // The cluster instance's Secret is in the operator's namespace.
    secret_in(env, ns, "shared-key", TEST_KEY).await?;
    cluster_instance(env, shared, "shared-key", None).await?;
    env.create_in(
        ns_b,
        &domain("own", "own.inst.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    env.create_in(
        ns_b,
        &domain(
            "dev",
            "dev.inst.example.com",
            Some(("ClusterClerkInstance", shared)),
        ),
    )
    .await?;
    env.create_in(
        ns,
        &domain(
            "dev2",
            "dev2.inst.example.com",
            Some(("ClusterClerkInstance", shared)),
        ),
    )
    .await?;
    Ok(())
}

/// The domains are Ready with the instance IDs of their instances, and in their Clerk. Those
/// IDs (production, development).
async fn domains_ready_through_instances(
    env: &TestEnv,
    ns: &str,
    ns_b: &str,
) -> anyhow::Result<(String, String)> {
    let own = wait_domain_ready(env, ns_b, "own").await?;
    let dev = wait_domain_ready(env, ns_b, "dev").await?;
    wait_domain_ready(env, ns, "dev2").await?;
    let (live_id, test_id) = (fake_instance_id(env, LIVE_KEY), fake_instance_id(env, TEST_KEY));
    ensure!(own.status.unwrap().instance_id.as_deref() == Some(live_id.as_str()));
    ensure!(dev.status.unwrap().instance_id.as_deref() == Some(test_id.as_str()));
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.name == "own.inst.example.com")
    );
    ensure!(
        env.fake
            .domains(TEST_KEY)
            .iter()
            .any(|d| d.name == "dev2.inst.example.com")
    );
    Ok((live_id, test_id))
}

/// Both instances Ready with what Clerk says, their ClerkDomains counted, the rate-limit budget
/// shown and the in-use finalizer held.
async fn instance_status(
    env: &TestEnv,
    ns_b: &str,
    shared: &str,
    live_id: &str,
    test_id: &str,
) -> anyhow::Result<()> {
    let cins: Api<ClerkInstance> = Api::namespaced(env.client.clone(), ns_b);
    let ccins: Api<ClusterClerkInstance> = Api::all(env.client.clone());
    let team = wait_for(&cins, "team", "counted", CONVERGE, |o: &ClerkInstance| {
        o.status.as_ref().is_some_and(|s| s.domains == 1)
    })
    .await?;
    let st = team.status.clone().context("status")?;
    ensure!(st.instance_id.as_deref() == Some(live_id), "{st:?}");
    ensure!(st.environment_type.as_deref() == Some("production"), "{st:?}");
    let rl = st.rate_limit.clone().context("rateLimit")?;
    ensure!(rl.limit == 1000 && rl.window == "10s" && rl.used >= 1, "{rl:?}");
    ensure!(instance_cond(Some(&st), "Ready").is_some_and(|c| c.status == "True" && c.reason == "Verified"));
    ensure!(instance_cond(Some(&st), "Stalled").is_none());
    ensure!(
        team.metadata.finalizers.iter().flatten().any(|f| f == IN_USE),
        "{team:?}"
    );
    let cl = wait_for(&ccins, shared, "counted", CONVERGE, |o: &ClusterClerkInstance| {
        o.status.as_ref().is_some_and(|s| s.domains == 2)
    })
    .await?;
    let st = cl.status.clone().context("status")?;
    ensure!(st.instance_id.as_deref() == Some(test_id), "{st:?}");
    ensure!(st.environment_type.as_deref() == Some("development"), "{st:?}");
    ensure!(st.rate_limit.as_ref().is_some_and(|r| r.limit == 100), "{st:?}");
    ensure!(cl.metadata.finalizers.iter().flatten().any(|f| f == IN_USE));
    Ok(())
}

/// The key's Secrets are kept while the instance objects use them; `kubectl get` prints the
/// columns.
async fn secrets_in_use_and_columns(
    env: &TestEnv,
    ns: &str,
    ns_b: &str,
    shared: &str,
    live_id: &str,
    test_id: &str,
) -> anyhow::Result<()> {
    // (The finalizer is added by the reconcile after the one that counted: wait for it.)
    for (ns, name) in [(ns_b, "clerk"), (ns, "shared-key")] {
        let secrets = Api::<Secret>::namespaced(env.client.clone(), ns);
        wait_for(&secrets, name, "in use", CONVERGE, |s: &Secret| {
            s.metadata.finalizers.iter().flatten().any(|f| f == IN_USE)
        })
        .await
        .with_context(|| format!("{ns}/{name} has no {IN_USE} finalizer"))?;
    }
    let out = env.cp.kubectl(&["get", "cins", "-n", ns_b]);
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains("INSTANCE-ID")
            && text.contains("ENVIRONMENT")
            && text.contains("DOMAINS")
            && text.contains(live_id),
        "{text}"
    );
    let out = env.cp.kubectl(&["get", "ccins", shared]);
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(text.contains(test_id) && text.contains("development"), "{text}");
    Ok(())
}

/// A ClusterClerkInstance's namespaceSelector: a ClerkDomain in a namespace it does not select
/// is refused with `NamespaceNotAllowed` (Stalled, an Event) and reaches Clerk not at all; the
/// selected namespace works.
pub async fn namespace_selector_refuses_other_namespaces(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "inst-select", EnvOptions::default()).await?;
    let (ns, ns_b) = (env.ns.clone(), env.ns_b());
    secret_in(&env, &ns, "shared-key", LIVE_KEY).await?;
    let name = format!("only-{ns}");
    let selector = json!({"matchLabels": {"kubernetes.io/metadata.name": ns}});
    cluster_instance(&env, &name, "shared-key", Some(selector)).await?;
    env.create_in(
        &ns,
        &domain(
            "in",
            "in.select.example.com",
            Some(("ClusterClerkInstance", &name)),
        ),
    )
    .await?;
    env.create_in(
        &ns_b,
        &domain(
            "out",
            "out.select.example.com",
            Some(("ClusterClerkInstance", &name)),
        ),
    )
    .await?;
    wait_domain_ready(&env, &ns, "in").await?;
    let out = wait_domain_reason(&env, &ns_b, "out", "NamespaceNotAllowed").await?;
    let msg = &condition(&out, "Ready").unwrap().message;
    ensure!(msg.contains(&ns_b) && msg.contains("namespaceSelector"), "{msg}");
    ensure!(is_true(&out, "Stalled"), "{out:?}");
    let events = env.events_in(&ns_b, "out").await?;
    ensure!(
        events.iter().any(|(r, _)| r == "NamespaceNotAllowed"),
        "{events:?}"
    );
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .all(|d| !d.name.starts_with("out.")),
        "the refused domain reached Clerk"
    );
    // Widening the selector wakes the refused ClerkDomain, which then passes.
    let patch = json!({"spec": {"namespaceSelector": {"matchLabels": null, "matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [ns, ns_b]}]}}});
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    wait_domain_ready(&env, &ns_b, "out").await?;
    Ok(())
}

/// A key Clerk does not know: the instance object is Stalled with Clerk's words
/// (`InvalidKey`), its ClerkDomains are Stalled too and nothing reaches Clerk for them.
pub async fn bad_key_stalls_instance_and_domains(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "inst-bad", EnvOptions::default()).await?;
    let ns = env.ns.clone();
    secret_in(&env, &ns, "clerk", "sk_live_not_known_to_clerk").await?;
    clerk_instance(&env, &ns, "bad", "clerk").await?;
    env.create_in(
        &ns,
        &domain("d", "bad.inst.example.com", Some(("ClerkInstance", "bad"))),
    )
    .await?;
    let cins: Api<ClerkInstance> = Api::namespaced(env.client.clone(), &ns);
    let o = wait_instance(&cins, "bad", "InvalidKey").await?;
    let st = o.status.unwrap();
    let stalled = instance_cond(Some(&st), "Stalled").context("Stalled")?;
    ensure!(
        stalled.status == "True" && stalled.message.contains("Secret Key is invalid"),
        "{stalled:?}"
    );
    ensure!(
        !stalled.message.contains("sk_live_not_known"),
        "the key leaked: {stalled:?}"
    );
    let d = wait_domain_reason(&env, &ns, "d", "InstanceStalled").await?;
    ensure!(is_true(&d, "Stalled"), "{d:?}");
    ensure!(condition(&d, "Ready").unwrap().message.contains("InvalidKey"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = env.fake.requests();
    ensure!(
        requests.iter().all(|r| r.operation == "GetInstance"),
        "only the instance check may reach Clerk: {requests:?}"
    );
    ensure!(!requests.is_empty());
    // The right key: both recover.
    set_key(&env, &ns, "clerk", LIVE_KEY).await?;
    wait_instance(&cins, "bad", "Verified").await?;
    wait_domain_ready(&env, &ns, "d").await?;
    Ok(())
}

/// The key of an instance object switched to another Clerk instance: the object and its
/// ClerkDomains report `InstanceChanged` and nothing is written to either instance until the
/// old key is back.
pub async fn switched_key_stops_instance_and_domains(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "inst-switch", EnvOptions::default()).await?;
    let ns = env.ns.clone();
    secret_in(&env, &ns, "clerk", LIVE_KEY).await?;
    clerk_instance(&env, &ns, "team", "clerk").await?;
    env.create_in(
        &ns,
        &domain("d", "switch.inst.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    let id = wait_domain_ready(&env, &ns, "d")
        .await?
        .status
        .unwrap()
        .domain_id
        .unwrap();
    let live_id = fake_instance_id(&env, LIVE_KEY);
    let mark = jiff::Timestamp::now();
    set_key(&env, &ns, "clerk", TEST_KEY).await?;
    let cins: Api<ClerkInstance> = Api::namespaced(env.client.clone(), &ns);
    let o = wait_instance(&cins, "team", "InstanceChanged").await?;
    let st = o.status.unwrap();
    ensure!(
        st.instance_id.as_deref() == Some(live_id.as_str()),
        "the pin moved: {st:?}"
    );
    ensure!(instance_cond(Some(&st), "Stalled").is_some_and(|c| c.status == "True"));
    let d = wait_domain_reason(&env, &ns, "d", "InstanceChanged").await?;
    ensure!(is_true(&d, "Stalled"));
    // A rename meanwhile writes nowhere.
    env.domains_in(&ns)
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domain": "switch2.inst.example.com"}})),
        )
        .await?;
    wait_for(&env.domains_in(&ns), "d", "observed", CONVERGE, |o| {
        o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
            && condition(o, "Ready").is_some_and(|c| c.reason == "InstanceChanged")
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(writes_since(&env, mark) == 0, "{:?}", env.fake.requests());
    ensure!(
        env.fake
            .domains(TEST_KEY)
            .iter()
            .all(|d| !d.name.contains("switch"))
    );
    // The old key back: the pending rename is carried out on the pinned instance.
    set_key(&env, &ns, "clerk", LIVE_KEY).await?;
    wait_instance(&cins, "team", "Verified").await?;
    wait_domain_ready(&env, &ns, "d").await?;
    let renamed = env.fake.domains(LIVE_KEY).into_iter().find(|x| x.id == id);
    ensure!(renamed.is_some_and(|x| x.name == "switch2.inst.example.com"));
    Ok(())
}
