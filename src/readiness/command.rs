//! The flags of `clerk-operator status` and what it does with a cluster client.

use super::{DomainReport, all_passed, report, table, zone_fragment};
use crate::api::ClerkDomain;
use anyhow::Context as _;
use kube::Api;
use kube::api::ListParams;
use std::path::PathBuf;

/// Flags of `status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// ClerkDomains to show; every one of the namespace when omitted.
    pub names: Vec<String>,
    /// The namespace; default: the kubeconfig context's.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// `table` for people, `json` for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
    /// Print the required records as a BIND zone-file fragment instead.
    #[arg(long, conflicts_with = "output")]
    pub zone: bool,
    /// Path to a kubeconfig; default: $KUBECONFIG, ~/.kube/config, or the in-cluster identity.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// Output format of `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Read the ClerkDomains, print them as asked and tell whether every one passed.
pub async fn run(client: kube::Client, args: &StatusArgs) -> anyhow::Result<bool> {
    let domains = read(client, args).await?;
    let reports: Vec<DomainReport> = domains.iter().map(report).collect();
    if args.zone {
        print!("{}", zone_fragment(&domains));
    } else if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else if reports.is_empty() {
        println!("No ClerkDomains found.");
    } else {
        print!("{}", table(&reports));
    }
    Ok(all_passed(&reports))
}

/// The ClerkDomains named (each must exist), or all of the namespace (or cluster), by
/// namespace and name.
async fn read(client: kube::Client, args: &StatusArgs) -> anyhow::Result<Vec<ClerkDomain>> {
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<ClerkDomain> = if args.all_namespaces {
        Api::all(client)
    } else {
        Api::namespaced(client, &namespace)
    };
    let mut domains = if args.names.is_empty() {
        api.list(&ListParams::default())
            .await
            .context("listing ClerkDomains")?
            .items
    } else {
        let mut found = vec![];
        for name in &args.names {
            let obj = api
                .get_opt(name)
                .await
                .with_context(|| format!("reading ClerkDomain {name}"))?
                .with_context(|| format!("ClerkDomain {name} not found in namespace {namespace}"))?;
            found.push(obj);
        }
        found
    };
    domains.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    Ok(domains)
}
