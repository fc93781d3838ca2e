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
        rule_set(&cr["rules"]) == cluster_rules(false),
        "ClusterRole rules: {:#}",
        cr["rules"]
    );
    // Secret protection grants list, watch and patch on Secrets, and passes the flag.
    let protected = render(&cp, home, &["secretProtection.enabled=true"])?;
    let pcr = find(&protected, "ClusterRole", fullname).context("ClusterRole")?;
    ensure!(
        rule_set(&pcr["rules"]) == cluster_rules(true),
        "{:#}",
        pcr["rules"]
    );
    let deploy_args = |docs: &[serde_json::Value]| -> Vec<String> {
        find(docs, "Deployment", fullname)
            .and_then(|d| {
                serde_json::from_value(d["spec"]["template"]["spec"]["containers"][0]["args"].clone()).ok()
            })
            .unwrap_or_default()
    };
    ensure!(deploy_args(&protected).contains(&"--secret-protection".to_string()));
    // Secret names the chart is told: `get` on those only.
    let named = render(
        &cp,
        home,
        &["rbac.secretNames[0]=clerk,rbac.secretNames[1]=clerk-dev"],
    )?;
    let ncr = find(&named, "ClusterRole", fullname).context("ClusterRole")?;
    let mut want = cluster_rules(false);
    want.remove(&rule("", "secrets", "", &["get"]));
    want.insert(rule("", "secrets", "clerk,clerk-dev", &["get"]));
    ensure!(rule_set(&ncr["rules"]) == want, "{:#}", ncr["rules"]);
    ensure!(!deploy_args(&docs).contains(&"--secret-protection".to_string()));
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
    flags_parse("chart", &args)?;
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
    metrics_and_helm_test_render(&cp, home, fullname)?;
    // Events about the operator's own Pod, in the release namespace.
    let lease_role = find(&docs, "Role", &format!("{fullname}-leader-election")).context("lease Role")?;
    let mut own_ns = lease_rules.clone();
    own_ns.insert(rule("events.k8s.io", "events", "", &["create", "patch"]));
    ensure!(
        rule_set(&lease_role["rules"]) == own_ns,
        "{:#}",
        lease_role["rules"]
    );
    let protected = render(
        &cp,
        home,
        &["watchNamespace=apps,installCRDs=false,secretProtection.enabled=true"],
    )?;
    let role = find(&protected, "Role", fullname).context("Role")?;
    ensure!(
        rule_set(&role["rules"]) == operator_rules(true),
        "{:#}",
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

/// `/metrics` behind Kubernetes auth by default (HTTPS probes, the review and reader roles, the
/// ServiceMonitor's token and TLS), plain HTTP as a choice; the `helm test` Pod checks /readyz
/// through the Service and the three CRDs, without the operator's selector labels.
fn metrics_and_helm_test_render(cp: &ControlPlane, home: &Path, fullname: &str) -> anyhow::Result<()> {
    let docs = render(
        cp,
        home,
        &["serviceMonitor.enabled=true,serviceMonitor.force=true"],
    )?;
    let auth = find(&docs, "ClusterRole", &format!("{fullname}-metrics-auth")).context("metrics-auth")?;
    ensure!(
        rule_set(&auth["rules"])
            == BTreeSet::from([
                rule("authentication.k8s.io", "tokenreviews", "", &["create"]),
                rule("authorization.k8s.io", "subjectaccessreviews", "", &["create"]),
            ]),
        "{:#}",
        auth["rules"]
    );
    let reader = find(&docs, "ClusterRole", &format!("{fullname}-metrics-reader")).context("reader")?;
    ensure!(
        reader["rules"] == json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
        "{reader}"
    );
    let c = &find(&docs, "Deployment", fullname).context("Deployment")?["spec"]["template"]["spec"]["containers"]
        [0];
    ensure!(
        c["args"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("--metrics-secure")))
    );
    ensure!(
        c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
            && c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    );
    let sm = find(&docs, "ServiceMonitor", fullname).context("ServiceMonitor")?;
    let ep = &sm["spec"]["endpoints"][0];
    ensure!(
        ep["scheme"] == "https" && ep["tlsConfig"]["insecureSkipVerify"] == true,
        "{ep}"
    );
    ensure!(
        ep["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "{ep}"
    );
    let test = find(&docs, "Pod", &format!("{fullname}-test")).context("helm test Pod")?;
    ensure!(test["metadata"]["annotations"]["helm.sh/hook"] == "test");
    ensure!(
        test["metadata"]["labels"]["app.kubernetes.io/name"].is_null(),
        "selector label on the test Pod"
    );
    let args: Vec<String> = serde_json::from_value(test["spec"]["containers"][0]["args"].clone())?;
    let url = format!("--url=https://{fullname}-metrics.clerk-system.svc:8080/readyz");
    ensure!(
        args[0] == "check" && args.contains(&url) && args.contains(&"--insecure-skip-tls-verify".into()),
        "{args:?}"
    );
    for crd in ["clerkdomains", "clerkinstances", "clusterclerkinstances"] {
        ensure!(
            args.contains(&format!("--crd={crd}.clerk-operator.io")),
            "{args:?}"
        );
    }
    flags_parse("helm test", &args)?;
    let role = find(&docs, "ClusterRole", &format!("{fullname}-test")).context("test ClusterRole")?;
    ensure!(
        role["rules"][0]["verbs"] == json!(["get"])
            && role["rules"][0]["resourceNames"]
                .as_array()
                .is_some_and(|n| n.len() == 3)
    );

    let plain = render(
        cp,
        home,
        &["metrics.secure=false,serviceMonitor.enabled=true,serviceMonitor.force=true"],
    )?;
    ensure!(find(&plain, "ClusterRole", &format!("{fullname}-metrics-auth")).is_none());
    let c = &find(&plain, "Deployment", fullname).context("Deployment")?["spec"]["template"]["spec"]["containers"]
        [0];
    ensure!(
        !c["args"].to_string().contains("--metrics-secure")
            && c["readinessProbe"]["httpGet"]["scheme"] == "HTTP"
    );
    let ep = &find(&plain, "ServiceMonitor", fullname).context("ServiceMonitor")?["spec"]["endpoints"][0];
    ensure!(ep["scheme"].is_null() && ep["bearerTokenFile"].is_null(), "{ep}");
    let test = find(&plain, "Pod", &format!("{fullname}-test")).context("helm test Pod")?;
    ensure!(
        test["spec"]["containers"][0]["args"]
            .to_string()
            .contains("--url=http://")
    );
    Ok(())
}
