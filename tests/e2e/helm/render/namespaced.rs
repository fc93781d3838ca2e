//! `helm template` for one watched namespace: a Role there, no cluster-wide grants but the
//! metrics and `helm test` ones; HA: leader election and a PDB.

use super::*;

/// One namespace: a Role there, no cluster-wide grants; HA: leader election and a PDB.
pub(super) fn one_namespace_render(cp: &ControlPlane, home: &Path) -> anyhow::Result<()> {
    let fullname = FULLNAME;
    let docs = render(
        cp,
        home,
        &["watchNamespace=apps,installCRDs=false,replicaCount=2,secretKey=sk_test_abc"],
    )?;
    // Cluster-scoped: only what /metrics behind Kubernetes auth needs (reviews, the reader role),
    // and the `helm test` hook's role (get on the three CRDs).
    let cluster_scoped: BTreeSet<String> = docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    let metrics_only = BTreeSet::from([
        format!("ClusterRole/{fullname}-metrics-auth"),
        format!("ClusterRoleBinding/{fullname}-metrics-auth"),
        format!("ClusterRole/{fullname}-metrics-reader"),
        format!("ClusterRole/{fullname}-test"),
        format!("ClusterRoleBinding/{fullname}-test"),
    ]);
    ensure!(cluster_scoped == metrics_only, "{cluster_scoped:?}");
    ensure!(!docs.iter().any(|d| d["kind"] == "CustomResourceDefinition"));
    let role = find(&docs, "Role", fullname).context("Role")?;
    ensure!(role["metadata"]["namespace"] == "apps");
    ensure!(
        rule_set(&role["rules"]) == operator_rules(false),
        "Role rules: {:#}",
        role["rules"]
    );
    metrics::metrics_and_helm_test_render(cp, home, fullname)?;
    namespaced_roles(cp, home, &docs)?;
    namespaced_deployment(&docs)
}

/// The leader-election Role (with Events about the operator's own Pod), the Role with Secret
/// protection, and the RoleBinding.
fn namespaced_roles(cp: &ControlPlane, home: &Path, docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let fullname = FULLNAME;
    // Events about the operator's own Pod, in the release namespace.
    let lease_role = find(docs, "Role", &format!("{fullname}-leader-election")).context("lease Role")?;
    let mut own_ns = lease_rules();
    own_ns.insert(rule("events.k8s.io", "events", "", &["create", "patch"]));
    ensure!(
        rule_set(&lease_role["rules"]) == own_ns,
        "{:#}",
        lease_role["rules"]
    );
    let protected = render(
        cp,
        home,
        &["watchNamespace=apps,installCRDs=false,secretProtection.enabled=true"],
    )?;
    let role = find(&protected, "Role", fullname).context("Role")?;
    ensure!(
        rule_set(&role["rules"]) == operator_rules(true),
        "{:#}",
        role["rules"]
    );
    let rb = find(docs, "RoleBinding", fullname).context("RoleBinding")?;
    ensure!(rb["metadata"]["namespace"] == "apps" && rb["subjects"][0]["namespace"] == "clerk-system");
    Ok(())
}

/// The Deployment watches the namespace, reads the key from the chart's Secret, elects a leader
/// and has a PDB.
fn namespaced_deployment(docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let fullname = FULLNAME;
    let deploy = find(docs, "Deployment", fullname).context("Deployment")?;
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(c["args"].clone())?;
    ensure!(args.contains(&"--namespace=apps".to_string()), "{args:?}");
    ensure!(args.contains(&"--secret-key-file=/etc/clerk-operator/secret-key".to_string()));
    ensure!(
        c["env"]
            .to_string()
            .contains("{\"name\":\"LEADER_ELECT\",\"value\":\"true\"}")
    );
    ensure!(find(docs, "PodDisruptionBudget", fullname).is_some());
    let secret = find(docs, "Secret", fullname).context("Secret")?;
    ensure!(secret["stringData"]["CLERK_SECRET_KEY"] == "sk_test_abc");
    Ok(())
}
