//! `helm template` of the metrics endpoint (behind Kubernetes auth, or plain HTTP) and of the
//! `helm test` Pod.

use super::*;

/// `/metrics` behind Kubernetes auth by default (HTTPS probes, the review and reader roles, the
/// ServiceMonitor's token and TLS), plain HTTP as a choice; the `helm test` Pod checks /readyz
/// through the Service and the three CRDs, without the operator's selector labels.
pub(super) fn metrics_and_helm_test_render(
    cp: &ControlPlane,
    home: &Path,
    fullname: &str,
) -> anyhow::Result<()> {
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
    helm_test_pod(&docs, fullname)?;
    plain_metrics(cp, home, fullname)
}

/// The `helm test` Pod checks /readyz through the Service and the three CRDs, without the
/// operator's selector labels; its role gets only those CRDs.
fn helm_test_pod(docs: &[serde_json::Value], fullname: &str) -> anyhow::Result<()> {
    let test = find(docs, "Pod", &format!("{fullname}-test")).context("helm test Pod")?;
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
    let role = find(docs, "ClusterRole", &format!("{fullname}-test")).context("test ClusterRole")?;
    ensure!(
        role["rules"][0]["verbs"] == json!(["get"])
            && role["rules"][0]["resourceNames"]
                .as_array()
                .is_some_and(|n| n.len() == 3)
    );
    Ok(())
}

/// Plain HTTP metrics, as a choice: no review role, HTTP probes, a plain ServiceMonitor.
fn plain_metrics(cp: &ControlPlane, home: &Path, fullname: &str) -> anyhow::Result<()> {
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
