//! `helm template`: the chart's RBAC is exactly the operator's rules, and its CRD is crds/.

use super::*;

mod metrics;
mod namespaced;

/// The release's full name in every render.
const FULLNAME: &str = "chart-test-clerk-operator";

/// The rules of the leader-election Role.
fn lease_rules() -> BTreeSet<(String, String, String, Vec<String>)> {
    BTreeSet::from([
        rule("coordination.k8s.io", "leases", "", &["create"]),
        rule("coordination.k8s.io", "leases", FULLNAME, &["get", "patch"]),
    ])
}

/// The operator container's args in the rendered Deployment (empty when there is none).
fn deploy_args(docs: &[serde_json::Value]) -> Vec<String> {
    find(docs, "Deployment", FULLNAME)
        .and_then(|d| {
            serde_json::from_value(d["spec"]["template"]["spec"]["containers"][0]["args"].clone()).ok()
        })
        .unwrap_or_default()
}

/// The rendered chart: RBAC is exactly the operator's calls (no wildcards) in both scopes, the
/// CRD is the committed one (and a real apiserver accepts it), the Deployment follows the values.
pub async fn chart_renders_exact_rbac_and_crd(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let home = tempfile::tempdir()?;
    let home = home.path();

    // Cluster-wide (default).
    let docs = render(&cp, home, &[])?;
    cluster_rbac(&cp, home, &docs)?;
    deployment_defaults(&docs)?;
    deployment_strategy(&cp, home)?;
    cluster_instance_render(&cp, home, &docs)?;
    crd_render(&cp, &docs)?;
    namespaced::one_namespace_render(&cp, home)
}

/// Cluster-wide RBAC: the ClusterRole (with Secret protection, with named Secrets), its
/// binding, the leader-election Role, and no wildcard anywhere.
fn cluster_rbac(cp: &ControlPlane, home: &Path, docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let fullname = FULLNAME;
    let cr = find(docs, "ClusterRole", fullname).context("ClusterRole")?;
    ensure!(
        rule_set(&cr["rules"]) == cluster_rules(false),
        "ClusterRole rules: {:#}",
        cr["rules"]
    );
    // Secret protection grants list, watch and patch on Secrets, and passes the flag.
    let protected = render(cp, home, &["secretProtection.enabled=true"])?;
    let pcr = find(&protected, "ClusterRole", fullname).context("ClusterRole")?;
    ensure!(
        rule_set(&pcr["rules"]) == cluster_rules(true),
        "{:#}",
        pcr["rules"]
    );
    ensure!(deploy_args(&protected).contains(&"--secret-protection".to_string()));
    // Secret names the chart is told: `get` on those only.
    let named = render(
        cp,
        home,
        &["rbac.secretNames[0]=clerk,rbac.secretNames[1]=clerk-dev"],
    )?;
    let ncr = find(&named, "ClusterRole", fullname).context("ClusterRole")?;
    let mut want = cluster_rules(false);
    want.remove(&rule("", "secrets", "", &["get"]));
    want.insert(rule("", "secrets", "clerk,clerk-dev", &["get"]));
    ensure!(rule_set(&ncr["rules"]) == want, "{:#}", ncr["rules"]);
    ensure!(!deploy_args(docs).contains(&"--secret-protection".to_string()));
    let crb = find(docs, "ClusterRoleBinding", fullname).context("ClusterRoleBinding")?;
    ensure!(crb["subjects"][0]["name"] == fullname && crb["subjects"][0]["namespace"] == "clerk-system");
    let lease_role = find(docs, "Role", &format!("{fullname}-leader-election")).context("lease Role")?;
    ensure!(lease_role["metadata"]["namespace"] == "clerk-system");
    ensure!(
        rule_set(&lease_role["rules"]) == lease_rules(),
        "{:#}",
        lease_role["rules"]
    );
    let rbac: Vec<_> = docs
        .iter()
        .filter(|d| d["kind"].as_str().is_some_and(|k| k.ends_with("Role")))
        .collect();
    ensure!(
        !serde_json::to_string(&rbac)?.contains("\"*\""),
        "wildcard in RBAC"
    );
    Ok(())
}

/// The default Deployment: image and chart version, leader election, probes, a read-only root,
/// no PDB, and flags the operator parses.
fn deployment_defaults(docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let deploy = find(docs, "Deployment", FULLNAME).context("Deployment")?;
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    let version = env!("CARGO_PKG_VERSION");
    ensure!(
        c["image"] == format!("clerk-operator:{version}"),
        "image {}",
        c["image"]
    );
    let chart: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml"))?)?;
    ensure!(
        chart["appVersion"] == version,
        "Chart.yaml appVersion is not the crate version {version}"
    );
    let env_value = |name: &str| {
        c["env"]
            .as_array()
            .and_then(|e| e.iter().find(|v| v["name"] == name).cloned())
            .unwrap_or_default()
    };
    // Leader election by default: a rolling update (old and new pod overlap) has one writer.
    ensure!(env_value("LEADER_ELECT")["value"] == "true");
    ensure!(
        deploy["spec"]["strategy"].is_null(),
        "{}",
        deploy["spec"]["strategy"]
    );
    ensure!(env_value("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name");
    ensure!(env_value("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace");
    ensure!(c["livenessProbe"]["httpGet"]["path"] == "/healthz");
    ensure!(c["readinessProbe"]["httpGet"]["path"] == "/readyz");
    ensure!(c["securityContext"]["readOnlyRootFilesystem"] == true);
    ensure!(find(docs, "PodDisruptionBudget", FULLNAME).is_none());
    // Every flag the chart passes exists (clap rejects unknown flags): parse them with --help
    // appended, which exits 0 only when everything before it parsed.
    let args: Vec<String> = serde_json::from_value(c["args"].clone())?;
    flags_parse("chart", &args)
}

/// Without election, one replica is replaced by stopping it first: never two writers.
fn deployment_strategy(cp: &ControlPlane, home: &Path) -> anyhow::Result<()> {
    let no_election = render(cp, home, &["leaderElection.enabled=false"])?;
    let deploy = find(&no_election, "Deployment", FULLNAME).context("Deployment")?;
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    ensure!(
        c["env"]
            .to_string()
            .contains("{\"name\":\"LEADER_ELECT\",\"value\":\"false\"}")
    );
    ensure!(
        deploy["spec"]["strategy"]["type"] == "Recreate",
        "{}",
        deploy["spec"]["strategy"]
    );
    let two = render(cp, home, &["leaderElection.enabled=false,replicaCount=2"])?;
    let deploy = find(&two, "Deployment", FULLNAME).context("Deployment")?;
    ensure!(deploy["spec"]["strategy"].is_null() && deploy["spec"]["replicas"] == 2);
    Ok(())
}

/// The default key as a ClusterClerkInstance: created from the Secret values, passed as
/// --default-instance, the key no longer mounted. The instance CRDs are in the default render.
fn cluster_instance_render(cp: &ControlPlane, home: &Path, docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let fullname = FULLNAME;
    let ci = render(
        cp,
        home,
        &[
            "existingSecret=clerk,clusterInstance.create=true,clusterInstance.namespaceSelector.matchLabels.team=web",
        ],
    )?;
    let inst = find(&ci, "ClusterClerkInstance", fullname).context("ClusterClerkInstance")?;
    ensure!(
        inst["spec"]["secretRef"] == json!({"name": "clerk", "key": "CLERK_SECRET_KEY"}),
        "{inst}"
    );
    ensure!(
        inst["spec"]["namespaceSelector"]["matchLabels"]["team"] == "web",
        "{inst}"
    );
    let deploy = find(&ci, "Deployment", fullname).context("Deployment")?;
    let args: Vec<String> =
        serde_json::from_value(deploy["spec"]["template"]["spec"]["containers"][0]["args"].clone())?;
    ensure!(
        args.contains(&format!("--default-instance={fullname}"))
            && args.iter().any(|a| a.starts_with("--credentials-namespace=")),
        "{args:?}"
    );
    ensure!(
        !args.iter().any(|a| a.starts_with("--secret-key-file")),
        "{args:?}"
    );
    for kind in ["clerkinstances", "clusterclerkinstances"] {
        ensure!(
            find(
                docs,
                "CustomResourceDefinition",
                &format!("{kind}.clerk-operator.io")
            )
            .is_some(),
            "CRD {kind}"
        );
    }
    Ok(())
}

/// The CRD: the committed one, kept on uninstall, accepted by the apiserver.
fn crd_render(cp: &ControlPlane, docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let crd = find(docs, "CustomResourceDefinition", "clerkdomains.clerk-operator.io").context("CRD")?;
    ensure!(crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep");
    let committed: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(
        chart_dir().join("files/clerkdomain.yaml"),
    )?)?;
    ensure!(
        crd["spec"] == committed["spec"],
        "the chart's CRD spec differs from files/clerkdomain.yaml"
    );
    let out = cp.kubectl_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &serde_json::to_string(crd)?,
    );
    ok(out, "server dry-run of the chart's CRD")?;
    Ok(())
}
