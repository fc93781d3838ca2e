//! Issue 17: ClerkInstance and ClusterClerkInstance, on the real apiserver with the fake Clerk.
//! Every test runs cluster-wide (ClusterClerkInstances are cluster-scoped), with the test's
//! namespace as the operator's (where ClusterClerkInstances' Secrets live) and a second
//! namespace `<ns>-b`.

use anyhow::{Context as _, ensure};
use clerk_operator::api::{ClerkDomain, ClerkInstance, ClusterClerkInstance};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

const IN_USE: &str = "clerk-operator.io/in-use";

async fn start(cp: Arc<ControlPlane>, name: &str, opts: EnvOptions) -> anyhow::Result<TestEnv> {
    TestEnv::start(
        cp,
        name,
        EnvOptions {
            cluster_wide: true,
            default_key: None,
            ..opts
        },
    )
    .await
}

/// A Secret `name` with the Clerk key under `key` in namespace `ns`.
async fn secret_in(env: &TestEnv, ns: &str, name: &str, value: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.string_data = Some([("key".to_string(), value.to_string())].into());
    api.create(&PostParams::default(), &s).await?;
    Ok(())
}

async fn set_key(env: &TestEnv, ns: &str, name: &str, value: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"stringData": {"key": value}})),
    )
    .await?;
    Ok(())
}

fn labelled<K: Resource>(env: &TestEnv, mut o: K) -> K {
    o.meta_mut()
        .labels
        .get_or_insert_with(Default::default)
        .insert(ENV_LABEL.into(), env.ns.clone());
    o
}

/// A ClerkInstance `name` in `ns` reading Secret `secret`.
async fn clerk_instance(env: &TestEnv, ns: &str, name: &str, secret: &str) -> anyhow::Result<()> {
    let o: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"secretRef": {"name": secret, "key": "key"}},
    }))?;
    Api::<ClerkInstance>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &labelled(env, o))
        .await?;
    Ok(())
}

/// A ClusterClerkInstance `name` reading Secret `secret` of the operator's namespace.
async fn cluster_instance(
    env: &TestEnv,
    name: &str,
    secret: &str,
    selector: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let mut spec = json!({"secretRef": {"name": secret, "key": "key"}});
    if let Some(s) = selector {
        spec["namespaceSelector"] = s;
    }
    let o: ClusterClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClusterClerkInstance",
        "metadata": {"name": name}, "spec": spec,
    }))?;
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .create(&PostParams::default(), &labelled(env, o))
        .await?;
    Ok(())
}

fn domain(name: &str, host: &str, instance: Option<(&str, &str)>) -> String {
    let r = instance
        .map(|(kind, n)| format!("  instanceRef: {{kind: {kind}, name: {n}}}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n  domain: {host}\n{r}"
    )
}

fn cond<'a>(conditions: &'a [Condition], t: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == t)
}

fn instance_cond<'a>(
    s: Option<&'a clerk_operator::api::ClerkInstanceStatus>,
    t: &str,
) -> Option<&'a Condition> {
    cond(&s?.conditions, t)
}

/// Wait until the instance object's `type_` condition has `reason`.
async fn wait_instance<K>(api: &Api<K>, name: &str, reason: &str) -> anyhow::Result<K>
where
    K: clerk_operator::controller::instances::InstanceObject,
{
    wait_for(api, name, reason, CONVERGE, |o: &K| {
        instance_cond(o.instance_status(), "Ready").is_some_and(|c| c.reason == reason)
            && o.instance_status().and_then(|s| s.observed_generation) == o.meta().generation
    })
    .await
}

async fn wait_domain_ready(env: &TestEnv, ns: &str, name: &str) -> anyhow::Result<ClerkDomain> {
    wait_for(&env.domains_in(ns), name, "Ready", CONVERGE, |o| {
        is_true(o, "Ready") && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
    })
    .await
}

async fn wait_domain_reason(
    env: &TestEnv,
    ns: &str,
    name: &str,
    reason: &str,
) -> anyhow::Result<ClerkDomain> {
    wait_for(&env.domains_in(ns), name, reason, CONVERGE, |o| {
        condition(o, "Ready").is_some_and(|c| c.reason == reason)
    })
    .await
}

fn fake_instance_id(env: &TestEnv, key: &str) -> String {
    env.fake.state().lock().unwrap().instances[key].id.clone()
}

fn writes_since(env: &TestEnv, since: jiff::Timestamp) -> usize {
    env.fake
        .requests()
        .iter()
        .filter(|r| r.at >= since && r.is_write())
        .count()
}

/// Both kinds become Ready with what Clerk says (instance ID, environment), count their
/// ClerkDomains, show the rate-limit budget, hold the in-use finalizer, and their domains
/// reach Ready through them; `kubectl get` prints the columns.
pub async fn instances_report_clerk_status(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "inst-status", EnvOptions::default()).await?;
    let (ns, ns_b) = (env.ns.clone(), env.ns_b());
    secret_in(&env, &ns_b, "clerk", LIVE_KEY).await?;
    clerk_instance(&env, &ns_b, "team", "clerk").await?;
    // The cluster instance's Secret is in the operator's namespace.
    secret_in(&env, &ns, "shared-key", TEST_KEY).await?;
    let shared = format!("shared-{ns}");
    cluster_instance(&env, &shared, "shared-key", None).await?;
    env.create_in(
        &ns_b,
        &domain("own", "own.inst.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    env.create_in(
        &ns_b,
        &domain(
            "dev",
            "dev.inst.example.com",
            Some(("ClusterClerkInstance", &shared)),
        ),
    )
    .await?;
    env.create_in(
        &ns,
        &domain(
            "dev2",
            "dev2.inst.example.com",
            Some(("ClusterClerkInstance", &shared)),
        ),
    )
    .await?;
    let own = wait_domain_ready(&env, &ns_b, "own").await?;
    let dev = wait_domain_ready(&env, &ns_b, "dev").await?;
    wait_domain_ready(&env, &ns, "dev2").await?;
    let (live_id, test_id) = (fake_instance_id(&env, LIVE_KEY), fake_instance_id(&env, TEST_KEY));
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

    let cins: Api<ClerkInstance> = Api::namespaced(env.client.clone(), &ns_b);
    let ccins: Api<ClusterClerkInstance> = Api::all(env.client.clone());
    let team = wait_for(&cins, "team", "counted", CONVERGE, |o: &ClerkInstance| {
        o.status.as_ref().is_some_and(|s| s.domains == 1)
    })
    .await?;
    let st = team.status.clone().context("status")?;
    ensure!(st.instance_id.as_deref() == Some(live_id.as_str()), "{st:?}");
    ensure!(st.environment_type.as_deref() == Some("production"), "{st:?}");
    let rl = st.rate_limit.clone().context("rateLimit")?;
    ensure!(rl.limit == 1000 && rl.window == "10s" && rl.used >= 1, "{rl:?}");
    ensure!(instance_cond(Some(&st), "Ready").is_some_and(|c| c.status == "True" && c.reason == "Verified"));
    ensure!(instance_cond(Some(&st), "Stalled").is_none());
    ensure!(
        team.metadata.finalizers.iter().flatten().any(|f| f == IN_USE),
        "{team:?}"
    );
    let cl = wait_for(
        &ccins,
        &shared,
        "counted",
        CONVERGE,
        |o: &ClusterClerkInstance| o.status.as_ref().is_some_and(|s| s.domains == 2),
    )
    .await?;
    let st = cl.status.clone().context("status")?;
    ensure!(st.instance_id.as_deref() == Some(test_id.as_str()), "{st:?}");
    ensure!(st.environment_type.as_deref() == Some("development"), "{st:?}");
    ensure!(st.rate_limit.as_ref().is_some_and(|r| r.limit == 100), "{st:?}");
    ensure!(cl.metadata.finalizers.iter().flatten().any(|f| f == IN_USE));
    // The key's Secrets are kept while the instance objects use them.
    for (ns, name) in [(&ns_b, "clerk"), (&ns, "shared-key")] {
        let s = Api::<Secret>::namespaced(env.client.clone(), ns)
            .get(name)
            .await?;
        ensure!(
            s.metadata.finalizers.iter().flatten().any(|f| f == IN_USE),
            "{ns}/{name}"
        );
    }
    let out = env.cp.kubectl(&["get", "cins", "-n", &ns_b]);
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains("INSTANCE-ID")
            && text.contains("ENVIRONMENT")
            && text.contains("DOMAINS")
            && text.contains(&live_id),
        "{text}"
    );
    let out = env.cp.kubectl(&["get", "ccins", &shared]);
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(text.contains(&test_id) && text.contains("development"), "{text}");
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
    env.delete("a").await?;
    wait_gone(&env.domains(), "a", CONVERGE).await?;
    ensure!(cins.get_opt("team").await?.is_some(), "deleted while b uses it");
    env.delete("b").await?;
    wait_gone(&env.domains(), "b", CONVERGE).await?;
    wait_gone(&cins, "team", CONVERGE).await?;
    ensure!(env.fake.stats().count_status("DeleteDomain", 200) == 2);

    // A whole namespace: ClerkInstance, Secret and ClerkDomain go, the domain with them.
    secret_in(&env, &ns_b, "clerk", LIVE_KEY).await?;
    clerk_instance(&env, &ns_b, "team", "clerk").await?;
    env.create_in(
        &ns_b,
        &domain("c", "c.del.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    wait_domain_ready(&env, &ns_b, "c").await?;
    let nss: Api<Namespace> = Api::all(env.client.clone());
    nss.delete(&ns_b, &DeleteParams::default()).await?;
    if let Err(e) = wait_gone(&nss, &ns_b, Duration::from_secs(60)).await {
        let out = env.cp.kubectl(&[
            "get",
            "clerkdomains,clerkinstances,secrets",
            "-n",
            &ns_b,
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
