//! What Flux and Argo CD make of a ClerkDomain, from the real libraries: `kstatus` runs
//! sigs.k8s.io/cli-utils' `status.Compute` (Flux's health checks), `argolua` runs
//! `deploy/argocd/clerk-operator.io/ClerkDomain/health.lua` in gopher-lua as the Argo CD
//! application controller does. Both are built by `hack/health.sh`.
#![allow(dead_code)]

use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The Argo CD health check and its testdata, relative to the repository root.
pub const ARGOCD_DIR: &str = "deploy/argocd/clerk-operator.io/ClerkDomain";

/// A verdict: kstatus' `Current`/`InProgress`/`Failed`/`Terminating`, or Argo CD's
/// `Healthy`/`Progressing`/`Degraded`/`Suspended`/..., with its message.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Verdict {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

impl Verdict {
    pub fn new(status: &str, message: &str) -> Self {
        Self {
            status: status.into(),
            message: message.into(),
        }
    }
}

pub use crate::repo_root;

/// Where `kstatus` and `argolua` are: `CLERK_OPERATOR_HEALTH_BIN_DIR`, else what
/// `hack/health.sh` prints (it builds them on first use).
pub fn health_bin_dir() -> anyhow::Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("CLERK_OPERATOR_HEALTH_BIN_DIR") {
            return Ok(PathBuf::from(dir));
        }
        let out = Command::new("bash")
            .arg(repo_root().join("hack/health.sh"))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("run hack/health.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!("hack/health.sh failed: {}", out.status));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout.lines().last().unwrap_or_default().trim();
        if dir.is_empty() {
            return Err("hack/health.sh printed no directory".into());
        }
        Ok(PathBuf::from(dir))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Run `bin args...` with `obj` as JSON on stdin and parse its one-line JSON verdict.
fn run(bin: &Path, args: &[&str], obj: &serde_json::Value) -> anyhow::Result<Verdict> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let input = serde_json::to_vec(obj)?;
    child.stdin.take().expect("piped stdin").write_all(&input)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} {args:?} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed {:?}",
            bin.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// kstatus' verdict on `obj` (what Flux's `wait: true` / `healthChecks` wait for).
pub fn kstatus(obj: &serde_json::Value) -> anyhow::Result<Verdict> {
    run(&health_bin_dir()?.join("kstatus"), &["-"], obj)
}

/// Argo CD's verdict on `obj`: the application controller with health.lua installed through
/// argocd-cm (Lua without its standard libraries; an object being deleted is `Progressing`
/// "Pending deletion" before the script runs; a failing script is `Unknown`).
pub fn argo(obj: &serde_json::Value) -> anyhow::Result<Verdict> {
    let script = repo_root().join(ARGOCD_DIR).join("health.lua");
    let script = script.to_str().context("health.lua path is not UTF-8")?;
    run(&health_bin_dir()?.join("argolua"), &["-script", script, "-"], obj)
}

/// `(kstatus verdict, Argo CD verdict)` of a captured object.
pub fn verdicts(obj: &serde_json::Value) -> anyhow::Result<(Verdict, Verdict)> {
    Ok((kstatus(obj)?, argo(obj)?))
}

/// The object as the apiserver serves it (`kubectl get -o json`), through the dynamic API so
/// that nothing is lost to the Rust types.
pub async fn capture(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<serde_json::Value> {
    use kube::core::{ApiResource, DynamicObject};
    let ar = ApiResource::erase::<clerk_operator::api::ClerkDomain>(&());
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client.clone(), ns, &ar);
    Ok(serde_json::to_value(api.get(name).await?)?)
}

/// Write a captured object as testdata of the Argo CD health check (`testdata/<file>.yaml`,
/// without `managedFields`), when `CLERK_OPERATOR_CAPTURE_TESTDATA` is set; `health_test.yaml`
/// and `kstatus_test.yaml` then need entries for new files (`make health-check` says which).
pub fn save_capture(file: &str, obj: &serde_json::Value) -> anyhow::Result<()> {
    if std::env::var_os("CLERK_OPERATOR_CAPTURE_TESTDATA").is_none() {
        return Ok(());
    }
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
    let path = repo_root()
        .join(ARGOCD_DIR)
        .join("testdata")
        .join(format!("{file}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&obj)?).with_context(|| format!("write {}", path.display()))
}
