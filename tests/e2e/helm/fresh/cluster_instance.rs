//! The chart's ClusterClerkInstance on an empty cluster, its upgrades, and a second release.

use super::*;

const CLUSTER_INSTANCE_INSTALL: &str = "helm install clerk-operator deploy/helm/clerk-operator -n clerk-system --set existingSecret=clerk \\
  --set clusterInstance.create=true \\
  --set 'clusterInstance.namespaceSelector.matchLabels.clerk-operator\\.io/instance=shared'";

const SECOND_RELEASE: &str = "helm install clerk-operator-team-a deploy/helm/clerk-operator -n team-a \\
  --set installCRDs=false --set watchNamespace=team-a --set existingSecret=clerk \\
  --set 'extraArgs[0]=--watch-label-selector=clerk-operator.io/shard=team-a'";

/// `clusterInstance.create=true` on an empty cluster (the CRD of the ClusterClerkInstance comes
/// with the same release): the install succeeds, the operator serves a ClerkDomain through the
/// instance with the chart's ServiceAccount, `helm upgrade` takes the instance over in place
/// and then changes it, a second release with installCRDs=false serves its own namespace, a
/// second release with installCRDs=true is refused, and `helm uninstall` keeps the instance.
pub async fn helm_first_install_with_cluster_instance_then_upgrade_and_second_release(
    _shared: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let f = Fresh::start()?;
    let inst_uid = install_with_instance(&f)?;

    // The operator as the chart's ServiceAccount, with the chart's --default-instance: a
    // ClerkDomain without refs in a selected namespace uses the instance's key.
    let (fake, client, op) = f
        .chart_operator(None, &["--default-instance=clerk-operator"])
        .await?;
    f.create_domain("shop", "store")?;
    wait_domain_ready(&client, "shop", "store", &op).await?;
    ensure!(
        fake.domains(LIVE_KEY)
            .iter()
            .any(|d| d.name == "store.example.com"),
        "the domain did not reach the instance's Clerk"
    );

    upgrades_take_the_instance_over(&f, &inst_uid)?;
    second_release(&f)?;

    // Uninstall of the first release: the instance, the CRDs and the ClerkDomain stay; the
    // second release is untouched.
    drop(op);
    ok(
        f.sh("helm uninstall clerk-operator -n clerk-system"),
        "helm uninstall",
    )?;
    ensure!(
        f.uid(&["clusterclerkinstance", "clerk-operator"])? == inst_uid,
        "instance deleted"
    );
    for crd in CRDS {
        ensure!(f.exists(&["crd", crd]), "CRD {crd} deleted by uninstall");
    }
    ensure!(f.exists(&["clerkdomain", "store", "-n", "shop"]));
    ensure!(f.exists(&["deployment", "clerk-operator-team-a", "-n", "team-a"]));
    Ok(())
}

/// The install on an empty cluster: NOTES, CRDs owned by the release, the instance from the
/// values, the operator's --default-instance. The instance's uid.
fn install_with_instance(f: &Fresh) -> anyhow::Result<String> {
    for cmd in [
        "kubectl create namespace clerk-system",
        &format!(
            "kubectl -n clerk-system create secret generic clerk --from-literal=CLERK_SECRET_KEY={LIVE_KEY}"
        ),
        "kubectl create namespace shop",
        "kubectl label namespace shop clerk-operator.io/instance=shared",
    ] {
        ok(f.sh(cmd), cmd)?;
    }
    let out = f.documented(CLUSTER_INSTANCE_INSTALL)?;
    ensure!(
        out.contains("it uses ClusterClerkInstance")
            && out.contains(r#"{"matchLabels":{"clerk-operator.io/instance":"shared"}}"#),
        "NOTES: {out}"
    );
    f.check_crds_owned_by("clerk-operator", "clerk-system")?;
    let inst = f.kubectl_json(&["get", "clusterclerkinstance", "clerk-operator"])?;
    ensure!(
        inst["spec"]["namespaceSelector"] == json!({"matchLabels": {"clerk-operator.io/instance": "shared"}})
            && inst["spec"]["secretRef"] == json!({"name": "clerk", "key": "CLERK_SECRET_KEY"}),
        "{inst}"
    );
    let inst_uid = inst["metadata"]["uid"].as_str().context("uid")?.to_string();
    let deploy = f.kubectl_json(&["get", "deployment", "clerk-operator", "-n", "clerk-system"])?;
    let args: Vec<String> =
        serde_json::from_value(deploy["spec"]["template"]["spec"]["containers"][0]["args"].clone())?;
    ensure!(
        args.contains(&"--default-instance=clerk-operator".to_string()),
        "{args:?}"
    );
    Ok(inst_uid)
}

/// The first upgrade takes the hook-created instance over without applying changes to it
/// (the chart refuses one that would change it); a later upgrade changes it.
fn upgrades_take_the_instance_over(f: &Fresh, inst_uid: &str) -> anyhow::Result<()> {
    let out = f.sh(
        "helm upgrade clerk-operator deploy/helm/clerk-operator -n clerk-system --set existingSecret=clerk \
         --set clusterInstance.create=true \
         --set 'clusterInstance.namespaceSelector.matchLabels.clerk-operator\\.io/tier=gold'",
    );
    ensure!(
        !out.status.success() && text(&out).contains("was created by the chart's install hook"),
        "an upgrade changing the hook-created instance was not refused: {}",
        text(&out)
    );
    // Upgrade: the kind is served now, so the instance is an object of the release, taken over
    // in place (same uid: no delete, no re-create).
    ok(
        f.sh("helm upgrade clerk-operator deploy/helm/clerk-operator -n clerk-system --set existingSecret=clerk \
              --set clusterInstance.create=true \
              --set 'clusterInstance.namespaceSelector.matchLabels.clerk-operator\\.io/instance=shared'"),
        "helm upgrade",
    )?;
    ensure!(
        f.uid(&["clusterclerkinstance", "clerk-operator"])? == inst_uid,
        "instance re-created"
    );
    let manifest = ok(
        f.sh("helm get manifest clerk-operator -n clerk-system"),
        "helm get manifest",
    )?;
    ensure!(
        manifest.contains("kind: ClusterClerkInstance"),
        "the instance is not part of the release after the upgrade"
    );
    // A later upgrade changes it like any object of the release.
    ok(
        f.sh("helm upgrade clerk-operator deploy/helm/clerk-operator -n clerk-system --set existingSecret=clerk \
              --set clusterInstance.create=true \
              --set 'clusterInstance.namespaceSelector.matchLabels.clerk-operator\\.io/tier=gold' \
              --set 'extraArgs[0]=--watch-label-selector=clerk-operator.io/shard!=team-a'"),
        "helm upgrade with another selector",
    )?;
    let inst = f.kubectl_json(&["get", "clusterclerkinstance", "clerk-operator"])?;
    ensure!(
        inst["spec"]["namespaceSelector"] == json!({"matchLabels": {"clerk-operator.io/tier": "gold"}})
            && inst["metadata"]["uid"] == inst_uid,
        "the upgrade did not change the instance: {inst}"
    );
    Ok(())
}

/// A second release next to it: its own namespace, no CRDs, no cluster-wide RBAC, and the
/// ClerkDomains split by label (the upgrade above excluded them from the first release); with
/// installCRDs=true it would take CRDs of another release: refused.
fn second_release(f: &Fresh) -> anyhow::Result<()> {
    let deploy = f.kubectl_json(&["get", "deployment", "clerk-operator", "-n", "clerk-system"])?;
    ensure!(
        deploy["spec"]["template"]["spec"]["containers"][0]["args"]
            .to_string()
            .contains("--watch-label-selector=clerk-operator.io/shard!=team-a"),
        "the first release does not leave team-a's ClerkDomains alone"
    );
    ok(f.sh("kubectl create namespace team-a"), "create namespace")?;
    f.documented(SECOND_RELEASE)?;
    let deploy = f.kubectl_json(&["get", "deployment", "clerk-operator-team-a", "-n", "team-a"])?;
    let args: Vec<String> =
        serde_json::from_value(deploy["spec"]["template"]["spec"]["containers"][0]["args"].clone())?;
    ensure!(
        args.contains(&"--namespace=team-a".to_string())
            && args.contains(&"--watch-label-selector=clerk-operator.io/shard=team-a".to_string()),
        "{args:?}"
    );
    flags_parse("second release", &args)?;
    ensure!(f.exists(&["deployment", "clerk-operator-team-a", "-n", "team-a"]));
    ensure!(f.exists(&["role", "clerk-operator-team-a", "-n", "team-a"]));
    ensure!(!f.exists(&["clusterrole", "clerk-operator-team-a"]));
    f.check_crds_owned_by("clerk-operator", "clerk-system")?;
    // With installCRDs=true it would take CRDs of another release: refused.
    ok(f.sh("kubectl create namespace team-b"), "create namespace")?;
    let out = f.sh(
        "helm install clerk-operator-team-b deploy/helm/clerk-operator -n team-b \
         --set watchNamespace=team-b --set existingSecret=clerk",
    );
    ensure!(
        !out.status.success() && text(&out).contains("invalid ownership metadata"),
        "a second release took over the CRDs: {}",
        text(&out)
    );
    Ok(())
}
