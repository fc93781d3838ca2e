//! A real Kubernetes control plane on loopback for tests: etcd, kube-apiserver (RBAC on, token
//! authentication) and kube-controller-manager (namespace, garbage-collector and service-account
//! controllers), built from Go modules by `hack/envtest.sh`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running control plane. Dropping it stops the processes and removes its data.
pub struct ControlPlane {
    pub bin_dir: PathBuf,
    pub server: String,
    pub admin_token: String,
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
    children: Vec<(String, Child)>,
    etcd_url: String,
    apiserver_port: u16,
}

/// Where the control plane binaries are: `CLERK_OPERATOR_BIN_DIR`, else what `hack/envtest.sh`
/// prints (it builds them when missing and honours `KUBEBUILDER_ASSETS`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CLERK_OPERATOR_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let root = crate::repo_root();
    let out = Command::new("bash")
        .arg(root.join("hack/envtest.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run hack/envtest.sh");
    assert!(out.status.success(), "hack/envtest.sh failed");
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("envtest.sh prints the bin dir").trim())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `bin` with `args`, stdout and stderr to `log`; it dies with the test process (Linux).
pub fn spawn(name: &str, bin: &Path, args: &[String], log: &Path) -> Child {
    let logf = std::fs::File::create(log).expect("log file");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf);
    crate::process::die_with_parent(&mut cmd);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("start {name} ({}): {e}", bin.display()))
}

impl ControlPlane {
    /// Start etcd, kube-apiserver and kube-controller-manager; wait until the API answers.
    pub fn start() -> Self {
        let bin_dir = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("clerk-envtest-")
            .tempdir()
            .unwrap();
        let d = dir.path().to_path_buf();
        let mut cp = ControlPlane {
            bin_dir: bin_dir.clone(),
            server: String::new(),
            admin_token: format!("admin-{:x}", rand::random::<u64>()),
            kubeconfig: d.join("kubeconfig"),
            dir,
            children: vec![],
            etcd_url: String::new(),
            apiserver_port: 0,
        };
        cp.start_etcd();
        cp.write_credentials();
        cp.start_apiserver();
        cp.start_controller_manager();
        cp
    }

    /// The directory holding logs, certificates and the kubeconfig.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn start_etcd(&mut self) {
        let d = self.dir.path().to_path_buf();
        let client = free_port();
        let peer = free_port();
        self.etcd_url = format!("http://127.0.0.1:{client}");
        let args = vec![
            format!("--data-dir={}", d.join("etcd").display()),
            format!("--listen-client-urls={}", self.etcd_url),
            format!("--advertise-client-urls={}", self.etcd_url),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
            "--unsafe-no-fsync=true".into(),
            "--quota-backend-bytes=4294967296".into(),
            "--log-level=warn".into(),
        ];
        let child = spawn("etcd", &self.bin_dir.join("etcd"), &args, &d.join("etcd.log"));
        self.children.push(("etcd".into(), child));
        wait_until("etcd", Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", client)).is_ok()
        });
    }

    fn write_credentials(&self) {
        let d = self.dir.path();
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(d.join("sa.key"))
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .expect("openssl genrsa");
        assert!(status.success(), "openssl genrsa failed");
        std::fs::write(
            d.join("tokens.csv"),
            format!("{},admin,admin-uid,\"system:masters\"\n", self.admin_token),
        )
        .unwrap();
    }

    /// Kill kube-apiserver and start it again on the same port and data (etcd keeps running).
    pub fn restart_apiserver(&mut self) {
        if let Some(i) = self.children.iter().position(|(n, _)| n == "kube-apiserver") {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
        self.start_apiserver_on(self.apiserver_port);
    }

    fn start_apiserver(&mut self) {
        self.start_apiserver_on(free_port());
    }

    fn start_apiserver_on(&mut self, port: u16) {
        let d = self.dir.path().to_path_buf();
        self.apiserver_port = port;
        let sa_key = d.join("sa.key");
        let args = vec![
            format!("--etcd-servers={}", self.etcd_url),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.apiserver_port),
            format!("--cert-dir={}", d.join("certs").display()),
            "--endpoint-reconciler-type=none".into(),
            format!("--token-auth-file={}", d.join("tokens.csv").display()),
            "--authorization-mode=RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", sa_key.display()),
            format!("--service-account-signing-key-file={}", sa_key.display()),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--storage-media-type=application/json".into(),
            "--v=1".into(),
        ];
        let child = spawn(
            "kube-apiserver",
            &self.bin_dir.join("kube-apiserver"),
            &args,
            &d.join("kube-apiserver.log"),
        );
        self.children.push(("kube-apiserver".into(), child));
        self.server = format!("https://127.0.0.1:{}", self.apiserver_port);
        std::fs::write(&self.kubeconfig, self.kubeconfig_yaml(&self.admin_token, None)).unwrap();
        let deadline = Duration::from_secs(120);
        wait_until("kube-apiserver /readyz", deadline, || {
            self.kubectl(&["get", "--raw", "/readyz"]).status.success()
        });
        // The default namespace and RBAC bootstrap are created asynchronously.
        wait_until("default namespace", deadline, || {
            self.kubectl(&["get", "namespace", "default"]).status.success()
        });
    }

    fn start_controller_manager(&mut self) {
        let d = self.dir.path().to_path_buf();
        let args = vec![
            format!("--kubeconfig={}", self.kubeconfig.display()),
            "--controllers=namespace-controller,garbage-collector-controller,serviceaccount-token-controller,serviceaccount-controller".into(),
            format!("--service-account-private-key-file={}", d.join("sa.key").display()),
            format!("--root-ca-file={}", d.join("certs/apiserver.crt").display()),
            "--use-service-account-credentials=false".into(),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()),
            "--v=1".into(),
        ];
        let child = spawn(
            "kube-controller-manager",
            &self.bin_dir.join("kube-controller-manager"),
            &args,
            &d.join("kube-controller-manager.log"),
        );
        self.children.push(("kube-controller-manager".into(), child));
    }

    /// A kubeconfig for `token`, optionally defaulting to `namespace`.
    pub fn kubeconfig_yaml(&self, token: &str, namespace: Option<&str>) -> String {
        let ns = namespace
            .map(|n| format!("\n    namespace: {n}"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\nusers:\n- name: user\n  user:\n    token: {token}\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: user{ns}\ncurrent-context: envtest\n",
            self.server
        )
    }

    /// Run kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(self.bin_dir.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Run kubectl with `stdin` as input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(self.bin_dir.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Apply the committed CRDs and wait until they are served.
    pub fn install_crds(&self) {
        let crds = crate::repo_root().join("crds");
        let out = self.kubectl(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "install CRDs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/clerkdomains.clerk-operator.io",
            "crd/clerkinstances.clerk-operator.io",
            "crd/clusterclerkinstances.clerk-operator.io",
        ]);
        assert!(
            out.status.success(),
            "CRD established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A kube client authenticated as the admin.
    pub async fn client(&self) -> kube::Client {
        self.client_for(&self.admin_token).await
    }

    /// A kube client authenticated with `token`.
    pub async fn client_for(&self, token: &str) -> kube::Client {
        clerk_operator::install_crypto_provider();
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml(token, None)).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// The tail of one component's log, for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join(format!("{component}.log"))).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("KEEP_ENVTEST").is_some() {
            let path = self.dir.path().to_path_buf();
            eprintln!("keeping control plane data in {}", path.display());
            std::mem::forget(std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()));
        }
    }
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}
