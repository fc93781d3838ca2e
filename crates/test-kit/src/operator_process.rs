//! The operator binary as a separate process (as it runs in a pod): its own kubeconfig and
//! identity, logs captured to a temp file (JSON lines), killed when dropped.

use anyhow::{Context as _, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How to start one operator process.
#[derive(Clone, Debug, Default)]
pub struct OperatorOptions {
    /// The `clerk-operator` binary: `env!("CARGO_BIN_EXE_clerk-operator")` in an integration
    /// test of the operator crate (cargo builds it for them).
    pub binary: PathBuf,
    /// Kubeconfig the process authenticates with.
    pub kubeconfig: PathBuf,
    /// Clerk base URL (the fake's).
    pub clerk_api_url: String,
    /// `CLERK_SECRET_KEY`, the default key.
    pub secret_key: Option<String>,
    /// `--namespace`; `None` watches all namespaces.
    pub namespace: Option<String>,
    /// `--leader-elect --lease-namespace NS --lease-name NAME`.
    pub lease: Option<(String, String)>,
    /// `--lease-duration`, `--lease-grace`.
    pub lease_timing: Option<(Duration, Duration)>,
    /// `POD_NAME`: the identity in the Lease and in Events.
    pub identity: String,
    /// More flags for `run`.
    pub extra_args: Vec<String>,
}

/// A running `clerk-operator run`.
pub struct OperatorProcess {
    pub identity: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl OperatorProcess {
    /// Start the operator with a clean environment (nothing of the test's leaks in), JSON logs
    /// at debug level for this crate, and the HTTP server on a free loopback port.
    pub fn spawn(opts: &OperatorOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("clerk-operator-proc-")
            .tempdir()?;
        let log = dir.path().join("operator.log");
        let logf = std::fs::File::create(&log)?;
        let mut args: Vec<String> = vec![
            "run".into(),
            format!("--kubeconfig={}", opts.kubeconfig.display()),
            format!("--clerk-api-url={}", opts.clerk_api_url),
            "--metrics-addr=127.0.0.1:0".into(),
            "--log-format=json".into(),
            "--log-level=info,clerk_operator=debug".into(),
        ];
        if let Some(ns) = &opts.namespace {
            args.push(format!("--namespace={ns}"));
        }
        if let Some((ns, name)) = &opts.lease {
            args.push("--leader-elect".into());
            args.push(format!("--lease-namespace={ns}"));
            args.push(format!("--lease-name={name}"));
        }
        if let Some((duration, grace)) = opts.lease_timing {
            args.push(format!("--lease-duration={}s", duration.as_secs()));
            args.push(format!("--lease-grace={}s", grace.as_secs()));
        }
        args.extend(opts.extra_args.iter().cloned());
        let mut cmd = Command::new(&opts.binary);
        cmd.args(&args)
            .env_clear()
            .env("POD_NAME", &opts.identity)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf);
        if let Some(key) = &opts.secret_key {
            cmd.env("CLERK_SECRET_KEY", key);
        }
        crate::process::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", opts.binary.display()))?;
        Ok(Self {
            identity: opts.identity.clone(),
            child,
            log,
            _dir: dir,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` log lines, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.logs();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last {n} log lines of {} (pid {}) ---\n{}",
            self.identity,
            self.pid(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    /// Log lines (JSON objects) whose text contains every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| serde_json::Value::String(l.into())))
            .collect()
    }

    /// Wait for a log line containing every one of `needles`; returns it.
    pub async fn wait_log(&self, needles: &[&str], timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let start = Instant::now();
        loop {
            if let Some(line) = self.log_lines(needles).into_iter().next() {
                return Ok(line);
            }
            if start.elapsed() > timeout {
                bail!(
                    "no log line with {needles:?} after {timeout:?}\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Wait until the process exits.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                bail!("still running after {timeout:?}\n{}", self.log_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no chance to release the Lease (a crashed pod, a lost node).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: a graceful shutdown (a deleted pod).
    pub fn terminate(&self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// The address of /metrics, /healthz and /readyz, from the startup log line.
    pub async fn http_addr(&self) -> anyhow::Result<SocketAddr> {
        let line = self
            .wait_log(&["serving /metrics"], Duration::from_secs(30))
            .await?;
        let bound = line
            .get("bound")
            .and_then(|b| b.as_str())
            .with_context(|| format!("no `bound` field in {line}"))?;
        Ok(bound.parse()?)
    }

    /// GET `path` from the operator's HTTP server: status and body.
    pub async fn http_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        clerk_operator::install_crypto_provider();
        let addr = self.http_addr().await?;
        let resp = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .with_context(|| format!("GET {path} from {}", self.identity))?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// GET `path` over HTTPS (`--metrics-secure`; its certificate is not verified), with `token`
    /// as the bearer token: status and body.
    pub async fn https_get(&self, path: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
        clerk_operator::install_crypto_provider();
        let addr = self.http_addr().await?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .danger_accept_invalid_certs(true)
            .build()?;
        let mut req = client.get(format!("https://localhost:{}{path}", addr.port()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("GET {path} over HTTPS from {}", self.identity))?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// The samples of `/metrics` as `(name{labels}, value)`, e.g.
    /// `("clerk_operator_leader", 1.0)`.
    pub async fn metrics(&self) -> anyhow::Result<Vec<(String, f64)>> {
        let (status, body) = self.http_get("/metrics").await?;
        anyhow::ensure!(status == 200, "/metrics answered {status}: {body}");
        Ok(parse_metrics(&body))
    }

    /// Sum of the samples of metric `name` whose labels contain every one of `labels`
    /// (`key="value"` strings); 0 when there are none.
    pub async fn metric_sum(&self, name: &str, labels: &[&str]) -> anyhow::Result<f64> {
        Ok(sum_samples(&self.metrics().await?, name, labels))
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() || std::env::var_os("SHOW_OPERATOR_LOGS").is_some() {
            eprintln!("{}", self.log_tail(60));
        }
    }
}

/// Samples of a Prometheus/OpenMetrics text exposition.
pub fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Sum of the samples named exactly `name` whose label set contains every one of `labels`.
pub fn sum_samples(samples: &[(String, f64)], name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let base = series.split('{').next().unwrap_or_default();
            base == name && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}
