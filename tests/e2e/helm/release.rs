//! A Helm release of the chart in its own namespace, and the operator running as a process with
//! the release's ServiceAccount token.

use super::*;

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
    pub(super) home: tempfile::TempDir,
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
        prepare_namespaces(&cp, &ns, &app_ns)?;
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
            binary: env!("CARGO_BIN_EXE_clerk-operator").into(),
            kubeconfig: self.kubeconfig.clone(),
            clerk_api_url: self.fake.base_url(),
            secret_key: Some(LIVE_KEY.into()),
            namespace: Some(self.app_ns.clone()),
            lease: leader_elect.then(|| (self.ns.clone(), self.name.clone())),
            lease_timing: None,
            identity: identity.into(),
            // POD_NAMESPACE, as the chart sets it: Events about the operator's Pod go there; and
            // the credentials namespace, which the chart sets to the release namespace.
            extra_args: match leader_elect {
                true => vec![format!("--credentials-namespace={}", self.ns)],
                false => vec![
                    format!("--lease-namespace={}", self.ns),
                    format!("--credentials-namespace={}", self.ns),
                ],
            },
        }
    }

    /// Options for the leader-election pair `<release>-a` and `<release>-b`, with lease `timing`
    /// (duration, grace).
    pub fn pair(&self, timing: (Duration, Duration)) -> (OperatorOptions, OperatorOptions) {
        let [a, b] = ["a", "b"].map(|side| OperatorOptions {
            lease_timing: Some(timing),
            ..self.operator(&format!("{}-{side}", self.name), true)
        });
        (a, b)
    }

    /// Start the pair: A leading (its Lease held), then B waiting.
    pub async fn start_pair(
        &self,
        a: &OperatorOptions,
        b: &OperatorOptions,
    ) -> anyhow::Result<(OperatorProcess, OperatorProcess)> {
        let leader = OperatorProcess::spawn(a)?;
        leader.wait_log(&["acquired leadership"], CONVERGE).await?;
        let standby = OperatorProcess::spawn(b)?;
        standby.wait_log(&["waiting for leadership"], CONVERGE).await?;
        self.wait_lease_holder(&leader.identity, Duration::from_secs(5))
            .await?;
        Ok((leader, standby))
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

/// The release namespace (enforcing the "restricted" Pod Security Standard, holding the
/// existingSecret) and the namespace of the ClerkDomains.
fn prepare_namespaces(cp: &ControlPlane, ns: &str, app_ns: &str) -> anyhow::Result<()> {
    ok(cp.kubectl(&["create", "namespace", ns]), "create namespace")?;
    ok(cp.kubectl(&["create", "namespace", app_ns]), "create namespace")?;
    ok(
        cp.kubectl(&[
            "label",
            "namespace",
            ns,
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
            ns,
            &format!("--from-literal=CLERK_SECRET_KEY={LIVE_KEY}"),
        ]),
        "create existingSecret",
    )?;
    Ok(())
}
