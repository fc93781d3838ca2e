//! `spec.export`: the ConfigMap an application reads with `envFrom`, on the real
//! apiserver: it appears, follows a rename and a proxy change, moves when renamed, leaves a
//! foreign ConfigMap alone, and goes with the object (garbage collection by ownerReference).

use anyhow::ensure;
use clerk_operator::api::ClerkDomain;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use test_kit::*;

/// The publishable key of the fake's production instance, whose primary domain is
/// `example.com`: `pk_live_` + base64(`clerk.example.com$`), as `buildPublishableKey` of
/// `@clerk/shared` computes it.
const LIVE_PUBLISHABLE_KEY: &str = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k";

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

async fn patch_spec(api: &Api<ClerkDomain>, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await?;
    Ok(())
}

fn data(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Wait until ConfigMap `name` holds exactly `want`.
async fn wait_data(
    cms: &Api<ConfigMap>,
    name: &str,
    want: &BTreeMap<String, String>,
) -> anyhow::Result<ConfigMap> {
    wait_for(cms, name, &format!("holding {want:?}"), CONVERGE, |cm| {
        &data(cm) == want
    })
    .await
}

/// Ask for a resync with annotation `clerk-operator.io/reconcile-requested-at` and wait until
/// it is handled.
async fn force_resync(env: &TestEnv, name: &str, at: &str) -> anyhow::Result<()> {
    let patch =
        json!({"metadata": {"annotations": {clerk_operator::api::annotations::RECONCILE_REQUESTED_AT: at}}});
    env.domains()
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    wait_for(&env.domains(), name, "resynced", CONVERGE, |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some(at)
    })
    .await?;
    Ok(())
}

fn condition_is(o: &ClerkDomain, status: &str, reason: &str) -> bool {
    condition(o, "Exported").is_some_and(|c| {
        c.status == status && c.reason == reason && c.observed_generation == o.metadata.generation
    })
}

/// The ConfigMap appears with the keys a Next.js satellite reads, owned by the ClerkDomain and
/// written by the export field manager; it follows a rename and a proxy change, moves when
/// `configMapName` changes, and is garbage-collected with the object.
pub async fn export_configmap_follows_the_domain(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "export", Default::default()).await?;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
    env.create(&manifest(
        "shop",
        "  domain: shop.example.org\n  export:\n    configMapName: shop-clerk\n    keyPrefix: NEXT_PUBLIC_\n",
    ))
    .await?;
    let mut want = initial_keys();
    let cm = wait_data(&cms, "shop-clerk", &want).await?;
    let obj = wait_for(&env.domains(), "shop", "Exported", CONVERGE, |o| {
        condition_is(o, "True", "Exported")
    })
    .await?;
    check_ownership(&cm, &obj)?;

    resync_keeps_the_export(&env, &cms, &cm, &want).await?;

    follows_spec_changes(&env, &cms, &mut want).await?;

    moves_with_config_map_name(&env, &cms, &want).await?;

    // Deleting the ClerkDomain garbage-collects the ConfigMap.
    env.delete_and_wait("shop").await?;
    wait_gone(&cms, "store-clerk", CONVERGE).await?;
    Ok(())
}

/// A ConfigMap of that name that the operator does not own is never written or deleted: the
/// object says so (`Exported=False`, `ConfigMapNotOwned`) and stays Ready. Removing the export
/// drops the condition and leaves the ConfigMap; an own export removed deletes its ConfigMap.
pub async fn foreign_configmap_is_refused(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp.clone(), "export-foreign", Default::default()).await?;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
    let foreign = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: {}\ndata:\n  CLERK_DOMAIN: keep.example.net\n",
        env.ns
    );
    let out = cp.kubectl_stdin(&["apply", "-f", "-"], &foreign);
    ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.create(&manifest(
        "web",
        "  domain: web.example.org\n  export: {configMapName: app-config}\n",
    ))
    .await?;
    let o = wait_for(&env.domains(), "web", "ConfigMapNotOwned", CONVERGE, |o| {
        condition_is(o, "False", "ConfigMapNotOwned")
    })
    .await?;
    ensure!(is_true(&o, "Ready"), "a refused export does not change Ready");
    let keep = map(&[("CLERK_DOMAIN", "keep.example.net")]);
    let cm = cms.get("app-config").await?;
    ensure!(data(&cm) == keep, "foreign ConfigMap overwritten: {:?}", cm.data);
    ensure!(
        cm.metadata.owner_references.is_none(),
        "foreign ConfigMap adopted: {:?}",
        cm.metadata.owner_references
    );

    // Removing the export drops the condition; the foreign ConfigMap stays.
    patch_spec(&env.domains(), "web", json!({"export": null})).await?;
    wait_for(&env.domains(), "web", "Exported dropped", CONVERGE, |o| {
        condition(o, "Exported").is_none()
            && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
    })
    .await?;
    ensure!(
        data(&cms.get("app-config").await?) == keep,
        "foreign ConfigMap changed"
    );

    // An own export that is removed is deleted; the foreign one is still untouched.
    own_export_removed(&env, &cms).await?;
    env.delete_and_wait("web").await?;
    ensure!(
        data(&cms.get("app-config").await?) == keep,
        "foreign ConfigMap changed by the deletion"
    );
    Ok(())
}

/// The keys a Next.js satellite of `shop.example.org` reads.
fn initial_keys() -> BTreeMap<String, String> {
    map(&[
        ("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", LIVE_PUBLISHABLE_KEY),
        ("NEXT_PUBLIC_CLERK_IS_SATELLITE", "true"),
        ("NEXT_PUBLIC_CLERK_DOMAIN", "shop.example.org"),
        (
            "NEXT_PUBLIC_CLERK_FRONTEND_API_URL",
            "https://clerk.shop.example.org",
        ),
        (
            "NEXT_PUBLIC_CLERK_SIGN_IN_URL",
            "https://accounts.example.com/sign-in",
        ),
        (
            "NEXT_PUBLIC_CLERK_SIGN_UP_URL",
            "https://accounts.example.com/sign-up",
        ),
    ])
}

/// The export is owned by the ClerkDomain, written by the export field manager, and holds no
/// secret key.
fn check_ownership(cm: &ConfigMap, obj: &ClerkDomain) -> anyhow::Result<()> {
    let uid = obj.metadata.uid.clone().unwrap();
    let refs = cm.metadata.owner_references.clone().unwrap_or_default();
    ensure!(
        refs.len() == 1
            && refs[0].uid == uid
            && refs[0].kind == "ClerkDomain"
            && refs[0].controller == Some(true),
        "ownerReferences: {refs:?}"
    );
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    ensure!(
        managers == ["clerk-operator-export"],
        "field managers: {managers:?}"
    );
    ensure!(
        data(cm).values().all(|v| !v.starts_with("sk_")),
        "a secret key was exported"
    );
    Ok(())
}

/// A forced resync leaves a current export as it is (no new resourceVersion: nothing in it
/// changes from one reconcile to the next); a hand edit is undone by the next one.
async fn resync_keeps_the_export(
    env: &TestEnv,
    cms: &Api<ConfigMap>,
    cm: &ConfigMap,
    want: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let rv = cm.metadata.resource_version.clone();
    force_resync(env, "shop", "2026-12-01T10:00:00Z").await?;
    ensure!(
        cms.get("shop-clerk").await?.metadata.resource_version == rv,
        "an up-to-date export was changed by a resync"
    );
    cms.patch(
        "shop-clerk",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"NEXT_PUBLIC_CLERK_DOMAIN": "edited.example.org"}})),
    )
    .await?;
    force_resync(env, "shop", "2026-12-01T10:00:01Z").await?;
    wait_data(cms, "shop-clerk", want).await?;
    Ok(())
}

/// A rename, a proxy and its removal: the keys follow.
async fn follows_spec_changes(
    env: &TestEnv,
    cms: &Api<ConfigMap>,
    want: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    // Rename: the domain and the Frontend API URL follow.
    patch_spec(&env.domains(), "shop", json!({"domain": "store.example.org"})).await?;
    want.insert("NEXT_PUBLIC_CLERK_DOMAIN".into(), "store.example.org".into());
    want.insert(
        "NEXT_PUBLIC_CLERK_FRONTEND_API_URL".into(),
        "https://clerk.store.example.org".into(),
    );
    wait_data(cms, "shop-clerk", want).await?;

    // A proxy replaces the domain setting.
    let proxy = "https://store.example.org/__clerk";
    patch_spec(&env.domains(), "shop", json!({"proxyUrl": proxy})).await?;
    want.remove("NEXT_PUBLIC_CLERK_DOMAIN");
    want.insert("NEXT_PUBLIC_CLERK_PROXY_URL".into(), proxy.into());
    want.insert("NEXT_PUBLIC_CLERK_FRONTEND_API_URL".into(), proxy.into());
    wait_data(cms, "shop-clerk", want).await?;

    // Removing the proxy brings the domain back.
    patch_spec(&env.domains(), "shop", json!({"proxyUrl": null})).await?;
    want.remove("NEXT_PUBLIC_CLERK_PROXY_URL");
    want.insert("NEXT_PUBLIC_CLERK_DOMAIN".into(), "store.example.org".into());
    want.insert(
        "NEXT_PUBLIC_CLERK_FRONTEND_API_URL".into(),
        "https://clerk.store.example.org".into(),
    );
    wait_data(cms, "shop-clerk", want).await?;
    Ok(())
}

/// Another name and no prefix: the old ConfigMap goes, the new one has the plain keys.
async fn moves_with_config_map_name(
    env: &TestEnv,
    cms: &Api<ConfigMap>,
    want: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    patch_spec(
        &env.domains(),
        "shop",
        json!({"export": {"configMapName": "store-clerk", "keyPrefix": null}}),
    )
    .await?;
    let plain: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.trim_start_matches("NEXT_PUBLIC_").to_string(), v.clone()))
        .collect();
    wait_data(cms, "store-clerk", &plain).await?;
    wait_gone(cms, "shop-clerk", CONVERGE).await?;
    let obj = wait_for(
        &env.domains(),
        "shop",
        "status.exportedConfigMap moved",
        CONVERGE,
        |o| {
            o.status.as_ref().and_then(|s| s.exported_config_map.as_deref()) == Some("store-clerk")
                && condition_is(o, "True", "Exported")
        },
    )
    .await?;
    ensure!(is_true(&obj, "Ready"), "export does not change Ready");
    Ok(())
}

/// An own export that is removed is deleted; the forgotten export leaves the object Ready.
async fn own_export_removed(env: &TestEnv, cms: &Api<ConfigMap>) -> anyhow::Result<()> {
    patch_spec(
        &env.domains(),
        "web",
        json!({"export": {"configMapName": "web-clerk"}}),
    )
    .await?;
    wait_for(cms, "web-clerk", "exported", CONVERGE, |cm| {
        data(cm).get("CLERK_DOMAIN").map(String::as_str) == Some("web.example.org")
    })
    .await?;
    patch_spec(&env.domains(), "web", json!({"export": null})).await?;
    wait_gone(cms, "web-clerk", CONVERGE).await?;
    let o = wait_for(&env.domains(), "web", "export forgotten", CONVERGE, |o| {
        condition(o, "Exported").is_none()
            && o.status.as_ref().is_some_and(|s| s.exported_config_map.is_none())
    })
    .await?;
    ensure!(is_true(&o, "Ready"), "{o:?}");
    Ok(())
}

/// The instance-wide part: the primary's export lists every satellite origin of the instance
/// (for the primary app's allowed redirect origins), and has no domain, proxy or sign-in keys.
pub async fn primary_export_lists_satellite_origins(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        primary_domains: true,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "export-primary", opts).await?;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
    env.create(&manifest("a", "  domain: a.example.org\n")).await?;
    env.wait_ready("a").await?;
    env.create(&manifest(
        "primary",
        "  domain: example.com\n  isSatellite: false\n  export: {configMapName: primary-clerk}\n",
    ))
    .await?;
    let mut want = map(&[
        ("CLERK_PUBLISHABLE_KEY", LIVE_PUBLISHABLE_KEY),
        ("CLERK_IS_SATELLITE", "false"),
        ("CLERK_FRONTEND_API_URL", "https://clerk.example.com"),
        ("CLERK_ALLOWED_REDIRECT_ORIGINS", "https://a.example.org"),
    ]);
    wait_data(&cms, "primary-clerk", &want).await?;
    // Another satellite: the primary's export lists it from its next look at the domain list.
    env.create(&manifest("b", "  domain: b.example.org\n")).await?;
    env.wait_ready("b").await?;
    force_resync(&env, "primary", "2026-12-01T11:00:00Z").await?;
    want.insert(
        "CLERK_ALLOWED_REDIRECT_ORIGINS".into(),
        "https://a.example.org,https://b.example.org".into(),
    );
    wait_data(&cms, "primary-clerk", &want).await?;
    env.delete_and_wait("primary").await?;
    wait_gone(&cms, "primary-clerk", CONVERGE).await?;
    ensure!(
        env.fake.domains(LIVE_KEY).iter().any(|d| d.name == "example.com"),
        "the primary domain stays in Clerk"
    );
    Ok(())
}
