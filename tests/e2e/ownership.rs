//! Ownership by identity against the real apiserver: a ClerkDomain acts only on the Clerk
//! domain it owns (instance ID + domain ID), and no tenant can hijack, rename, delete or stall
//! another tenant's domain.

use anyhow::{Context as _, ensure};
use clerk_operator::api::ClerkDomain;
use fake_clerk::{Faults, Scripted, ScriptedFault};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use test_kit::*;

mod bounds;
pub use bounds::*;

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn annotated(name: &str, annotations: &str, spec: &str) -> String {
    format!(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\n  annotations:\n{annotations}spec:\n{spec}"
    )
}

async fn wait_reason_in(
    api: &Api<ClerkDomain>,
    name: &str,
    type_: &str,
    reason: &str,
) -> anyhow::Result<ClerkDomain> {
    wait_for(api, name, &format!("{type_}/{reason}"), CONVERGE, |o| {
        condition(o, type_).is_some_and(|c| c.reason == reason)
    })
    .await
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

fn domain_name(env: &TestEnv, key: &str, id: &str) -> Option<String> {
    env.fake
        .domains(key)
        .into_iter()
        .find(|d| d.id == id)
        .map(|d| d.name)
}

/// Invariant 1: a domain has one owner, cluster-wide. Adopting an owned domain, by annotation
/// or by name, from another namespace, is refused with a condition naming the owner; the owner
/// is not disturbed, and deleting the refused objects deletes nothing.
pub async fn owned_domain_cannot_be_adopted_from_another_namespace(
    cp: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let opts = EnvOptions {
        cluster_wide: true,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "own-x", opts).await?;
    let (a, b) = (env.ns.clone(), env.ns_b());
    env.create_in(&a, &manifest("site", "  domain: site.example.com\n"))
        .await?;
    let id = env.ready_id("site").await?;
    let hijack = annotated(
        "hijack",
        &format!("    clerk-operator.io/domain-id: {id}\n"),
        "  domain: stolen.example.com\n",
    );
    env.create_in(&b, &hijack).await?;
    env.create_in(&b, &manifest("same-name", "  domain: site.example.com\n"))
        .await?;
    let other = env.domains_in(&b);
    for name in ["hijack", "same-name"] {
        let o = wait_reason_in(&other, name, "Ready", "AlreadyOwned").await?;
        let msg = &condition(&o, "Ready").unwrap().message;
        ensure!(
            msg.contains(&format!("{a}/site")) && msg.contains(&id),
            "{name}: {msg}"
        );
        ensure!(is_true(&o, "Stalled"), "{name}: a refusal is Stalled");
        ensure!(
            o.status.as_ref().unwrap().domain_id.is_none(),
            "{name} recorded the domain"
        );
    }
    ensure!(
        domain_name(&env, LIVE_KEY, &id).as_deref() == Some("site.example.com"),
        "renamed by a hijacker"
    );
    ensure!(env.fake.stats().count("UpdateDomain") == 0);
    let owner = env.domains().get("site").await?;
    ensure!(
        is_true(&owner, "Ready") && condition(&owner, "Stalled").is_none(),
        "owner disturbed: {owner:?}"
    );
    for name in ["hijack", "same-name"] {
        other.delete(name, &DeleteParams::default()).await?;
        wait_gone(&other, name, CONVERGE).await?;
    }
    ensure!(
        domain_name(&env, LIVE_KEY, &id).is_some(),
        "a non-owner's deletion deleted the domain"
    );
    ensure!(env.fake.stats().count("DeleteDomain") == 0);
    env.delete_and_wait("site").await?;
    ensure!(
        domain_name(&env, LIVE_KEY, &id).is_none(),
        "the owner's deletion kept the domain"
    );
    Ok(())
}

/// Invariant 2: renaming into a name another object's domain holds is refused (NameTaken) and
/// never makes that object a loser; a swap is explained; deleting the holder deletes its own
/// domain, after which the rename goes through.
pub async fn rename_into_a_taken_name_is_refused(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "own-rename", Default::default()).await?;
    // `older` first, so that by age it would have won the old name-based conflict check.
    env.create(&manifest("older", "  domain: b.rename.example.com\n"))
        .await?;
    let b_id = env.ready_id("older").await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.create(&manifest("younger", "  domain: a.rename.example.com\n"))
        .await?;
    let a_id = env.ready_id("younger").await?;
    let api = env.domains();
    patch_spec(&api, "older", json!({"domain": "a.rename.example.com"})).await?;
    let o = wait_reason_in(&api, "older", "Ready", "NameTaken").await?;
    let msg = &condition(&o, "Ready").unwrap().message;
    ensure!(
        msg.contains(&format!("{}/younger", env.ns)) && msg.contains(&a_id),
        "{msg}"
    );
    ensure!(
        o.status.as_ref().unwrap().domain_id.as_deref() == Some(b_id.as_str()),
        "owned domain dropped from status"
    );
    // The holder is not disturbed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let y = api.get("younger").await?;
    ensure!(
        is_true(&y, "Ready") && condition(&y, "Stalled").is_none(),
        "holder disturbed: {y:?}"
    );
    // Swap: each side is told why.
    patch_spec(&api, "younger", json!({"domain": "b.rename.example.com"})).await?;
    let y = wait_reason_in(&api, "younger", "Synced", "NameTaken").await?;
    ensure!(
        condition(&y, "Synced")
            .unwrap()
            .message
            .contains("temporary name")
    );
    ensure!(
        env.fake.stats().count("UpdateDomain") == 0,
        "a PATCH into a taken name was sent"
    );
    // Deleting the younger deletes its own domain (a), not the one its spec names (b).
    env.delete("younger").await?;
    wait_gone(&api, "younger", CONVERGE).await?;
    ensure!(
        domain_name(&env, LIVE_KEY, &a_id).is_none(),
        "the holder's own domain was kept"
    );
    ensure!(
        domain_name(&env, LIVE_KEY, &b_id).is_some(),
        "deleted the domain named by the spec"
    );
    // Now the name is free: older's rename goes through.
    let o = env.wait_ready("older").await?;
    ensure!(domain_name(&env, LIVE_KEY, &b_id).as_deref() == Some("a.rename.example.com"));
    ensure!(o.status.unwrap().domain_id.as_deref() == Some(b_id.as_str()));
    Ok(())
}

/// Invariant 3: the instance is pinned. When the Secret's key switches to another instance,
/// the object writes nothing anywhere and says InstanceChanged; nothing is created in the new
/// instance and no Event claims the domain was gone.
pub async fn instance_is_pinned(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let opts = EnvOptions {
        default_key: None,
        ..Default::default()
    };
    let env = TestEnv::start(cp, "own-pin", opts).await?;
    env.secret("clerk", "key", LIVE_KEY).await?;
    env.create(&manifest(
        "pin",
        "  domain: pin.example.com\n  secretRef: {name: clerk, key: key}\n",
    ))
    .await?;
    let st = env.wait_ready("pin").await?.status.unwrap();
    let (id, instance) = (st.domain_id.unwrap(), st.instance_id.unwrap());
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let set_key = |k: &'static str| {
        let secrets = secrets.clone();
        async move {
            secrets
                .patch(
                    "clerk",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"stringData": {"key": k}})),
                )
                .await
        }
    };
    set_key(TEST_KEY).await?;
    let o = wait_reason_in(&env.domains(), "pin", "Ready", "InstanceChanged").await?;
    let msg = &condition(&o, "Ready").unwrap().message;
    ensure!(msg.contains(&instance) && is_true(&o, "Stalled"), "{msg}");
    // A rename meanwhile writes nowhere.
    patch_spec(&env.domains(), "pin", json!({"domain": "pin2.example.com"})).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        env.fake.domains(TEST_KEY).iter().all(|d| !d.name.contains("pin")),
        "created in the new instance"
    );
    let stats = env.fake.stats();
    ensure!(
        stats.count("AddDomain") == 1 && stats.count("UpdateDomain") == 0,
        "{stats:?}"
    );
    let reasons = env.event_reasons("pin").await?;
    ensure!(!reasons.iter().any(|r| r == "Recreated"), "{reasons:?}");
    ensure!(o.status.unwrap().domain_id.as_deref() == Some(id.as_str()));
    // The old key back: the pending rename is carried out on the pinned instance.
    set_key(LIVE_KEY).await?;
    env.wait_ready("pin").await?;
    ensure!(domain_name(&env, LIVE_KEY, &id).as_deref() == Some("pin2.example.com"));
    Ok(())
}

/// Invariant 4: the pending-create record is cleared as soon as Clerk answers definitively,
/// and the operator's own create (whose answer was lost) is never reported as adopted.
pub async fn pending_create_is_cleared_and_never_adopted(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "own-pending", Default::default()).await?;
    let script = |fault| Faults {
        scripted: vec![Scripted {
            operation: "AddDomain".into(),
            key: None,
            fault,
        }],
        ..Default::default()
    };
    // A definitive 4xx: the record goes with the answer.
    env.fake.set_faults(script(ScriptedFault::Status(402)));
    env.create(&manifest("refused", "  domain: refused.example.com\n"))
        .await?;
    let o = wait_reason_in(&env.domains(), "refused", "Synced", "ClerkPaymentRequired").await?;
    ensure!(
        o.status.as_ref().unwrap().pending_domain.is_none(),
        "pendingDomain kept after a 402: {o:?}"
    );
    ensure!(is_true(&o, "Stalled"));
    // A lost answer: the record stays until the domain is found, as our own.
    env.fake.set_faults(script(ScriptedFault::DropAfterCommit));
    env.create(&manifest("lost", "  domain: lost.example.com\n"))
        .await?;
    let o = env.wait_ready("lost").await?;
    let st = o.status.unwrap();
    ensure!(st.adopted.is_none(), "own create reported as adopted: {st:?}");
    ensure!(st.pending_domain.is_none());
    ensure!(
        env.fake
            .domains(LIVE_KEY)
            .iter()
            .filter(|d| d.name == "lost.example.com")
            .count()
            == 1
    );
    let reasons = env.event_reasons("lost").await?;
    ensure!(!reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");
    Ok(())
}

/// Invariant 5: the primary domain's name cannot be changed by accident (admission refuses).
pub async fn primary_rename_is_refused(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "own-primary", Default::default()).await?;
    env.create(&manifest(
        "primary",
        "  domain: primary.example.com\n  isSatellite: false\n",
    ))
    .await?;
    let err = env
        .domains()
        .patch(
            "primary",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domain": "renamed.example.com"}})),
        )
        .await
        .err()
        .context("renaming a primary was admitted")?;
    ensure!(err.to_string().contains("cannot be changed"), "{err}");
    // Satellites can still be renamed.
    env.create(&manifest("sat", "  domain: sat.example.com\n"))
        .await?;
    patch_spec(&env.domains(), "sat", json!({"domain": "sat2.example.com"})).await?;
    Ok(())
}
