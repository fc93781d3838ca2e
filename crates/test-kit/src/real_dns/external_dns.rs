//! The real external-dns as a process of the test.

use super::*;

/// A running external-dns: `--source=crd` for one namespace, `--provider=rfc2136` to a [`Bind`]
/// zone, `--policy=sync --registry=txt` with its own owner ID.
pub struct ExternalDns {
    dir: tempfile::TempDir,
    child: Child,
}

impl ExternalDns {
    /// Start external-dns for DNSEndpoints in `namespace`, publishing into `zone` of `bind`, as
    /// the control plane's admin, syncing every 2 s and on every change.
    pub fn start(
        cp: &ControlPlane,
        bind: &Bind,
        zone: &str,
        namespace: &str,
        owner_id: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with(cp, bind, zone, namespace, owner_id, &[])
    }

    /// [`ExternalDns::start`] with more flags, e.g. `--managed-record-types=A,AAAA,CNAME,TXT`.
    pub fn start_with(
        cp: &ControlPlane,
        bind: &Bind,
        zone: &str,
        namespace: &str,
        owner_id: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("clerk-external-dns-").tempdir()?;
        let bin = external_dns_dir().join("external-dns");
        ensure!(bin.exists(), "no external-dns at {}", bin.display());
        let args: Vec<String> = [
            format!("--kubeconfig={}", cp.kubeconfig.display()),
            "--source=crd".into(),
            "--crd-source-apiversion=externaldns.k8s.io/v1alpha1".into(),
            "--crd-source-kind=DNSEndpoint".into(),
            format!("--namespace={namespace}"),
            "--provider=rfc2136".into(),
            "--rfc2136-host=127.0.0.1".into(),
            format!("--rfc2136-port={}", bind.port()),
            format!("--rfc2136-zone={zone}"),
            format!("--rfc2136-tsig-keyname={TSIG_KEY_NAME}"),
            format!("--rfc2136-tsig-secret={}", bind.tsig_secret()),
            "--rfc2136-tsig-secret-alg=hmac-sha256".into(),
            "--rfc2136-axfr".into(),
            format!("--domain-filter={zone}"),
            "--policy=sync".into(),
            "--registry=txt".into(),
            format!("--txt-owner-id={owner_id}"),
            "--interval=2s".into(),
            "--events".into(),
            "--min-event-sync-interval=1s".into(),
            format!("--metrics-address=127.0.0.1:{}", free_port()),
            "--log-level=debug".into(),
        ]
        .into_iter()
        .chain(extra.iter().map(|a| a.to_string()))
        .collect();
        let child = spawn("external-dns", &bin, &args, &dir.path().join("external-dns.log"));
        Ok(Self { dir, child })
    }

    /// The tail of external-dns's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.path().join("external-dns.log"), lines)
    }

    /// Its whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("external-dns.log")).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ExternalDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
