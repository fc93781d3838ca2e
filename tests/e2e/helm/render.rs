//! `helm template`: the chart's RBAC is exactly the operator's rules, and its CRD is crds/.

use super::*;

/// The rendered chart: RBAC is exactly the operator's calls (no wildcards) in both scopes, the
/// CRD is the committed one (and a real apiserver accepts it), the Deployment follows the values.
pub async fn chart_renders_exact_rbac_and_crd(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let home = tempfile::tempdir()?;
    let home = home.path();
    let fullname = "chart-test-clerk-operator";
    let lease_rules = BTreeSet::from([
        rule("coordination.k8s.io", "leases", "", &["create"]),
        rule("coordination.k8s.io", "leases", fullname, &["get", "patch"]),
    ]);

    // Cluster-wide (default).
    let docs = render(&cp, home, &[])?;
    let cr = find(&docs, "ClusterRole", fullname).context("ClusterRole")?;
    ensure!(
        rule_set(&cr["rules"]) == cluster_rules(),
        "ClusterRole rules: {:#}",
        cr["rules"]
    );
    let crb = find(&docs, "ClusterRoleBinding", fullname).context("ClusterRoleBinding")?;
    ensure!(crb["subjects"][0]["name"] == fullname && crb["subjects"][0]["namespace"] == "clerk-system");
    let lease_role = find(&docs, "Role", &format!("{fullname}-leader-election")).context("lease Role")?;
    ensure!(lease_role["metadata"]["namespace"] == "clerk-system");
    ensure!(
        rule_set(&lease_role["rules"]) == lease_rules,
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
    let deploy = find(&docs, "Deployment", fullname).context("Deployment")?;
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
    ensure!(find(&docs, "PodDisruptionBudget", fullname).is_none());
    // Every flag the chart passes exists (clap rejects unknown flags): parse them with --help
    // appended, which exits 0 only when everything before it parsed.
    let args: Vec<String> = serde_json::from_value(c["args"].clone())?;
    let out = Command::new(env!("CARGO_BIN_EXE_clerk-operator"))
        .args(&args)
        .arg("--help")
        .env_clear()
        .output()?;
    ensure!(out.status.success(), "chart args {args:?}: {}", text(&out));
    // Without election, one replica is replaced by stopping it first: never two writers.
    let no_election = render(&cp, home, &["leaderElection.enabled=false"])?;
    let deploy = find(&no_election, "Deployment", fullname).context("Deployment")?;
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
    let two = render(&cp, home, &["leaderElection.enabled=false,replicaCount=2"])?;
    let deploy = find(&two, "Deployment", fullname).context("Deployment")?;
    ensure!(deploy["spec"]["strategy"].is_null() && deploy["spec"]["replicas"] == 2);

    // The default key as a ClusterClerkInstance: created from the Secret values, passed as
    // --default-instance, the key no longer mounted.
    let ci = render(
        &cp,
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
                &docs,
                "CustomResourceDefinition",
                &format!("{kind}.clerk-operator.io")
            )
            .is_some(),
            "CRD {kind}"
        );
    }

    // The CRD: the committed one, kept on uninstall, accepted by the apiserver.
    let crd = find(
        &docs,
        "CustomResourceDefinition",
        "clerkdomains.clerk-operator.io",
    )
    .context("CRD")?;
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

    // One namespace: a Role there, no cluster-wide grants; HA: leader election and a PDB.
    let docs = render(
        &cp,
        home,
        &["watchNamespace=apps,installCRDs=false,replicaCount=2,secretKey=sk_test_abc"],
    )?;
    ensure!(
        !docs
            .iter()
            .any(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
    );
    ensure!(!docs.iter().any(|d| d["kind"] == "CustomResourceDefinition"));
    let role = find(&docs, "Role", fullname).context("Role")?;
    ensure!(role["metadata"]["namespace"] == "apps");
    ensure!(
        rule_set(&role["rules"]) == operator_rules(),
        "Role rules: {:#}",
        role["rules"]
    );
    let rb = find(&docs, "RoleBinding", fullname).context("RoleBinding")?;
    ensure!(rb["metadata"]["namespace"] == "apps" && rb["subjects"][0]["namespace"] == "clerk-system");
    let deploy = find(&docs, "Deployment", fullname).context("Deployment")?;
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(c["args"].clone())?;
    ensure!(args.contains(&"--namespace=apps".to_string()), "{args:?}");
    ensure!(args.contains(&"--secret-key-file=/etc/clerk-operator/secret-key".to_string()));
    ensure!(
        c["env"]
            .to_string()
            .contains("{\"name\":\"LEADER_ELECT\",\"value\":\"true\"}")
    );
    ensure!(find(&docs, "PodDisruptionBudget", fullname).is_some());
    let secret = find(&docs, "Secret", fullname).context("Secret")?;
    ensure!(secret["stringData"]["CLERK_SECRET_KEY"] == "sk_test_abc");
    Ok(())
}
