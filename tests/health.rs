//! The Rust side of the GitOps health tools (`test_kit::health`, used by e2e scenarios):
//! on every object in the Argo CD check's testdata, `verdicts` must give what kstatus_test.yaml
//! and health_test.yaml expect. Needs the Go helpers: `make health-check` runs it with
//! CLERK_OPERATOR_HEALTH_BIN_DIR set; without it, hack/health.sh builds them.
#![warn(clippy::too_many_lines)]

use serde::Deserialize;
use test_kit::health::{self, ARGOCD_DIR, Verdict, repo_root, verdicts};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    input_path: String,
    health_status: Option<Verdict>,
    kstatus: Option<Verdict>,
}

#[derive(Deserialize)]
struct Table {
    tests: Vec<Entry>,
}

fn table(file: &str) -> Vec<Entry> {
    let path = repo_root().join(ARGOCD_DIR).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str::<Table>(&text).unwrap().tests
}

fn object(input_path: &str) -> serde_json::Value {
    let path = repo_root().join(ARGOCD_DIR).join(input_path);
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn verdicts_match_the_tables() {
    let kstatus = table("kstatus_test.yaml");
    let argo = table("health_test.yaml");
    assert!(
        kstatus.len() >= 10,
        "kstatus_test.yaml has {} entries",
        kstatus.len()
    );
    let mut mismatches = Vec::new();
    for k in &kstatus {
        let obj = object(&k.input_path);
        let (got_k, got_a) = verdicts(&obj).unwrap();
        if Some(&got_k) != k.kstatus.as_ref() {
            mismatches.push(format!(
                "{}: kstatus {got_k:?}, table {:?}",
                k.input_path, k.kstatus
            ));
        }
        let a = argo
            .iter()
            .find(|a| a.input_path == k.input_path)
            .unwrap_or_else(|| panic!("{} is not in health_test.yaml", k.input_path));
        // health_test.yaml runs the script itself, as Argo CD's own test does; the application
        // controller answers for an object being deleted before any script runs.
        let want = if obj["metadata"].get("deletionTimestamp").is_some() {
            Some(Verdict::new("Progressing", "Pending deletion"))
        } else {
            a.health_status.clone()
        };
        if Some(&got_a) != want.as_ref() {
            mismatches.push(format!("{}: Argo CD {got_a:?}, expected {want:?}", k.input_path));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_broken_object_is_an_error_not_a_verdict() {
    let no_kind = serde_json::json!({"metadata": {"name": "x"}});
    assert!(health::kstatus(&no_kind).is_err());
}
