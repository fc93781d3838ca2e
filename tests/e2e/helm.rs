//! The Helm chart against the real apiserver, and the operator binary running as a separate
//! process with nothing but the chart's ServiceAccount token: the chart's RBAC is exactly enough,
//! a missing rule is reported (not a crash), metrics are served, leader election fails over.

use crate::support::operator_process::{OperatorOptions, OperatorProcess, parse_metrics, sum_samples};
use crate::support::*;
use anyhow::{Context as _, bail, ensure};
use clerk_operator::api::ClerkDomain;
use clerk_operator::fake::{FakeClerk, FakeConfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The chart in this repository.
fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/helm/clerk-operator")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// stdout of a command that must succeed.
fn ok(out: Output, what: &str) -> anyhow::Result<String> {
    ensure!(out.status.success(), "{what} failed: {}", text(&out));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run helm against the control plane, with its own config, cache and data directories.
fn helm(cp: &ControlPlane, home: &Path, args: &[&str]) -> Output {
    Command::new(cp.bin_dir.join("helm"))
        .args(args)
        .arg(format!("--kubeconfig={}", cp.kubeconfig.display()))
        .env_clear()
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm")
}

/// `helm template` of the chart (no cluster needed) as parsed YAML documents.
fn render(cp: &ControlPlane, home: &Path, sets: &[&str]) -> anyhow::Result<Vec<serde_json::Value>> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "chart-test",
        chart.to_str().unwrap(),
        "--namespace",
        "clerk-system",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = ok(helm(cp, home, &args), "helm template")?;
    let mut docs = vec![];
    for doc in serde_yaml::Deserializer::from_str(&out) {
        let v = <serde_json::Value as serde::Deserialize>::deserialize(doc)?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> Option<&'a serde_json::Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

/// Rules as `(apiGroup, resource, resourceNames, sorted verbs)`.
fn rule_set(rules: &serde_json::Value) -> BTreeSet<(String, String, String, Vec<String>)> {
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let mut set = BTreeSet::new();
    for r in rules.as_array().into_iter().flatten() {
        let mut verbs = strs(&r["verbs"]);
        verbs.sort();
        for g in strs(&r["apiGroups"]) {
            for res in strs(&r["resources"]) {
                set.insert((g.clone(), res, strs(&r["resourceNames"]).join(","), verbs.clone()));
            }
        }
    }
    set
}

fn rule(group: &str, resource: &str, names: &str, verbs: &[&str]) -> (String, String, String, Vec<String>) {
    let mut v: Vec<String> = verbs.iter().map(|s| s.to_string()).collect();
    v.sort();
    (group.into(), resource.into(), names.into(), v)
}

/// Exactly the calls the operator makes on watched namespaces.
fn operator_rules() -> BTreeSet<(String, String, String, Vec<String>)> {
    BTreeSet::from([
        rule(
            "clerk-operator.io",
            "clerkdomains",
            "",
            &["list", "watch", "patch"],
        ),
        rule("clerk-operator.io", "clerkdomains/status", "", &["patch"]),
        rule("", "secrets", "", &["get", "list", "watch", "patch"]),
        rule("events.k8s.io", "events", "", &["create", "patch"]),
        rule("externaldns.k8s.io", "dnsendpoints", "", &["patch", "delete"]),
        rule("", "configmaps", "", &["get", "create", "patch", "delete"]),
        rule(
            "clerk-operator.io",
            "clerkinstances",
            "",
            &["list", "watch", "patch"],
        ),
        rule("clerk-operator.io", "clerkinstances/status", "", &["patch"]),
    ])
}

/// The cluster-scoped calls, granted only when the operator watches every namespace.
fn cluster_rules() -> BTreeSet<(String, String, String, Vec<String>)> {
    let mut rules = operator_rules();
    rules.extend([
        rule(
            "clerk-operator.io",
            "clusterclerkinstances",
            "",
            &["list", "watch", "patch"],
        ),
        rule(
            "clerk-operator.io",
            "clusterclerkinstances/status",
            "",
            &["patch"],
        ),
        rule("", "namespaces", "", &["get"]),
    ]);
    rules
}

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
    let out = Command::new(OperatorProcess::binary())
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
        args.contains(&format!("--default-instance={fullname}")),
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

/// A chart release in the test control plane, a namespace for ClerkDomains, a fake Clerk, and
/// a kubeconfig holding a token of the chart's ServiceAccount.
pub struct Release {
    pub cp: Arc<ControlPlane>,
    /// Release name = full name = ServiceAccount = Lease name.
    pub name: String,
    /// The release namespace.
    pub ns: String,
    /// Where the ClerkDomains live (the watched namespace when `watch_namespace`).
    pub app_ns: String,
    pub client: Client,
    pub fake: FakeClerk,
    /// Kubeconfig of the chart's ServiceAccount.
    pub kubeconfig: PathBuf,
    /// What `helm install` printed (NOTES included).
    pub install_output: String,
    home: tempfile::TempDir,
}

impl Release {
    /// Install the chart (installCRDs=false: the harness installed the CRD) with an
    /// existingSecret, into a namespace enforcing the "restricted" Pod Security Standard.
    pub async fn install(cp: Arc<ControlPlane>, prefix: &str, watch_namespace: bool) -> anyhow::Result<Self> {
        let id = format!("{:04x}", rand::random::<u16>());
        let name = format!("clerk-operator-{prefix}-{id}");
        let ns = format!("{prefix}-sys-{id}");
        let app_ns = format!("{prefix}-app-{id}");
        let home = tempfile::tempdir()?;
        ok(cp.kubectl(&["create", "namespace", &ns]), "create namespace")?;
        ok(cp.kubectl(&["create", "namespace", &app_ns]), "create namespace")?;
        ok(
            cp.kubectl(&[
                "label",
                "namespace",
                &ns,
                "pod-security.kubernetes.io/enforce=restricted",
                "pod-security.kubernetes.io/warn=restricted",
            ]),
            "label namespace",
        )?;
        ok(
            cp.kubectl(&[
                "create",
                "secret",
                "generic",
                "clerk-default",
                "-n",
                &ns,
                &format!("--from-literal=CLERK_SECRET_KEY={LIVE_KEY}"),
            ]),
            "create existingSecret",
        )?;
        let chart = chart_dir();
        let mut sets = "installCRDs=false,existingSecret=clerk-default,logLevel=debug".to_string();
        if watch_namespace {
            sets.push_str(&format!(",watchNamespace={app_ns}"));
        }
        let out = helm(
            &cp,
            home.path(),
            &[
                "install",
                &name,
                chart.to_str().unwrap(),
                "--namespace",
                &ns,
                "--set",
                &sets,
            ],
        );
        let install_output = ok(out, "helm install")?;
        let token = ok(
            cp.kubectl(&["create", "token", &name, "-n", &ns, "--duration=2h"]),
            "kubectl create token",
        )?;
        let kubeconfig = home.path().join("sa-kubeconfig");
        std::fs::write(&kubeconfig, cp.kubeconfig_yaml(token.trim(), None))?;
        let fake = FakeClerk::start(FakeConfig {
            secret_keys: vec![LIVE_KEY.into(), TEST_KEY.into()],
            ..Default::default()
        })
        .await?;
        Ok(Self {
            client: cp.client().await,
            cp,
            name,
            ns,
            app_ns,
            fake,
            kubeconfig,
            install_output,
            home,
        })
    }

    /// Options for an operator process as the chart's Deployment runs it: this release's
    /// identity and Lease, the default key, watching `app_ns`.
    pub fn operator(&self, identity: &str, leader_elect: bool) -> OperatorOptions {
        OperatorOptions {
            kubeconfig: self.kubeconfig.clone(),
            clerk_api_url: self.fake.base_url(),
            secret_key: Some(LIVE_KEY.into()),
            namespace: Some(self.app_ns.clone()),
            lease: leader_elect.then(|| (self.ns.clone(), self.name.clone())),
            lease_timing: None,
            identity: identity.into(),
            extra_args: vec![],
        }
    }

    /// `system:serviceaccount:NS:NAME`.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.ns, self.name)
    }

    /// Whether the ServiceAccount may do `verb` on `resource` (`kubectl auth can-i`).
    pub fn can_i(&self, verb: &str, resource: &str, ns: Option<&str>) -> bool {
        let user = self.user();
        let mut args = vec!["auth", "can-i", verb, resource, "--as", &user];
        match ns {
            Some(n) => args.extend(["-n", n]),
            None => args.push("--all-namespaces"),
        }
        self.cp.kubectl(&args).status.success()
    }

    /// The pod the Deployment would create passes the "restricted" Pod Security admission
    /// (server-side dry run; a pod without the security settings is rejected there).
    pub fn check_restricted(&self) -> anyhow::Result<()> {
        let deploy: serde_json::Value = serde_json::from_str(&ok(
            self.cp
                .kubectl(&["get", "deployment", &self.name, "-n", &self.ns, "-o", "json"]),
            "get deployment",
        )?)?;
        let pod = |spec: &serde_json::Value| {
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "restricted-check", "namespace": self.ns},
                "spec": spec,
            })
            .to_string()
        };
        let spec = &deploy["spec"]["template"]["spec"];
        let out = self
            .cp
            .kubectl_stdin(&["create", "--dry-run=server", "-f", "-"], &pod(spec));
        ok(out, "restricted Pod Security admission of the chart's pod")?;
        let mut weak = spec.clone();
        weak["securityContext"] = json!({});
        weak["containers"][0]["securityContext"] = json!({});
        let out = self
            .cp
            .kubectl_stdin(&["create", "--dry-run=server", "-f", "-"], &pod(&weak));
        ensure!(
            !out.status.success() && text(&out).contains("PodSecurity"),
            "the namespace does not enforce Pod Security, the check above proves nothing: {}",
            text(&out)
        );
        Ok(())
    }

    pub fn helm(&self, args: &[&str]) -> Output {
        helm(&self.cp, self.home.path(), args)
    }

    pub fn domains(&self) -> Api<ClerkDomain> {
        Api::namespaced(self.client.clone(), &self.app_ns)
    }

    /// Create a ClerkDomain in `app_ns` (as the admin).
    pub async fn create_domain(&self, name: &str, spec: serde_json::Value) -> anyhow::Result<ClerkDomain> {
        let obj: ClerkDomain = serde_json::from_value(json!({
            "apiVersion": "clerk-operator.io/v1alpha1",
            "kind": "ClerkDomain",
            "metadata": {"name": name, "namespace": self.app_ns},
            "spec": spec,
        }))?;
        Ok(self.domains().create(&PostParams::default(), &obj).await?)
    }

    pub async fn wait_ready(&self, name: &str, op: &OperatorProcess) -> anyhow::Result<ClerkDomain> {
        wait_for(
            &self.domains(),
            name,
            "Ready and Synced",
            CONVERGE,
            |o: &ClerkDomain| {
                is_true(o, "Ready")
                    && is_true(o, "Synced")
                    && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
            },
        )
        .await
        .with_context(|| op.log_tail(40))
    }

    /// The holder of this release's Lease.
    pub async fn lease_holder(&self) -> anyhow::Result<Option<String>> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.ns);
        Ok(leases
            .get_opt(&self.name)
            .await?
            .and_then(|l| l.spec?.holder_identity))
    }

    pub async fn wait_lease_holder(&self, want: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            let holder = self.lease_holder().await?;
            if holder.as_deref() == Some(want) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!("Lease {}/{} held by {holder:?}, not {want}", self.ns, self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Events (events.k8s.io) about `name` in `app_ns`.
    pub async fn events(&self, name: &str) -> anyhow::Result<Vec<k8s_openapi::api::events::v1::Event>> {
        use k8s_openapi::api::events::v1::Event;
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.app_ns);
        Ok(events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect())
    }

    pub async fn wait_event(
        &self,
        name: &str,
        reason: &str,
    ) -> anyhow::Result<k8s_openapi::api::events::v1::Event> {
        let start = Instant::now();
        loop {
            let events = self.events(name).await?;
            if let Some(e) = events.iter().find(|e| e.reason.as_deref() == Some(reason)) {
                return Ok(e.clone());
            }
            if start.elapsed() > CONVERGE {
                let reasons: Vec<_> = events.iter().filter_map(|e| e.reason.clone()).collect();
                bail!("no Event {reason} about {name}; saw {reasons:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Replace the rules of the operator's Role in `app_ns` (watch_namespace releases).
    pub async fn edit_role(&self, edit: impl FnOnce(&mut Vec<PolicyRule>)) -> anyhow::Result<()> {
        let roles: Api<Role> = Api::namespaced(self.client.clone(), &self.app_ns);
        let mut role = roles.get(&self.name).await?;
        let mut rules = role.rules.take().unwrap_or_default();
        edit(&mut rules);
        role.rules = Some(rules);
        roles.replace(&self.name, &PostParams::default(), &role).await?;
        Ok(())
    }
}

/// `helm install` the chart, then run the operator as a separate process holding only a token of
/// the chart's ServiceAccount: create → Ready, update → PATCH in Clerk, delete → gone from Clerk;
/// Events and the Lease are written under that identity.
pub async fn helm_install_and_lifecycle_as_service_account(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp.clone(), "helm", false).await?;
    let notes = &rel.install_output;
    ensure!(
        notes.contains("NOTES:")
            && notes.contains("kind: ClerkDomain")
            && notes.contains("kubectl -n default wait --for=condition=Ready"),
        "NOTES do not give the next step:\n{notes}"
    );
    rel.check_restricted()?;
    // The installed permissions, cluster-wide (ClusterRole): what is needed, nothing more.
    let app = Some(rel.app_ns.as_str());
    let sys = Some(rel.ns.as_str());
    for (verb, resource, ns) in [
        ("list", "clerkdomains.clerk-operator.io", None),
        ("watch", "clerkdomains.clerk-operator.io", None),
        ("patch", "clerkdomains.clerk-operator.io", app),
        ("patch", "clerkdomains.clerk-operator.io/status", app),
        ("get", "secrets", app),
        ("patch", "secrets", app),
        ("watch", "secrets", None),
        ("create", "events.events.k8s.io", app),
        ("get", "configmaps", app),
        ("create", "configmaps", app),
        ("patch", "configmaps", app),
        ("delete", "configmaps", app),
        ("create", "leases.coordination.k8s.io", sys),
        ("patch", &format!("leases.coordination.k8s.io/{}", rel.name), sys),
    ] {
        ensure!(
            rel.can_i(verb, resource, ns),
            "{} may not {verb} {resource}",
            rel.user()
        );
    }
    for (verb, resource, ns) in [
        ("get", "clerkdomains.clerk-operator.io", app),
        ("update", "clerkdomains.clerk-operator.io", app),
        ("delete", "clerkdomains.clerk-operator.io", app),
        ("create", "clerkdomains.clerk-operator.io", app),
        ("update", "clerkdomains.clerk-operator.io/status", app),
        ("create", "secrets", app),
        ("delete", "secrets", app),
        ("update", "secrets", app),
        ("list", "configmaps", app),
        ("update", "configmaps", app),
        ("create", "events", app),
        ("delete", "events.events.k8s.io", app),
        ("create", "leases.coordination.k8s.io", app),
        ("patch", "leases.coordination.k8s.io/someone-else", sys),
        ("delete", &format!("leases.coordination.k8s.io/{}", rel.name), sys),
        ("get", "pods", sys),
    ] {
        ensure!(
            !rel.can_i(verb, resource, ns),
            "{} may {verb} {resource}",
            rel.user()
        );
    }

    let identity = format!("{}-7d9f-abcde", rel.name);
    let mut op = OperatorProcess::spawn(&rel.operator(&identity, true))?;
    op.wait_log(&["acquired leadership"], CONVERGE).await?;
    rel.wait_lease_holder(&identity, Duration::from_secs(10)).await?;

    // Create: one ClerkDomain with the default key, one with a Secret of its namespace.
    let secrets: Api<Secret> = Api::namespaced(rel.client.clone(), &rel.app_ns);
    let mut s = Secret::default();
    s.metadata.name = Some("tenant-key".into());
    s.string_data = Some([("CLERK_SECRET_KEY".to_string(), TEST_KEY.to_string())].into());
    secrets.create(&PostParams::default(), &s).await?;
    rel.create_domain("site", json!({"domain": "site.example.com"}))
        .await?;
    rel.create_domain(
        "tenant",
        json!({"domain": "tenant.example.com", "secretRef": {"name": "tenant-key", "key": "CLERK_SECRET_KEY"},
               "export": {"configMapName": "tenant-clerk"}}),
    )
    .await?;
    let site = rel.wait_ready("site", &op).await?;
    rel.wait_ready("tenant", &op).await?;
    // The export, written with the chart's permissions: a development key gives pk_test_ from
    // the Frontend API host of the instance's primary domain.
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(rel.client.clone(), &rel.app_ns);
    let primary = rel
        .fake
        .domains(TEST_KEY)
        .into_iter()
        .find(|d| !d.is_satellite)
        .context("primary domain")?;
    let host = primary
        .frontend_api_url
        .trim_start_matches("https://")
        .to_string();
    let pk = clerk_operator::controller::export::publishable_key(&host, false);
    ensure!(pk.starts_with("pk_test_"), "{pk}");
    wait_for(&configmaps, "tenant-clerk", "exported", CONVERGE, |cm| {
        let d = cm.data.clone().unwrap_or_default();
        d.get("CLERK_PUBLISHABLE_KEY") == Some(&pk)
            && d.get("CLERK_DOMAIN").map(String::as_str) == Some("tenant.example.com")
    })
    .await
    .with_context(|| op.log_tail(40))?;
    let id = site.status.and_then(|s| s.domain_id).context("domain id")?;
    ensure!(
        rel.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.id == id && d.name == "site.example.com")
    );
    ensure!(
        rel.fake
            .domains(TEST_KEY)
            .iter()
            .any(|d| d.name == "tenant.example.com")
    );
    let in_use = |s: &Secret| s.finalizers().iter().any(|f| f == "clerk-operator.io/in-use");
    wait_for(&secrets, "tenant-key", "marked in use", CONVERGE, in_use).await?;

    // Update: a PATCH reaches Clerk.
    let patches = rel.fake.stats().count_status("UpdateDomain", 200);
    rel.domains()
        .patch(
            "site",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domain": "site2.example.com"}})),
        )
        .await?;
    wait_for(&rel.domains(), "site", "renamed", CONVERGE, |o: &ClerkDomain| {
        is_true(o, "Ready")
            && o.status.as_ref().and_then(|s| s.domain.as_deref()) == Some("site2.example.com")
    })
    .await
    .with_context(|| op.log_tail(40))?;
    ensure!(rel.fake.stats().count_status("UpdateDomain", 200) == patches + 1);
    ensure!(
        rel.fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.id == id && d.name == "site2.example.com")
    );

    // Events, reported by this process.
    for (name, reason) in [("site", "Created"), ("tenant", "Created"), ("site", "Updated")] {
        let e = rel.wait_event(name, reason).await?;
        ensure!(
            e.reporting_controller.as_deref() == Some("clerk-operator"),
            "{e:?}"
        );
        ensure!(
            e.reporting_instance.as_deref() == Some(identity.as_str()),
            "{e:?}"
        );
    }

    // Delete: gone from Clerk, the objects and the Secret's finalizer released.
    rel.domains().delete("site", &Default::default()).await?;
    rel.domains().delete("tenant", &Default::default()).await?;
    wait_gone(&rel.domains(), "site", CONVERGE)
        .await
        .with_context(|| op.log_tail(40))?;
    wait_gone(&rel.domains(), "tenant", CONVERGE).await?;
    wait_gone(&configmaps, "tenant-clerk", CONVERGE).await?;
    ensure!(
        !rel.fake.domains(LIVE_KEY).iter().any(|d| d.id == id),
        "site still in Clerk"
    );
    ensure!(
        !rel.fake
            .domains(TEST_KEY)
            .iter()
            .any(|d| d.name == "tenant.example.com")
    );
    rel.wait_event("site", "Deleted").await?;
    wait_for(&secrets, "tenant-key", "released", CONVERGE, |s: &Secret| {
        !in_use(s)
    })
    .await
    .with_context(|| op.log_tail(60))?;

    // Still the leader; no permission error anywhere in its log.
    ensure!(rel.lease_holder().await?.as_deref() == Some(identity.as_str()));
    let forbidden = op.log_lines(&["forbidden"]);
    ensure!(forbidden.is_empty(), "permission errors: {forbidden:#?}");
    ensure!(op.is_running(), "operator exited: {}", op.log_tail(40));

    // SIGTERM: graceful stop releases the Lease at once.
    op.terminate();
    let status = op.wait_exit(Duration::from_secs(30)).await?;
    ensure!(status.success(), "exit status {status}: {}", op.log_tail(20));
    ensure!(rel.lease_holder().await?.is_none(), "Lease not released");

    ok(
        rel.helm(&["uninstall", &rel.name, "--namespace", &rel.ns]),
        "helm uninstall",
    )?;
    ensure!(
        !cp.kubectl(&["get", "clusterrole", &rel.name]).status.success(),
        "ClusterRole left behind"
    );
    Ok(())
}

/// One rule fewer than the chart grants: the operator keeps running and says which permission
/// is missing (log, condition or exit message), and recovers when the rule is back.
pub async fn missing_rbac_rule_is_reported_not_a_crash(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp.clone(), "rbac", true).await?;
    let has = |r: &PolicyRule, res: &str| r.resources.as_ref().is_some_and(|v| v.iter().any(|x| x == res));
    let roles: Api<Role> = Api::namespaced(rel.client.clone(), &rel.app_ns);
    let original = roles.get(&rel.name).await?.rules.unwrap_or_default();

    // 1. No `patch` on clerkdomains/status.
    rel.edit_role(|rules| rules.retain(|r| !has(r, "clerkdomains/status")))
        .await?;
    let mut op = OperatorProcess::spawn(&rel.operator(&format!("{}-a", rel.name), true))?;
    rel.create_domain("blocked", json!({"domain": "blocked.example.com"}))
        .await?;
    let line = op
        .wait_log(&["cannot patch resource", "clerkdomains/status"], CONVERGE)
        .await?;
    ensure!(line["level"] == "WARN" || line["level"] == "ERROR", "{line}");
    ensure!(
        line.to_string().contains(&rel.user()) && line.to_string().contains("forbidden"),
        "the log line names neither the identity nor the refusal: {line}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure!(op.is_running(), "operator exited: {}", op.log_tail(40));
    ensure!(op.http_get("/healthz").await?.0 == 200);
    ensure!(
        op.metric_sum("clerk_operator_reconciles_total", &["result=\"error\""])
            .await?
            >= 1.0
    );
    // Back: the next retry reports status, without a second domain in Clerk.
    rel.edit_role(|rules| *rules = original.clone()).await?;
    rel.wait_ready("blocked", &op).await?;
    let same_name = rel
        .fake
        .domains(LIVE_KEY)
        .iter()
        .filter(|d| d.name == "blocked.example.com")
        .count();
    ensure!(same_name == 1, "{same_name} domains named blocked.example.com");
    op.terminate();
    op.wait_exit(Duration::from_secs(30)).await?;

    // 2. No access to Secrets: the secretRef ClerkDomain says so in its status, the others work.
    rel.edit_role(|rules| rules.retain(|r| !has(r, "secrets")))
        .await?;
    let secrets: Api<Secret> = Api::namespaced(rel.client.clone(), &rel.app_ns);
    let mut s = Secret::default();
    s.metadata.name = Some("tenant-key".into());
    s.string_data = Some([("CLERK_SECRET_KEY".to_string(), TEST_KEY.to_string())].into());
    secrets.create(&PostParams::default(), &s).await?;
    let op = OperatorProcess::spawn(&rel.operator(&format!("{}-b", rel.name), true))?;
    rel.create_domain(
        "tenant",
        json!({"domain": "tenant.example.com", "secretRef": {"name": "tenant-key", "key": "CLERK_SECRET_KEY"}}),
    )
    .await?;
    rel.create_domain("plain", json!({"domain": "plain.example.com"}))
        .await?;
    let obj = wait_for(
        &rel.domains(),
        "tenant",
        "CredentialsUnreadable",
        CONVERGE,
        |o: &ClerkDomain| {
            condition(o, "Ready").is_some_and(|c| c.status == "False" && c.reason == "CredentialsUnreadable")
        },
    )
    .await
    .with_context(|| op.log_tail(40))?;
    let message = &condition(&obj, "Ready").unwrap().message;
    ensure!(
        message.contains("tenant-key") && message.contains("forbidden") && message.contains("secrets"),
        "condition message: {message}"
    );
    rel.wait_event("tenant", "CredentialsUnreadable").await?;
    rel.wait_ready("plain", &op).await?;
    // The Secret watch (a trigger) is refused too; that is logged, not fatal.
    let line = op
        .wait_log(&["cannot list resource", "secrets"], CONVERGE)
        .await?;
    ensure!(line["level"] == "WARN" || line["level"] == "ERROR", "{line}");
    let mut op = op;
    ensure!(op.is_running(), "operator exited: {}", op.log_tail(40));
    op.terminate();
    op.wait_exit(Duration::from_secs(30)).await?;

    // 3. Cannot list ClerkDomains: nothing to do at all, so it exits non-zero and says why.
    rel.edit_role(|rules| *rules = original.clone()).await?;
    rel.edit_role(|rules| rules.retain(|r| !has(r, "clerkdomains")))
        .await?;
    let mut op = OperatorProcess::spawn(&rel.operator(&format!("{}-c", rel.name), true))?;
    let status = op.wait_exit(CONVERGE).await?;
    ensure!(!status.success(), "exit status {status}");
    let logs = op.logs();
    ensure!(
        logs.contains("cannot list ClerkDomains") && logs.contains("forbidden"),
        "no clear message: {}",
        op.log_tail(20)
    );
    Ok(())
}

/// The operator process's /metrics after reconciles: every family the dashboards use.
pub async fn metrics_endpoint_exports_operator_metrics(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp, "metrics", true).await?;
    let op = OperatorProcess::spawn(&rel.operator(&format!("{}-m", rel.name), true))?;
    rel.create_domain("one", json!({"domain": "one.example.com"}))
        .await?;
    rel.create_domain("two", json!({"domain": "two.example.com"}))
        .await?;
    rel.wait_ready("one", &op).await?;
    rel.wait_ready("two", &op).await?;
    let (status, body) = op.http_get("/healthz").await?;
    ensure!(status == 200, "/healthz {status} {body}");
    let (status, body) = op.http_get("/readyz").await?;
    ensure!(status == 200, "/readyz {status} {body}");
    // The ready gauge is refreshed every 5 s.
    let start = Instant::now();
    let (text, samples) = loop {
        let (status, text) = op.http_get("/metrics").await?;
        ensure!(status == 200, "/metrics {status}");
        let samples = parse_metrics(&text);
        if sum_samples(&samples, "clerk_operator_clerkdomains", &["ready=\"True\""]) == 2.0 {
            break (text, samples);
        }
        ensure!(
            start.elapsed() < Duration::from_secs(20),
            "clerkdomains gauge:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for family in [
        "# TYPE clerk_operator_reconciles counter",
        "# TYPE clerk_operator_reconcile_duration_seconds histogram",
        "# TYPE clerk_operator_clerk_requests counter",
        "# TYPE clerk_operator_clerk_rate_limiter_wait_seconds counter",
        "# TYPE clerk_operator_clerkdomains gauge",
        "# TYPE clerk_operator_leader gauge",
    ] {
        ensure!(text.contains(family), "no `{family}` in:\n{text}");
    }
    let sum = |name: &str, labels: &[&str]| sum_samples(&samples, name, labels);
    ensure!(
        sum("clerk_operator_reconciles_total", &["result=\"success\""]) >= 2.0,
        "{text}"
    );
    ensure!(
        sum("clerk_operator_reconcile_duration_seconds_count", &[]) >= 2.0,
        "{text}"
    );
    ensure!(
        sum(
            "clerk_operator_reconcile_duration_seconds_bucket",
            &["le=\"+Inf\""]
        ) >= 2.0,
        "{text}"
    );
    ensure!(
        sum(
            "clerk_operator_clerk_requests_total",
            &["operation=\"AddDomain\"", "status=\"200\""]
        ) == 2.0,
        "{text}"
    );
    ensure!(
        sum(
            "clerk_operator_clerk_requests_total",
            &["operation=\"ListDomains\"", "status=\"200\""]
        ) >= 1.0,
        "{text}"
    );
    ensure!(
        samples
            .iter()
            .any(|(s, _)| s.starts_with("clerk_operator_clerk_rate_limiter_wait_seconds_total")),
        "{text}"
    );
    ensure!(sum("clerk_operator_clerkdomains", &["ready=\"False\""]) == 0.0);
    ensure!(sum("clerk_operator_leader", &[]) == 1.0, "{text}");
    // What the fake saw matches what the operator counted.
    let fake = rel.fake.stats().count_status("AddDomain", 200) as f64;
    ensure!(
        sum(
            "clerk_operator_clerk_requests_total",
            &["operation=\"AddDomain\""]
        ) == fake
    );
    // Per-object conditions, computed at scrape time: a deleted object leaves no series.
    let ready_one = ["name=\"one\"", "type=\"Ready\"", "status=\"True\""];
    ensure!(
        sum("clerk_operator_clerkdomain_condition", &ready_one) == 1.0,
        "{text}"
    );
    ensure!(
        text.contains("# TYPE clerk_operator_clerkdomain_condition gauge"),
        "{text}"
    );
    let api = rel.domains();
    api.delete("one", &Default::default()).await?;
    wait_gone(&api, "one", CONVERGE).await?;
    let start = Instant::now();
    loop {
        let (_, text) = op.http_get("/metrics").await?;
        let samples = parse_metrics(&text);
        let left = sum_samples(
            &samples,
            "clerk_operator_clerkdomain_condition",
            &["name=\"one\""],
        );
        let two = sum_samples(
            &samples,
            "clerk_operator_clerkdomain_condition",
            &["name=\"two\""],
        );
        if left == 0.0 && two >= 1.0 {
            break;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "series left behind:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Two operator processes with leader election: only the Lease holder reconciles; after the
/// holder is SIGKILLed the standby takes over within the lease duration and reconciles.
pub async fn leader_election_failover(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let rel = Release::install(cp, "failover", false).await?;
    let lease = Duration::from_secs(4);
    let timing = Some((lease, Duration::from_secs(1)));
    let mut a_opts = rel.operator(&format!("{}-a", rel.name), true);
    a_opts.lease_timing = timing;
    let mut b_opts = rel.operator(&format!("{}-b", rel.name), true);
    b_opts.lease_timing = timing;
    let a = OperatorProcess::spawn(&a_opts)?;
    a.wait_log(&["acquired leadership"], CONVERGE).await?;
    let b = OperatorProcess::spawn(&b_opts)?;
    b.wait_log(&["waiting for leadership"], CONVERGE).await?;
    rel.wait_lease_holder(&a.identity, Duration::from_secs(5)).await?;

    rel.create_domain("first", json!({"domain": "first.example.com"}))
        .await?;
    rel.wait_ready("first", &a).await?;
    // Several lease periods: a keeps renewing, b stays a quiet standby.
    tokio::time::sleep(lease * 2).await;
    rel.wait_lease_holder(&a.identity, Duration::ZERO).await?;
    ensure!(
        b.log_lines(&["acquired leadership"]).is_empty(),
        "{}",
        b.log_tail(20)
    );
    ensure!(a.metric_sum("clerk_operator_leader", &[]).await? == 1.0);
    ensure!(b.metric_sum("clerk_operator_leader", &[]).await? == 0.0);
    ensure!(b.metric_sum("clerk_operator_reconciles_total", &[]).await? == 0.0);
    ensure!(b.metric_sum("clerk_operator_clerk_requests_total", &[]).await? == 0.0);
    ensure!(b.http_get("/readyz").await?.0 == 200, "a standby is ready");
    ensure!(a.metric_sum("clerk_operator_reconciles_total", &[]).await? >= 1.0);
    let created = rel.wait_event("first", "Created").await?;
    ensure!(created.reporting_instance.as_deref() == Some(a.identity.as_str()));

    // The leader dies without releasing the Lease.
    let mut a = a;
    a.kill();
    let took = rel
        .wait_lease_holder(&b.identity, lease + Duration::from_secs(10))
        .await
        .with_context(|| b.log_tail(30))?;
    b.wait_log(&["acquired leadership"], Duration::from_secs(5))
        .await?;
    ensure!(took <= lease + Duration::from_secs(6), "takeover took {took:?}");
    rel.create_domain("second", json!({"domain": "second.example.com"}))
        .await?;
    rel.wait_ready("second", &b).await?;
    let created = rel.wait_event("second", "Created").await?;
    ensure!(created.reporting_instance.as_deref() == Some(b.identity.as_str()));
    ensure!(b.metric_sum("clerk_operator_leader", &[]).await? == 1.0);
    // The new leader adopts the first object's domain as is: still one of each in Clerk.
    rel.wait_ready("first", &b).await?;
    let names: Vec<String> = rel.fake.domains(LIVE_KEY).into_iter().map(|d| d.name).collect();
    for n in ["first.example.com", "second.example.com"] {
        ensure!(names.iter().filter(|x| *x == n).count() == 1, "{names:?}");
    }
    Ok(())
}
