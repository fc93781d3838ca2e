//! The chart on control planes of their own, where no CRD exists until the chart installs it:
//! first install, upgrade, uninstall, reinstall under another name, a second release, and an
//! upgrade from the chart of an earlier commit. The command lines are the chart README's, run
//! by bash as a user's shell runs them. Also: the CRDs' names are locked.

use super::*;

/// The chart of this commit installed only the ClerkDomain CRD (without spec.instanceRef) and
/// had no ClerkInstance kinds: upgrading from it changes one CRD and adds two.
const EARLIER_CHART_COMMIT: &str = "23d9d4a";

const CRDS: [&str; 3] = [
    "clerkdomains.clerk-operator.io",
    "clerkinstances.clerk-operator.io",
    "clusterclerkinstances.clerk-operator.io",
];

/// A control plane without CRDs, and a Helm home for it.
struct Fresh {
    cp: Arc<ControlPlane>,
    home: tempfile::TempDir,
}

impl Fresh {
    fn start() -> anyhow::Result<Self> {
        let cp = Arc::new(ControlPlane::start());
        let out = cp.kubectl(&["get", "crd", "-o", "name"]);
        ensure!(
            out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("clerk-operator.io"),
            "a fresh control plane has clerk-operator CRDs: {}",
            text(&out)
        );
        Ok(Self {
            cp,
            home: tempfile::tempdir()?,
        })
    }

    /// `cmd` run by bash in the repository root, with the control plane's helm and kubectl on
    /// PATH and its kubeconfig in KUBECONFIG.
    fn sh(&self, cmd: &str) -> Output {
        let home = self.home.path();
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", cmd])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.cp.bin_dir.display()))
            .env("KUBECONFIG", &self.cp.kubeconfig)
            .env("HOME", home)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .expect("run bash")
    }

    /// A command line of the chart README, which must contain it verbatim.
    fn documented(&self, cmd: &str) -> anyhow::Result<String> {
        let readme = std::fs::read_to_string(chart_dir().join("README.md"))?;
        ensure!(
            readme.contains(cmd),
            "the chart README does not document this command:\n{cmd}"
        );
        ok(self.sh(cmd), cmd)
    }

    fn kubectl_json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        Ok(serde_json::from_str(&ok(self.cp.kubectl(&a), &a.join(" "))?)?)
    }

    fn exists(&self, args: &[&str]) -> bool {
        let mut a = vec!["get"];
        a.extend(args);
        self.cp.kubectl(&a).status.success()
    }

    fn uid(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut a = vec!["get"];
        a.extend(args);
        let v = self.kubectl_json(&a)?;
        Ok(v["metadata"]["uid"].as_str().context("uid")?.to_string())
    }

    /// All three CRDs exist, are served, and belong to `release` in `ns`, kept on uninstall.
    fn check_crds_owned_by(&self, release: &str, ns: &str) -> anyhow::Result<()> {
        let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
        let names: Vec<String> = CRDS.iter().map(|c| format!("crd/{c}")).collect();
        args.extend(names.iter().map(String::as_str));
        ok(self.cp.kubectl(&args), "CRDs established")?;
        for crd in CRDS {
            let v = self.kubectl_json(&["get", "crd", crd])?;
            let a = &v["metadata"]["annotations"];
            ensure!(
                a["meta.helm.sh/release-name"] == release
                    && a["meta.helm.sh/release-namespace"] == ns
                    && a["helm.sh/resource-policy"] == "keep",
                "CRD {crd} annotations: {a}"
            );
        }
        Ok(())
    }

    /// Create a ClerkDomain as the admin; its uid.
    fn create_domain(&self, ns: &str, name: &str) -> anyhow::Result<String> {
        let yaml = format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  domain: {name}.example.com\n"
        );
        ok(
            self.cp.kubectl_stdin(&["create", "-f", "-"], &yaml),
            "create ClerkDomain",
        )?;
        self.uid(&["clerkdomain", name, "-n", ns])
    }

    /// A kubeconfig with a token of ServiceAccount `ns/name`.
    fn sa_kubeconfig(&self, ns: &str, name: &str) -> anyhow::Result<PathBuf> {
        let token = ok(
            self.cp
                .kubectl(&["create", "token", name, "-n", ns, "--duration=1h"]),
            "kubectl create token",
        )?;
        let path = self.home.path().join(format!("{ns}-{name}.kubeconfig"));
        std::fs::write(&path, self.cp.kubeconfig_yaml(token.trim(), None))?;
        Ok(path)
    }
}

/// Wait until ClerkDomain `ns/name` is Ready for its current generation.
async fn wait_domain_ready(
    client: &Client,
    ns: &str,
    name: &str,
    op: &OperatorProcess,
) -> anyhow::Result<ClerkDomain> {
    let api: Api<ClerkDomain> = Api::namespaced(client.clone(), ns);
    wait_for(&api, name, "Ready", CONVERGE, |o: &ClerkDomain| {
        is_true(o, "Ready") && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
    })
    .await
    .with_context(|| op.log_tail(40))
}

const FIRST_INSTALL: &str = "helm install clerk-operator deploy/helm/clerk-operator -n clerk-system --create-namespace \\
  --set image.repository=REGISTRY/clerk-operator --set existingSecret=clerk";

const REINSTALL: &str =
    "kubectl annotate --overwrite crd clerkdomains.clerk-operator.io clerkinstances.clerk-operator.io \\
  clusterclerkinstances.clerk-operator.io \\
  meta.helm.sh/release-name=clerk-operator-new meta.helm.sh/release-namespace=clerk-system
helm install clerk-operator-new deploy/helm/clerk-operator -n clerk-system \\
  --set image.repository=REGISTRY/clerk-operator --set existingSecret=clerk";

/// Default values on an empty cluster: `helm install` creates the CRDs; `helm upgrade` works;
/// `helm uninstall` removes the operator but keeps the CRDs and the objects; a reinstall under
/// another name is refused until the documented adoption step hands the CRDs over.
pub async fn helm_first_install_upgrade_uninstall_and_reinstall(
    _shared: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let f = Fresh::start()?;
    let out = f.documented(FIRST_INSTALL)?;
    ensure!(
        out.contains(
            "This release installed the CRDs clerkdomains, clerkinstances and clusterclerkinstances"
        ),
        "NOTES: {out}"
    );
    f.check_crds_owned_by("clerk-operator", "clerk-system")?;
    ensure!(f.exists(&["deployment", "clerk-operator", "-n", "clerk-system"]));
    ensure!(f.exists(&["clusterrole", "clerk-operator"]));
    let kept = f.create_domain("default", "kept")?;

    // Upgrade with the production values (the API server validates what they render); the
    // CRDs stay the release's.
    ok(
        f.sh(
            "helm upgrade clerk-operator deploy/helm/clerk-operator -n clerk-system \
              --set image.repository=REGISTRY/clerk-operator --set existingSecret=clerk --set logLevel=debug \
              --set replicaCount=2 --set podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow \
              --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
              --set 'extraVolumes[0].name=corp-ca' --set 'extraVolumes[0].configMap.name=corp-ca' \
              --set 'extraVolumeMounts[0].name=corp-ca' --set 'extraVolumeMounts[0].mountPath=/etc/corp-ca' \
              --set 'extraEnv[0].name=SSL_CERT_DIR' --set 'extraEnv[0].value=/etc/ssl/certs:/etc/corp-ca' \
              --set podSecurityContext.runAsUser=null --set securityContext.runAsUser=null",
        ),
        "helm upgrade",
    )?;
    let deploy = f.kubectl_json(&["get", "deployment", "clerk-operator", "-n", "clerk-system"])?;
    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    ensure!(
        c["args"].to_string().contains("--log-level=debug")
            && c["image"]
                == "REGISTRY/clerk-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            && c["volumeMounts"].to_string().contains("/etc/corp-ca")
            && c["env"].to_string().contains("/etc/ssl/certs:/etc/corp-ca")
            && pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
            && pod["securityContext"]["runAsUser"].is_null()
            && c["securityContext"]["runAsUser"].is_null()
            && c["securityContext"]["readOnlyRootFilesystem"] == true,
        "upgrade did not reach the Deployment: {pod:#}"
    );
    let pdb = f.kubectl_json(&["get", "pdb", "clerk-operator", "-n", "clerk-system"])?;
    ensure!(
        pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow",
        "{pdb:#}"
    );
    f.check_crds_owned_by("clerk-operator", "clerk-system")?;

    // Uninstall: the operator goes, the CRDs and the ClerkDomain stay.
    let out = ok(
        f.sh("helm uninstall clerk-operator -n clerk-system"),
        "helm uninstall",
    )?;
    ensure!(out.contains("kept due to the resource policy"), "{out}");
    ensure!(!f.exists(&["deployment", "clerk-operator", "-n", "clerk-system"]));
    ensure!(!f.exists(&["clusterrole", "clerk-operator"]));
    for crd in CRDS {
        ensure!(f.exists(&["crd", crd]), "CRD {crd} deleted by uninstall");
    }
    ensure!(f.uid(&["clerkdomain", "kept", "-n", "default"])? == kept);

    // Reinstall under another name: the kept CRDs name the old release, Helm refuses them...
    let out = f.sh(
        "helm install clerk-operator-new deploy/helm/clerk-operator -n clerk-system \
         --set image.repository=REGISTRY/clerk-operator --set existingSecret=clerk",
    );
    ensure!(
        !out.status.success() && text(&out).contains("invalid ownership metadata"),
        "a new release took over CRDs of another release: {}",
        text(&out)
    );
    // ...until the documented step hands them over.
    f.documented(REINSTALL)?;
    f.check_crds_owned_by("clerk-operator-new", "clerk-system")?;
    ensure!(f.exists(&["deployment", "clerk-operator-new", "-n", "clerk-system"]));
    ensure!(f.uid(&["clerkdomain", "kept", "-n", "default"])? == kept);
    ok(
        f.sh(
            "helm upgrade clerk-operator-new deploy/helm/clerk-operator -n clerk-system \
              --set image.repository=REGISTRY/clerk-operator --set existingSecret=clerk",
        ),
        "helm upgrade of the new release",
    )?;
    f.check_crds_owned_by("clerk-operator-new", "clerk-system")?;
    Ok(())
}

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

    // The operator as the chart's ServiceAccount, with the chart's --default-instance: a
    // ClerkDomain without refs in a selected namespace uses the instance's key.
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec![LIVE_KEY.into()],
        ..Default::default()
    })
    .await?;
    let client = f.cp.client().await;
    let op = OperatorProcess::spawn(&OperatorOptions {
        binary: env!("CARGO_BIN_EXE_clerk-operator").into(),
        kubeconfig: f.sa_kubeconfig("clerk-system", "clerk-operator")?,
        clerk_api_url: fake.base_url(),
        secret_key: None,
        namespace: None,
        lease: Some(("clerk-system".into(), "clerk-operator".into())),
        lease_timing: None,
        identity: "clerk-operator-0".into(),
        // As the chart's Deployment passes them.
        extra_args: vec![
            "--default-instance=clerk-operator".into(),
            "--credentials-namespace=clerk-system".into(),
        ],
    })?;
    f.create_domain("shop", "store")?;
    wait_domain_ready(&client, "shop", "store", &op).await?;
    ensure!(
        fake.domains(LIVE_KEY)
            .iter()
            .any(|d| d.name == "store.example.com"),
        "the domain did not reach the instance's Clerk"
    );

    // The first upgrade takes the hook-created instance over without applying changes to it:
    // the chart refuses one that would change it.
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
            && inst["metadata"]["uid"] == inst_uid.as_str(),
        "the upgrade did not change the instance: {inst}"
    );

    // A second release next to it: its own namespace, no CRDs, no cluster-wide RBAC, and the
    // ClerkDomains split by label (the upgrade above excluded them from the first release).
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
    // The flags parse (clap rejects unknown ones; --help exits 0 only when all before it parsed).
    let out = Command::new(env!("CARGO_BIN_EXE_clerk-operator"))
        .args(&args)
        .arg("--help")
        .env_clear()
        .output()?;
    ensure!(
        out.status.success(),
        "second release args {args:?}: {}",
        text(&out)
    );
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

/// Install the chart of an earlier commit (one CRD, older schema), create ClerkDomains, upgrade
/// to this chart: the objects survive with their uids, the ClerkDomain CRD has the new schema,
/// the new CRDs exist, and the operator reconciles the old objects with the upgraded RBAC.
pub async fn chart_upgrade_from_an_earlier_chart_keeps_objects(
    _shared: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let f = Fresh::start()?;
    let old = tempfile::tempdir()?;
    let has_commit = f.sh(&format!("git cat-file -e '{EARLIER_CHART_COMMIT}^{{commit}}'"));
    ensure!(
        has_commit.status.success(),
        "commit {EARLIER_CHART_COMMIT} (the earlier chart) is not in this clone: this test needs the \
         repository's history (git fetch --unshallow)"
    );
    ok(
        f.sh(&format!(
            "git archive {EARLIER_CHART_COMMIT} deploy/helm/clerk-operator | tar -x -C '{}'",
            old.path().display()
        )),
        "git archive of the earlier chart",
    )?;
    let old_chart = old.path().join("deploy/helm/clerk-operator");
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
    let spec_props = |f: &Fresh| -> anyhow::Result<serde_json::Value> {
        let crd = f.kubectl_json(&["get", "crd", "clerkdomains.clerk-operator.io"])?;
        Ok(
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                .clone(),
        )
    };
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
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec![LIVE_KEY.into()],
        ..Default::default()
    })
    .await?;
    let client = f.cp.client().await;
    let op = OperatorProcess::spawn(&OperatorOptions {
        binary: env!("CARGO_BIN_EXE_clerk-operator").into(),
        kubeconfig: f.sa_kubeconfig("clerk-system", "clerk-operator")?,
        clerk_api_url: fake.base_url(),
        secret_key: Some(LIVE_KEY.into()),
        namespace: None,
        lease: Some(("clerk-system".into(), "clerk-operator".into())),
        lease_timing: None,
        identity: "clerk-operator-0".into(),
        extra_args: vec!["--credentials-namespace=clerk-system".into()],
    })?;
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

/// Group, kinds, plurals, singulars, short names, categories and scope of the three CRDs are
/// part of the API (scripts, RBAC, `kubectl get clerk`): changing one needs a new API version
/// (docs/design/api-versions.md), never an edit in place.
pub async fn crd_names_are_stable(_shared: Arc<ControlPlane>) -> anyhow::Result<()> {
    let want = [
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
    ];
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
