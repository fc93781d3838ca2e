//! The Helm chart against the real apiserver, and the operator binary running as a separate
//! process with nothing but the chart's ServiceAccount token: the chart's RBAC is exactly enough,
//! a missing rule is reported (not a crash), metrics are served, leader election fails over.

use anyhow::{Context as _, bail, ensure};
use clerk_operator::api::ClerkDomain;
use fake_clerk::{FakeClerk, FakeConfig};
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
use test_kit::operator_process::{OperatorOptions, OperatorProcess, parse_metrics, sum_samples};
use test_kit::*;

mod ca_bundle;
mod fresh;
mod install;
mod rbac;
mod release;
mod render;
mod running;
mod secure_metrics;

pub use ca_bundle::*;
pub use fresh::*;
pub use install::*;
pub use rbac::*;
pub use release::Release;
pub use render::*;
pub use running::*;
pub use secure_metrics::*;

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

/// The operator binary parses `args`, the chart's flags for `what`: clap rejects unknown ones,
/// and `--help` exits 0 only when everything before it parsed.
fn flags_parse(what: &str, args: &[String]) -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_clerk-operator"))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()?;
    ensure!(out.status.success(), "{what} args {args:?}: {}", text(&out));
    Ok(())
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
        .envs(helm_home(home))
        .output()
        .expect("run helm")
}

/// The environment that gives helm its own config, cache and data directories under `home`.
fn helm_home(home: &Path) -> [(&'static str, PathBuf); 4] {
    [
        ("HOME", home.to_path_buf()),
        ("HELM_CACHE_HOME", home.join("cache")),
        ("HELM_CONFIG_HOME", home.join("config")),
        ("HELM_DATA_HOME", home.join("data")),
    ]
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

/// Exactly the calls the operator makes on watched namespaces: Secrets one by one (`get`), or
/// with Secret protection also watched and patched (the in-use finalizer).
fn operator_rules(secret_protection: bool) -> BTreeSet<(String, String, String, Vec<String>)> {
    let secrets: &[&str] = match secret_protection {
        true => &["get", "list", "watch", "patch"],
        false => &["get"],
    };
    BTreeSet::from([
        rule(
            "clerk-operator.io",
            "clerkdomains",
            "",
            &["list", "watch", "patch"],
        ),
        rule("clerk-operator.io", "clerkdomains/status", "", &["patch"]),
        rule("", "secrets", "", secrets),
        rule("events.k8s.io", "events", "", &["create", "patch"]),
        rule(
            "externaldns.k8s.io",
            "dnsendpoints",
            "",
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        rule(
            "",
            "configmaps",
            "",
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
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
fn cluster_rules(secret_protection: bool) -> BTreeSet<(String, String, String, Vec<String>)> {
    let mut rules = operator_rules(secret_protection);
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
