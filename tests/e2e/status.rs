//! `clerk-operator status` and `kubectl clerk status` against the real apiserver: the rows, the
//! missing records, `-o json`, `--zone` (fed to BIND as it is) and the exit codes.

use anyhow::{Context as _, ensure};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use test_kit::real_dns::*;
use test_kit::*;

const BIN: &str = env!("CARGO_BIN_EXE_clerk-operator");

fn status(env: &TestEnv, args: &[&str]) -> anyhow::Result<Output> {
    let out = Command::new(BIN)
        .arg("status")
        .arg(format!("--kubeconfig={}", env.cp.kubeconfig.display()))
        .args(["-n", &env.ns])
        .args(args)
        .output()
        .context("running clerk-operator status")?;
    Ok(out)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Wait until `status` exits with `code`, asking for a resync now and then (the operator
/// re-verifies DNS on its own only after 15 s, 30 s, ...).
async fn wait_exit(env: &TestEnv, code: i32) -> anyhow::Result<Output> {
    let start = std::time::Instant::now();
    let mut n = 0;
    loop {
        let out = status(env, &[])?;
        if out.status.code() == Some(code) {
            return Ok(out);
        }
        ensure!(
            start.elapsed() < Duration::from_secs(90),
            "status never exited {code}:\n{}",
            text(&out)
        );
        n += 1;
        let patch = kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {
            "clerk-operator.io/reconcile-requested-at": format!("status-{n}")}}}));
        env.domains()
            .patch("shop", &kube::api::PatchParams::default(), &patch)
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A satellite with a DMARC TXT whose records are missing: exit 1, the DNS row fails and both
/// records are listed as required with their problems; `--zone` is a fragment BIND takes as it
/// is, and once the records are in BIND the command exits 0. As the kubectl plugin
/// `kubectl-clerk` it answers to `kubectl clerk status`. A name that does not exist exits 2.
pub async fn status_command_reports_readiness(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let bind = Bind::start(&["example.com"])?;
    let opts = EnvOptions {
        dns_resolver: Some(bind.addr()),
        ..Default::default()
    };
    let env = TestEnv::start(cp.clone(), "statuscmd", opts).await?;
    ensure!(env.fake.set_dmarc(LIVE_KEY, true));
    let out = status(&env, &[])?;
    ensure!(
        out.status.code() == Some(0) && text(&out).contains("No ClerkDomains found."),
        "{}",
        text(&out)
    );
    env.create(
        "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: shop\nspec:\n  domain: shop.example.com\n  dns:\n    publishTXT: true\n",
    )
    .await?;
    env.wait_ready("shop").await?;
    let out = wait_exit(&env, 1).await?;
    let table = text(&out);
    for want in [
        &format!("{}/shop  shop.example.com  NOT READY\n", env.ns),
        "  Registered    ok       Registered: ",
        "  DNS           FAILED   RecordsMissing: ",
        "  SSL           -        not checked\n",
        "  Proxy         -        not checked\n",
        "    CNAME clerk.shop.example.com \"frontend-api.clerk.services\" (required): no CNAME record\n",
        "    TXT _dmarc.shop.example.com \"v=DMARC1; p=none\" (required): no TXT record\n",
    ] {
        ensure!(table.contains(want), "no {want:?} in:\n{table}");
    }

    failing_json(&env)?;

    // The zone fragment, sent to BIND line by line as it is.
    zone_fragment_fixes_it(&env, &bind).await?;

    // As the kubectl plugin.
    kubectl_plugin(&cp, &env)?;

    let out = status(&env, &["nope"])?;
    ensure!(
        out.status.code() == Some(2) && text(&out).contains("ClerkDomain nope not found"),
        "{}",
        text(&out)
    );
    Ok(())
}

/// `-o json` of the failing satellite: not passed, the DNS check failed, two required records
/// missing.
fn failing_json(env: &TestEnv) -> anyhow::Result<()> {
    let out = status(env, &["-o", "json"])?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(json[0]["passed"] == false && json[0]["name"] == "shop", "{json}");
    ensure!(json[0]["checks"][1]["state"] == "fail", "{json}");
    let missing = json[0]["missingRecords"].as_array().context("missingRecords")?;
    ensure!(
        missing.len() == 2 && missing.iter().all(|m| m["required"] == true),
        "{json}"
    );
    Ok(())
}

/// The `--zone` fragment, sent to BIND line by line as it is: then the command exits 0.
async fn zone_fragment_fixes_it(env: &TestEnv, bind: &Bind) -> anyhow::Result<()> {
    let out = status(env, &["--zone"])?;
    let zone = String::from_utf8(out.stdout)?;
    let updates: Vec<String> = zone
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| format!("update add {l}"))
        .collect();
    ensure!(updates.len() == 2, "{zone}");
    bind.nsupdate(
        "example.com",
        &updates.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    ensure!(bind.cname("clerk.shop.example.com")?.as_deref() == Some("frontend-api.clerk.services"));
    let out = wait_exit(env, 0).await?;
    let table = text(&out);
    ensure!(
        table.contains("shop.example.com  ready\n")
            && table.contains("  DNS           ok       Verified: all 2 required CNAME and TXT records")
            && !table.contains("Records still missing"),
        "{table}"
    );
    Ok(())
}

/// As the kubectl plugin `kubectl-clerk`: `kubectl clerk status` answers, with its usage on a
/// bad flag.
fn kubectl_plugin(cp: &ControlPlane, env: &TestEnv) -> anyhow::Result<()> {
    let plugins = tempfile::tempdir()?;
    std::os::unix::fs::symlink(BIN, plugins.path().join("kubectl-clerk"))?;
    let path = format!(
        "{}:{}",
        plugins.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(cp.bin_dir.join("kubectl"))
        .args(["clerk", "status", "-n", &env.ns, "-o", "json"])
        .env("PATH", &path)
        .env("KUBECONFIG", &cp.kubeconfig)
        .output()?;
    ensure!(out.status.code() == Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(json[0]["passed"] == true, "{json}");
    let out = Command::new(cp.bin_dir.join("kubectl"))
        .args(["clerk", "status", "--no-such-flag"])
        .env("PATH", &path)
        .output()?;
    ensure!(
        text(&out).contains("Usage: kubectl clerk status"),
        "{}",
        text(&out)
    );
    Ok(())
}
