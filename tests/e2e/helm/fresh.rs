//! The chart on control planes of their own, where no CRD exists until the chart installs it.
//! The command lines are the chart README's, run by bash as a user's shell runs them. Here:
//! first install, upgrade, uninstall and reinstall under another name; in [`cluster_instance`]
//! the chart's ClusterClerkInstance and a second release; in [`upgrade`] an upgrade from the
//! chart of an earlier commit, and the CRDs' locked names.

use super::*;

mod cluster_instance;
mod upgrade;
pub use cluster_instance::*;
pub use upgrade::*;

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
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", cmd])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.cp.bin_dir.display()))
            .env("KUBECONFIG", &self.cp.kubeconfig)
            .envs(helm_home(self.home.path()))
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

    /// A fake Clerk that knows the live key, a client, and the operator as the release's
    /// ServiceAccount `clerk-system/clerk-operator` with its Lease, given `secret_key` and,
    /// besides `--credentials-namespace=clerk-system`, `flags` (as the chart's Deployment passes
    /// them).
    async fn chart_operator(
        &self,
        secret_key: Option<&str>,
        flags: &[&str],
    ) -> anyhow::Result<(FakeClerk, Client, OperatorProcess)> {
        let fake = FakeClerk::start(FakeConfig {
            secret_keys: vec![LIVE_KEY.into()],
            ..Default::default()
        })
        .await?;
        let mut extra_args = vec!["--credentials-namespace=clerk-system".to_string()];
        extra_args.extend(flags.iter().map(|f| f.to_string()));
        let op = OperatorProcess::spawn(&OperatorOptions {
            binary: env!("CARGO_BIN_EXE_clerk-operator").into(),
            kubeconfig: self.sa_kubeconfig("clerk-system", "clerk-operator")?,
            clerk_api_url: fake.base_url(),
            secret_key: secret_key.map(str::to_string),
            namespace: None,
            lease: Some(("clerk-system".into(), "clerk-operator".into())),
            lease_timing: None,
            identity: "clerk-operator-0".into(),
            extra_args,
        })?;
        Ok((fake, self.cp.client().await, op))
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
    upgrade_with_production_values(&f)?;

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

/// Upgrade with the production values: they reach the Deployment and the PDB.
fn upgrade_with_production_values(f: &Fresh) -> anyhow::Result<()> {
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
    Ok(())
}
