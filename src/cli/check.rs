//! `clerk-operator check`: what the chart's `helm test` runs, with the operator's own image. It
//! asks the operator's readiness URL and whether each named CRD is established, and says what
//! failed.

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use std::time::Duration;

/// Flags of `check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// URL that must answer 200, e.g. the operator Service's
    /// `https://clerk-operator-metrics.NS.svc:8080/readyz`.
    #[arg(long)]
    pub url: Option<url::Url>,
    /// Accept any TLS certificate of --url (the operator's self-signed serving certificate).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// A CustomResourceDefinition that must exist with condition Established=True (repeat it).
    #[arg(long = "crd")]
    pub crds: Vec<String>,
    /// Path to a kubeconfig for --crd; default: $KUBECONFIG, ~/.kube/config, or the in-cluster
    /// identity.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// How long each request may take.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Run the checks; every failure is listed in the error.
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    let mut failed = vec![];
    if let Some(url) = &args.url {
        match ready(url, args.insecure_skip_tls_verify, args.timeout).await {
            Ok(body) => println!("ok: {url} answers 200: {}", body.trim()),
            Err(e) => failed.push(format!("{url}: {e:#}")),
        }
    }
    if !args.crds.is_empty() {
        let client = super::connect::client(args.kubeconfig.as_deref()).await?;
        for name in &args.crds {
            match established(&client, name).await {
                Ok(()) => println!("ok: CRD {name} is established"),
                Err(e) => failed.push(format!("CRD {name}: {e:#}")),
            }
        }
    }
    if !failed.is_empty() {
        bail!("check failed:\n- {}", failed.join("\n- "));
    }
    Ok(())
}

/// GET `url`; its body when it answers 200.
async fn ready(url: &url::Url, insecure: bool, timeout: Duration) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(insecure)
        .timeout(timeout)
        .build()?;
    let resp = client.get(url.clone()).send().await.context("no answer")?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status != reqwest::StatusCode::OK {
        bail!("answered {status}: {}", body.trim());
    }
    Ok(body)
}

/// Whether CRD `name` exists and is Established.
async fn established(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let crd = api.get_opt(name).await?.context("not found")?;
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    match conditions.iter().find(|c| c.type_ == "Established") {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => bail!(
            "not established: {} {}",
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default()
        ),
        None => bail!("not established yet"),
    }
}
