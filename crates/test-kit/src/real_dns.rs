//! The real DNS chain for tests: BIND 9 (`named`, from Debian's packages, `hack/bind.sh`)
//! authoritative for test zones on a free loopback port with TSIG-signed dynamic updates, and
//! the real external-dns (`hack/external-dns.sh`) reading DNSEndpoints of one namespace and
//! writing them to that BIND with `--provider=rfc2136`.
//!
//! Both are processes that die with the test process; dropping the handle stops them.

use super::controlplane::{ControlPlane, free_port, spawn};
use anyhow::{Context as _, bail, ensure};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// TSIG key name that `hack/bind.sh serve` generates and grants updates to.
pub const TSIG_KEY_NAME: &str = "externaldns-key";

fn repo() -> PathBuf {
    crate::repo_root()
}

/// The last line of what a `hack/*.sh` script prints (its output dir), building when needed.
pub(crate) fn script_dir(script: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("hack").join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run hack/{script}: {e}"));
    assert!(out.status.success(), "hack/{script} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("the script prints its dir").trim())
}

/// BIND's tools (named, dig, nsupdate, ...): `CLERK_OPERATOR_BIND_DIR`, else what
/// `hack/bind.sh` prints (it unpacks them when missing).
pub fn bind_bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("CLERK_OPERATOR_BIND_DIR") {
        Some(d) => PathBuf::from(d),
        None => script_dir("bind.sh"),
    })
}

/// The external-dns binary and its CRD: `CLERK_OPERATOR_EXTERNAL_DNS_DIR`, else what
/// `hack/external-dns.sh` prints (it builds them when missing).
pub fn external_dns_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("CLERK_OPERATOR_EXTERNAL_DNS_DIR") {
        Some(d) => PathBuf::from(d),
        None => script_dir("external-dns.sh"),
    })
}

/// external-dns's own DNSEndpoint CRD, from the module it was built from.
pub fn external_dns_crd() -> PathBuf {
    external_dns_dir().join("dnsendpoints.externaldns.k8s.io.yaml")
}

/// Serialises installing external-dns's CRD into the shared control plane, and lets a test
/// that looks at the cluster *without* it hold it off meanwhile.
pub static EXTERNAL_DNS_CRD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether external-dns's CRD is installed.
pub fn external_dns_crd_installed(cp: &ControlPlane) -> bool {
    cp.kubectl(&["get", "crd", "dnsendpoints.externaldns.k8s.io"])
        .status
        .success()
}

/// Install external-dns's CRD (if it is not) and wait until it is served. The caller holds
/// [`EXTERNAL_DNS_CRD`].
pub fn install_external_dns_crd(cp: &ControlPlane) -> anyhow::Result<()> {
    if external_dns_crd_installed(cp) {
        return Ok(());
    }
    let crd = external_dns_crd();
    let out = cp.kubectl(&["apply", "--server-side", "-f", crd.to_str().unwrap()]);
    ensure!(
        out.status.success(),
        "install {}: {}",
        crd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/dnsendpoints.externaldns.k8s.io",
    ]);
    ensure!(
        out.status.success(),
        "CRD established: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_garbage_collector_knows_dnsendpoints(cp)
}

/// kube-controller-manager's garbage collector finds a new CRD only at its next discovery
/// (every 30 s) and must then sync a monitor for it, which takes long on a busy machine. Wait
/// until it has: a DNSEndpoint owned by a ConfigMap goes away with the ConfigMap. Tests that
/// wait for a ClerkDomain's DNSEndpoint to be garbage-collected then wait only for that.
fn wait_garbage_collector_knows_dnsendpoints(cp: &ControlPlane) -> anyhow::Result<()> {
    let name = format!("gc-probe-{:x}", rand::random::<u32>());
    let out = cp.kubectl(&["-n", "default", "create", "configmap", &name]);
    ensure!(
        out.status.success(),
        "create ConfigMap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cp.kubectl(&[
        "-n",
        "default",
        "get",
        "configmap",
        &name,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    ensure!(out.status.success() && !uid.is_empty(), "ConfigMap uid");
    let endpoint = format!(
        "apiVersion: externaldns.k8s.io/v1alpha1\nkind: DNSEndpoint\nmetadata:\n  name: {name}\n  namespace: default\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: {name}, uid: {uid}}}\nspec:\n  endpoints: []\n"
    );
    let out = cp.kubectl_stdin(&["apply", "-f", "-"], &endpoint);
    ensure!(
        out.status.success(),
        "create DNSEndpoint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cp.kubectl(&["-n", "default", "delete", "configmap", &name, "--wait=false"]);
    ensure!(
        out.status.success(),
        "delete ConfigMap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    loop {
        let out = cp.kubectl(&[
            "-n",
            "default",
            "get",
            "dnsendpoint",
            &name,
            "--ignore-not-found",
            "-o",
            "name",
        ]);
        if out.status.success() && out.stdout.is_empty() {
            eprintln!(
                "the garbage collector handles DNSEndpoints after {:.0?}",
                start.elapsed()
            );
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(240) {
            bail!("the garbage collector did not collect DNSEndpoint default/{name} within 240 s");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A running `named`.
pub struct Bind {
    port: u16,
    dir: tempfile::TempDir,
    secret: String,
    zones: Vec<String>,
    child: Child,
}

/// One answer of [`Bind::query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ...
    pub status: String,
    /// The answer section's records as `name type data` (names without the trailing dot).
    pub records: Vec<String>,
}

impl Bind {
    /// Start named, authoritative for `zones`, on a free port of 127.0.0.1; wait until it
    /// answers for every zone.
    pub fn start(zones: &[&str]) -> anyhow::Result<Self> {
        bind_bin_dir();
        let mut last = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("clerk-bind-").tempdir()?;
            let port = free_udp_and_tcp_port()?;
            let mut args = vec![
                repo().join("hack/bind.sh").display().to_string(),
                "serve".into(),
                dir.path().display().to_string(),
                port.to_string(),
            ];
            args.extend(zones.iter().map(|z| z.to_string()));
            let log = dir.path().join("named.log");
            let child = spawn("named", Path::new("bash"), &args, &log);
            let mut bind = Bind {
                port,
                secret: String::new(),
                zones: zones.iter().map(|z| z.to_string()).collect(),
                dir,
                child,
            };
            let start = Instant::now();
            loop {
                if let Ok(Some(status)) = bind.child.try_wait() {
                    last = format!("named exited ({status}): {}", bind.log_tail(20));
                    break;
                }
                if zones.iter().all(|z| {
                    bind.query(z, "SOA")
                        .is_ok_and(|a| a.status == "NOERROR" && !a.records.is_empty())
                }) {
                    bind.secret = std::fs::read_to_string(bind.dir.path().join("tsig.secret"))?
                        .trim()
                        .to_string();
                    ensure!(!bind.secret.is_empty(), "no TSIG secret");
                    return Ok(bind);
                }
                if start.elapsed() > Duration::from_secs(60) {
                    bail!("named did not answer within 60s: {}", bind.log_tail(20));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        bail!("named did not start: {last}")
    }

    /// Where named answers (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TSIG secret (base64) of [`TSIG_KEY_NAME`], hmac-sha256.
    pub fn tsig_secret(&self) -> &str {
        &self.secret
    }

    /// The tail of named's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.path().join("named.log"), lines)
    }

    fn dig(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(bind_bin_dir().join("dig"))
            .arg("@127.0.0.1")
            .arg(format!("-p{}", self.port))
            .args(["+time=2", "+tries=1", "+nocookie"])
            .args(args)
            .output()
            .context("run dig")?;
        ensure!(
            out.status.success(),
            "dig {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Ask named for `name`'s `rtype` records, as `dig` does (no recursion).
    pub fn query(&self, name: &str, rtype: &str) -> anyhow::Result<Answer> {
        let text = self.dig(&["+norecurse", "+noall", "+comments", "+answer", name, rtype])?;
        let status = text
            .lines()
            .find_map(|l| l.split("status: ").nth(1))
            .and_then(|s| s.split(',').next())
            .context("no status in dig's output")?
            .to_string();
        let records = answer_lines(&text);
        Ok(Answer { status, records })
    }

    /// The CNAME target of `name` (without the trailing dot), or `None` (NXDOMAIN or no CNAME).
    pub fn cname(&self, name: &str) -> anyhow::Result<Option<String>> {
        let a = self.query(name, "CNAME")?;
        Ok(a.records.iter().find_map(|r| {
            let mut f = r.split_whitespace();
            let (n, t, v) = (f.next()?, f.next()?, f.next()?);
            (t == "CNAME" && n.eq_ignore_ascii_case(name.trim_end_matches('.'))).then(|| v.to_string())
        }))
    }

    /// Every record of `zone` (zone transfer with the TSIG key), as `name type data`, without
    /// the SOA, NS and `ns` records `hack/bind.sh` put there.
    pub fn records(&self, zone: &str) -> anyhow::Result<Vec<String>> {
        let key = format!("hmac-sha256:{TSIG_KEY_NAME}:{}", self.secret);
        let text = self.dig(&["-y", &key, "+noall", "+answer", zone, "AXFR"])?;
        ensure!(!text.contains("Transfer failed"), "AXFR of {zone}: {text}");
        let ns = format!("ns.{zone}");
        let mut out: Vec<String> = answer_lines(&text)
            .into_iter()
            .filter(|r| {
                let mut f = r.split_whitespace();
                let (n, t) = (f.next().unwrap_or_default(), f.next().unwrap_or_default());
                !(t == "SOA" || t == "NS" || (n == ns && t == "A"))
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Send RFC 2136 updates signed with the TSIG key: `commands` are nsupdate lines such as
    /// `update add clerk.a.example.com 60 CNAME x.example.net.`, for `zone`.
    pub fn nsupdate(&self, zone: &str, commands: &[&str]) -> anyhow::Result<()> {
        use std::io::Write;
        let mut script = format!("server 127.0.0.1 {}\nzone {zone}\n", self.port);
        for c in commands {
            script.push_str(c);
            script.push('\n');
        }
        script.push_str("send\n");
        let mut child = Command::new(bind_bin_dir().join("nsupdate"))
            .args(["-y", &format!("hmac-sha256:{TSIG_KEY_NAME}:{}", self.secret)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("run nsupdate")?;
        child.stdin.take().unwrap().write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success(),
            "nsupdate: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// The zones named serves.
    pub fn zones(&self) -> &[String] {
        &self.zones
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name type data` of each answer line of dig's output (`name ttl class type data`).
fn answer_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| {
                let data: Vec<String> = f[4..]
                    .iter()
                    .map(|d| {
                        if matches!(f[3], "CNAME" | "NS") {
                            d.trim_end_matches('.').to_string()
                        } else {
                            d.to_string()
                        }
                    })
                    .collect();
                format!("{} {} {}", f[0].trim_end_matches('.'), f[3], data.join(" "))
            })
        })
        .collect()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A port of 127.0.0.1 that is free for both UDP and TCP right now.
fn free_udp_and_tcp_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free for both UDP and TCP")
}

mod external_dns;
pub use external_dns::ExternalDns;
