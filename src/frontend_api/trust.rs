//! Extra trust roots (`--extra-ca-file`): a PEM bundle added to the system's roots in the
//! operator's outbound HTTPS clients (Clerk's Backend API and the Frontend API probe), for
//! corporate TLS-inspecting proxies and private CAs.

use anyhow::Context as _;
use std::path::Path;

/// The certificates of the PEM bundle at `path`; an error when it holds none.
pub fn load(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("reading the PEM certificates in {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", path.display());
    Ok(certs)
}
