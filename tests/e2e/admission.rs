//! Admission: the CRD's OpenAPI schema and CEL rules (`x-kubernetes-validations`) against the
//! real apiserver, through the real `kubectl apply`. A table of bad manifests, each with the
//! message the user should see; good manifests that must pass; and update transitions that the
//! immutability rules reject or allow.

use crate::basic::ns_yaml;
use anyhow::bail;
use futures::StreamExt as _;
use std::sync::Arc;
use test_kit::*;

/// What `kubectl apply` of one step must do.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Accept,
    /// Rejected, with this substring in kubectl's error output.
    Reject(&'static str),
}
use Expect::*;

mod cases;
mod transitions;
use cases::*;
use transitions::*;

/// One object: `kubectl apply` of each spec in turn (the first creates it, later ones update it).
struct Case {
    what: String,
    steps: Vec<(String, Expect)>,
}

/// `kubectl apply` of `spec` as ClerkDomain `name`; `Ok(())` or kubectl's error output.
fn apply(cp: &ControlPlane, ns: &str, name: &str, spec: &str) -> Result<(), String> {
    let out = cp.kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &ns_yaml(name, spec));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// Run one case's steps in order; a description of each step that did not do as expected.
fn run_case(cp: &ControlPlane, ns: &str, name: &str, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, (spec, expect)) in case.steps.iter().enumerate() {
        let got = apply(cp, ns, name, spec);
        let step = format!("{name} ({}), step {}:\n{}", case.what, i + 1, indent(spec));
        match (expect, got) {
            (Accept, Ok(())) => {}
            (Accept, Err(e)) => failures.push(format!("{step}  was rejected: {}", e.trim())),
            (Reject(want), Ok(())) => {
                failures.push(format!("{step}  was accepted; want rejection with {want:?}"))
            }
            (Reject(want), Err(e)) if e.contains(want) => {}
            (Reject(want), Err(e)) => {
                failures.push(format!("{step}  was rejected without {want:?}: {}", e.trim()))
            }
        }
        // A setup step that failed makes the rest meaningless.
        if !failures.is_empty() && i + 1 < case.steps.len() {
            break;
        }
    }
    failures
}

fn indent(spec: &str) -> String {
    let short = |l: &str| {
        if l.len() > 100 {
            let head: String = l.chars().take(100).collect();
            format!("{head}... ({} chars)", l.len())
        } else {
            l.to_string()
        }
    };
    spec.lines().map(|l| format!("    {}\n", short(l))).collect()
}

pub async fn admission_table(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = TestEnv::start(cp, "admission-table", Default::default()).await?;

    let bad = bad_cases();
    let good = good_cases();
    let trans = transitions();
    anyhow::ensure!(bad.len() >= 45, "only {} bad cases", bad.len());
    anyhow::ensure!(good.len() >= 8, "only {} good cases", good.len());

    let mut cases: Vec<(String, Case)> = Vec::new();
    for (i, (spec, want)) in bad.iter().enumerate() {
        let case = Case {
            what: "bad".into(),
            steps: vec![(spec.clone(), Reject(want))],
        };
        cases.push((format!("bad-{i:02}"), case));
    }
    for (i, spec) in good.iter().enumerate() {
        let case = Case {
            what: "good".into(),
            steps: vec![(spec.clone(), Accept)],
        };
        cases.push((format!("good-{i:02}"), case));
    }
    for (i, (what, before, after, expect)) in trans.iter().enumerate() {
        let case = Case {
            what: format!("update: {what}"),
            steps: vec![(before.clone(), Accept), (after.clone(), *expect)],
        };
        cases.push((format!("update-{i:02}"), case));
    }

    // A few kubectl processes at a time: the machine is small and shared.
    let ns = env.ns.clone();
    let results: Vec<Vec<String>> = futures::stream::iter(cases.into_iter().map(|(name, case)| {
        let cp = env.cp.clone();
        let ns = ns.clone();
        tokio::task::spawn_blocking(move || run_case(&cp, &ns, &name, &case))
    }))
    .buffer_unordered(3)
    .map(|r| r.expect("case runner panicked"))
    .collect()
    .await;
    let mut failures: Vec<String> = results.into_iter().flatten().collect();
    failures.sort();
    if !failures.is_empty() {
        bail!(
            "{} of {} bad, {} good and {} update cases did not do as expected:\n\n{}",
            failures.len(),
            bad.len(),
            good.len(),
            trans.len(),
            failures.join("\n")
        );
    }
    eprintln!(
        "admission_table: {} bad rejected with the expected message, {} good accepted, {} updates as expected",
        bad.len(),
        good.len(),
        trans.len()
    );
    Ok(())
}
