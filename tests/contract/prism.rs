//! A Stoplight Prism validating proxy, run as a child process for one test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The prism executable: `PRISM_BIN` (the Makefile sets it from `hack/prism.sh`), else the one
/// `hack/prism.sh` installed earlier, else `None` (callers skip, loudly). A `PRISM_BIN` that is
/// empty or names a missing file is a failed install, not a reason to skip.
pub fn prism_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PRISM_BIN") {
        // Set but empty: `make contract` could not install prism (hack/prism.sh said why).
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "PRISM_BIN={:?} is not a file: did hack/prism.sh fail?",
            p.display()
        );
        return Some(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/prism.sh");
    let out = Command::new("bash").arg(&script).arg("path").output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()?
        .trim()
        .to_string();
    let p = PathBuf::from(path);
    p.is_file().then_some(p)
}

/// A running `prism proxy --errors`. Dropping it stops the process.
pub struct Prism {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
    /// How long prism took to start listening.
    pub startup: Duration,
}

impl Prism {
    /// Start `prism proxy --errors -p PORT SPEC UPSTREAM` on a free loopback port and wait until
    /// it answers HTTP.
    pub async fn start(bin: &Path, spec: &Path, upstream: &str) -> Prism {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().expect("temp file for prism's log");
            let out = std::fs::OpenOptions::new()
                .append(true)
                .open(log.path())
                .expect("open prism's log");
            let started = Instant::now();
            let child = Command::new(bin)
                .args(["proxy", "--errors", "-h", "127.0.0.1", "-p", &port.to_string()])
                .arg(spec)
                .arg(upstream)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let mut prism = Prism {
                child,
                port,
                log,
                startup: Duration::ZERO,
            };
            match prism.wait_ready(Duration::from_secs(120)).await {
                Ok(()) => {
                    prism.startup = started.elapsed();
                    return prism;
                }
                Err(why) => {
                    last_log = prism.log();
                    eprintln!("prism did not start on port {port}: {why}");
                    if !last_log.contains("EADDRINUSE") {
                        break;
                    }
                }
            }
        }
        panic!("prism did not start; its output:\n{last_log}");
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        clerk_operator::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("prism exited with {status}"));
            }
            // Any HTTP answer (prism says 404 for `/`, which is not in the spec) means it is up.
            if http.get(format!("{}/", self.base_url())).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `http://127.0.0.1:PORT`: prism routes by the spec's paths without the server URL's `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything prism printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The exchanges prism found fault with, as it logged them: violations it let through as
    /// warnings (`Violation: ...`) and requests it answered with its own error instead
    /// (`Request terminated with error: ...`), except the readiness probe's `GET /`.
    pub fn flagged(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("Violation:") || l.contains("Request terminated with error"))
            .filter(|l| !l.contains("[HTTP SERVER] get / "))
            .map(|l| l.trim().to_string())
            .collect()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
