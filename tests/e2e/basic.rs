//! The end-to-end issue's scenarios: the whole loop against the real apiserver.

use anyhow::{Context as _, ensure};
use std::sync::Arc;
use test_kit::*;

mod guards;
pub use guards::*;

pub fn ns_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

pub async fn kubectl_apply_reaches_ready(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(
        cp.clone(),
        "apply",
        EnvOptions {
            default_key: None,
            ..Default::default()
        },
    )
    .await?;
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: clerk\n  namespace: {ns}\nstringData:\n  CLERK_SECRET_KEY: {LIVE_KEY}\n---\n\
         apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: marketing\n  namespace: {ns}\nspec:\n  domain: marketing.example.com\n  secretRef: {{name: clerk, key: CLERK_SECRET_KEY}}\n",
        ns = env.ns
    );
    let out = cp.kubectl_stdin(&["apply", "-f", "-"], &manifest);
    ensure!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cp.kubectl(&[
        "wait",
        "-n",
        &env.ns,
        "--for=condition=Ready",
        "--timeout=60s",
        "cdom/marketing",
    ]);
    ensure!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj = env.wait_ready("marketing").await?;
    let id = check_ready_domain(&env, &obj)?;
    printer_columns(&cp, &env, &id)?;
    env.wait_event("marketing", "Created").await?;
    // The key never leaks into status or Events.
    let out = cp.kubectl(&["get", "cdom,events", "-n", &env.ns, "-o", "yaml"]);
    ensure!(
        !String::from_utf8_lossy(&out.stdout).contains(LIVE_KEY),
        "secret key leaked"
    );
    Ok(())
}

pub async fn spec_changes_are_patched(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    use kube::api::{Patch, PatchParams};
    use serde_json::json;
    let env = TestEnv::start(cp, "update", Default::default()).await?;
    env.create(&ns_yaml("app", "  domain: app.example.com\n")).await?;
    let id = env.ready_id("app").await?;
    let pp = PatchParams::default();
    rename(&env, &id).await?;
    let proxy = "https://app2.example.com/__clerk";
    add_proxy(&env, &id, proxy).await?;
    // Drop the proxy: Clerk gets proxy_url null.
    env.domains()
        .patch("app", &pp, &Patch::Merge(json!({"spec": {"proxyUrl": null}})))
        .await?;
    let st = env.wait_ready("app").await?.status.unwrap();
    ensure!(st.proxy_url.is_none());
    let d = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .find(|d| d.id == id)
        .unwrap();
    ensure!(
        d.proxy_url.is_none(),
        "proxy still set in Clerk: {:?}",
        d.proxy_url
    );
    env.wait_event("app", "Updated").await?;
    let stats = env.fake.stats();
    ensure!(stats.count("AddDomain") == 1, "one POST only: {stats:?}");
    ensure!(
        stats.count_status("UpdateDomain", 200) == 3,
        "three PATCHes: {stats:?}"
    );
    Ok(())
}

pub async fn delete_removes_satellite(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "delete", Default::default()).await?;
    env.create(&ns_yaml("gone", "  domain: gone.example.com\n"))
        .await?;
    let id = env.ready_id("gone").await?;
    env.delete_and_wait("gone").await?;
    ensure!(
        !env.fake.domains(LIVE_KEY).iter().any(|d| d.id == id),
        "domain still in Clerk"
    );
    ensure!(env.fake.stats().count_status("DeleteDomain", 200) == 1);
    env.wait_event("gone", "Deleted").await?;
    Ok(())
}

pub async fn delete_when_already_gone(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "lost", Default::default()).await?;
    env.create(&ns_yaml("lost", "  domain: lost.example.com\n"))
        .await?;
    let id = env.ready_id("lost").await?;
    ensure!(env.fake.remove_domain(LIVE_KEY, &id));
    env.delete_and_wait("lost").await?;
    env.wait_event("lost", "AlreadyGone").await?;
    Ok(())
}

/// The Ready object's status (domain ID, CNAME targets, Frontend API URL), its finalizer, and
/// its one satellite in Clerk. The domain ID.
fn check_ready_domain(env: &TestEnv, obj: &clerk_operator::api::ClerkDomain) -> anyhow::Result<String> {
    let st = obj.status.clone().unwrap();
    let id = st.domain_id.clone().unwrap();
    ensure!(id.starts_with("dmn_"), "domain id {id}");
    ensure!(
        st.cname_targets
            .iter()
            .any(|t| t.host == "clerk.marketing.example.com"
                && t.value == "frontend-api.clerk.services"
                && t.required),
        "cname targets: {:?}",
        st.cname_targets
    );
    ensure!(
        st.frontend_api_url.as_deref() == Some("https://clerk.marketing.example.com"),
        "{:?}",
        st.frontend_api_url
    );
    ensure!(
        obj.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == "clerk-operator.io/cleanup"))
    );
    let in_fake = env.fake.domains(LIVE_KEY);
    ensure!(
        in_fake
            .iter()
            .filter(|d| d.name == "marketing.example.com")
            .count()
            == 1
            && in_fake.iter().any(|d| d.id == id && d.is_satellite)
    );
    Ok(id)
}

/// The printer columns a user sees.
fn printer_columns(cp: &ControlPlane, env: &TestEnv, id: &str) -> anyhow::Result<()> {
    let out = cp.kubectl(&["get", "clerkdomains", "-n", &env.ns]);
    let table = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    ensure!(
        header == ["NAME", "DOMAIN", "SATELLITE", "DOMAIN-ID", "READY", "DNS", "AGE"],
        "header {header:?}"
    );
    ensure!(table.contains(id) && table.contains("True"), "{table}");
    let out = cp.kubectl(&[
        "get",
        "cdom",
        "-n",
        &env.ns,
        "-o",
        "jsonpath={.items[0].status.conditions[*].type}",
    ]);
    ensure!(String::from_utf8_lossy(&out.stdout).contains("Synced"));
    Ok(())
}

/// Rename: the same domain keeps its ID, the status and Clerk follow.
async fn rename(env: &TestEnv, id: &str) -> anyhow::Result<()> {
    use kube::api::{Patch, PatchParams};
    use serde_json::json;
    let pp = PatchParams::default();
    env.domains()
        .patch(
            "app",
            &pp,
            &Patch::Merge(json!({"spec": {"domain": "app2.example.com"}})),
        )
        .await?;
    let obj = env.wait_ready("app").await?;
    let st = obj.status.unwrap();
    ensure!(st.domain_id.as_deref() == Some(id), "same domain keeps its id");
    ensure!(st.domain.as_deref() == Some("app2.example.com"));
    ensure!(
        st.cname_targets
            .iter()
            .any(|t| t.host == "clerk.app2.example.com"),
        "{:?}",
        st.cname_targets
    );
    let d = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .find(|d| d.id == id)
        .context("domain in fake")?;
    ensure!(d.name == "app2.example.com");
    Ok(())
}

/// Add a proxy, and make the domain secondary.
async fn add_proxy(env: &TestEnv, id: &str, proxy: &str) -> anyhow::Result<()> {
    use kube::api::{Patch, PatchParams};
    use serde_json::json;
    let pp = PatchParams::default();
    env.domains()
        .patch(
            "app",
            &pp,
            &Patch::Merge(json!({"spec": {"proxyUrl": proxy, "isSecondary": true}})),
        )
        .await?;
    let st = env.wait_ready("app").await?.status.unwrap();
    ensure!(st.proxy_url.as_deref() == Some(proxy), "{:?}", st.proxy_url);
    ensure!(st.applied_is_secondary == Some(true));
    let d = env
        .fake
        .domains(LIVE_KEY)
        .into_iter()
        .find(|d| d.id == id)
        .unwrap();
    ensure!(d.proxy_url.as_deref() == Some(proxy));
    let secondary = env.fake.state().lock().unwrap().instances[LIVE_KEY]
        .secondary
        .get(id)
        .copied();
    ensure!(secondary == Some(true), "is_secondary in fake: {secondary:?}");
    Ok(())
}
