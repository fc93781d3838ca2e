//! An upgrade from the chart of an earlier commit, and the CRDs' names, which never change.

use super::*;

/// The chart of this commit installed only the ClerkDomain CRD (without spec.instanceRef) and
/// had no ClerkInstance kinds: upgrading from it changes one CRD and adds two.
const EARLIER_CHART_COMMIT: &str = "23d9d4a";

/// Install the chart of an earlier commit (one CRD, older schema), create ClerkDomains, upgrade
/// to this chart: the objects survive with their uids, the ClerkDomain CRD has the new schema,
/// the new CRDs exist, and the operator reconciles the old objects with the upgraded RBAC.
pub async fn chart_upgrade_from_an_earlier_chart_keeps_objects(
    _shared: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let f = Fresh::start()?;
    let old = tempfile::tempdir()?;
    install_earlier_chart(&f, old.path())?;
    ensure!(
        spec_props(&f)?.get("instanceRef").is_none(),
        "the earlier CRD already has spec.instanceRef: pick an older commit"
    );
    let a = f.create_domain("apps", "alpha")?;
    let b = f.create_domain("apps", "beta")?;

    // Values are given again (not --reuse-values: the earlier release's values lack the keys
    // this chart added).
    ok(
        f.sh("helm upgrade clerk-operator deploy/helm/clerk-operator -n clerk-system --set existingSecret=clerk"),
        "helm upgrade to this chart",
    )?;
    f.check_crds_owned_by("clerk-operator", "clerk-system")?;
    ensure!(
        spec_props(&f)?.get("instanceRef").is_some(),
        "the upgrade did not update the ClerkDomain CRD"
    );
    ensure!(f.uid(&["clerkdomain", "alpha", "-n", "apps"])? == a);
    ensure!(f.uid(&["clerkdomain", "beta", "-n", "apps"])? == b);

    // The operator with the upgraded release's ServiceAccount reconciles the old objects.
    let (fake, client, op) = f.chart_operator(Some(LIVE_KEY), &[]).await?;
    wait_domain_ready(&client, "apps", "alpha", &op).await?;
    wait_domain_ready(&client, "apps", "beta", &op).await?;
    let names: BTreeSet<String> = fake.domains(LIVE_KEY).into_iter().map(|d| d.name).collect();
    ensure!(
        names.contains("alpha.example.com") && names.contains("beta.example.com"),
        "{names:?}"
    );
    let forbidden = op.log_lines(&["forbidden"]);
    ensure!(forbidden.is_empty(), "permission errors: {forbidden:#?}");
    Ok(())
}

/// The ClerkDomain CRD's spec properties, as the cluster serves them.
fn spec_props(f: &Fresh) -> anyhow::Result<serde_json::Value> {
    let crd = f.kubectl_json(&["get", "crd", "clerkdomains.clerk-operator.io"])?;
    Ok(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].clone())
}

/// `helm install` the chart of [`EARLIER_CHART_COMMIT`], unpacked into `old`, with its one CRD
/// established and no ClerkInstance CRD.
fn install_earlier_chart(f: &Fresh, old: &Path) -> anyhow::Result<()> {
    let has_commit = f.sh(&format!("git cat-file -e '{EARLIER_CHART_COMMIT}^{{commit}}'"));
    ensure!(
        has_commit.status.success(),
        "commit {EARLIER_CHART_COMMIT} (the earlier chart) is not in this clone: this test needs the \
         repository's history (git fetch --unshallow)"
    );
    ok(
        f.sh(&format!(
            "git archive {EARLIER_CHART_COMMIT} deploy/helm/clerk-operator | tar -x -C '{}'",
            old.display()
        )),
        "git archive of the earlier chart",
    )?;
    let old_chart = old.join("deploy/helm/clerk-operator");
    for cmd in [
        "kubectl create namespace clerk-system".to_string(),
        format!(
            "kubectl -n clerk-system create secret generic clerk --from-literal=CLERK_SECRET_KEY={LIVE_KEY}"
        ),
        "kubectl create namespace apps".to_string(),
        format!(
            "helm install clerk-operator '{}' -n clerk-system --set existingSecret=clerk",
            old_chart.display()
        ),
    ] {
        ok(f.sh(&cmd), &cmd)?;
    }
    ok(
        f.cp.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/clerkdomains.clerk-operator.io",
        ]),
        "old CRD established",
    )?;
    ensure!(
        !f.exists(&["crd", "clerkinstances.clerk-operator.io"]),
        "the earlier chart already had the ClerkInstance CRD: pick an older commit"
    );
    Ok(())
}

/// `(singular, kind, plural, short name, scope)` of each CRD.
fn stable_names() -> [(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
); 3] {
    [
        ("clerkdomain", "ClerkDomain", "clerkdomains", "cdom", "Namespaced"),
        (
            "clerkinstance",
            "ClerkInstance",
            "clerkinstances",
            "cins",
            "Namespaced",
        ),
        (
            "clusterclerkinstance",
            "ClusterClerkInstance",
            "clusterclerkinstances",
            "ccins",
            "Cluster",
        ),
    ]
}

/// Group, kinds, plurals, singulars, short names, categories and scope of the three CRDs are
/// part of the API (scripts, RBAC, `kubectl get clerk`): changing one needs a new API version
/// (docs/design/api-versions.md), never an edit in place.
pub async fn crd_names_are_stable(_shared: Arc<ControlPlane>) -> anyhow::Result<()> {
    let want = stable_names();
    let files: BTreeSet<String> = std::fs::read_dir(repo_root().join("crds"))?
        .map(|e| -> anyhow::Result<String> { Ok(e?.file_name().to_string_lossy().into_owned()) })
        .collect::<anyhow::Result<_>>()?;
    let expected: BTreeSet<String> = want.iter().map(|w| format!("{}.yaml", w.0)).collect();
    ensure!(files == expected, "crds/ holds {files:?}, expected {expected:?}");
    for (file, kind, plural, short, scope) in want {
        for path in [
            repo_root().join(format!("crds/{file}.yaml")),
            chart_dir().join(format!("files/{file}.yaml")),
        ] {
            let crd: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
            let names = &crd["spec"]["names"];
            let got = json!({
                "name": crd["metadata"]["name"],
                "group": crd["spec"]["group"],
                "scope": crd["spec"]["scope"],
                "kind": names["kind"],
                "plural": names["plural"],
                "singular": names["singular"],
                "shortNames": names["shortNames"],
                "categories": names["categories"],
                "versions": crd["spec"]["versions"].as_array().map(|v| v.iter().map(|v| v["name"].clone()).collect::<Vec<_>>()),
            });
            let expected = json!({
                "name": format!("{plural}.clerk-operator.io"),
                "group": "clerk-operator.io",
                "scope": scope,
                "kind": kind,
                "plural": plural,
                "singular": file,
                "shortNames": [short],
                "categories": ["clerk"],
                "versions": ["v1alpha1"],
            });
            ensure!(
                got == expected,
                "{}: {got:#} differs from {expected:#}",
                path.display()
            );
        }
    }
    Ok(())
}
