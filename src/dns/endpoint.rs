//! external-dns's `DNSEndpoint` custom resource (`externaldns.k8s.io/v1alpha1`) and the one the
//! operator wants for a ClerkDomain.
//!
//! The CRD belongs to external-dns (installed with it, with `--source=crd`); the operator only
//! reads and writes objects of it, so it is not generated into `crds/`. The tests and `make demo`
//! install the one external-dns ships (`config/crd/standard/` of its Go module, copied next to
//! the binary by `hack/external-dns.sh`).

use super::{CnameLike, normalize_name};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Label put on every DNSEndpoint the operator writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "clerk-operator";

/// Records for external-dns to publish.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[kube(
    group = "externaldns.k8s.io",
    version = "v1alpha1",
    kind = "DNSEndpoint",
    plural = "dnsendpoints",
    namespaced,
    status = "DNSEndpointStatus",
    derive = "PartialEq"
)]
pub struct DNSEndpointSpec {
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One DNS record set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The hostname of the record, e.g. `clerk.a.example.com`.
    #[serde(default)]
    pub dns_name: String,
    /// The targets: for a CNAME, the one name it points to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// `CNAME`, `A`, `TXT`, ...
    #[serde(default)]
    pub record_type: String,
    /// Tells records of the same name apart (weighted or geo routing); unused by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// TTL in seconds; the provider's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "recordTTL")]
    pub record_ttl: Option<i64>,
    /// Labels external-dns keeps with the record (e.g. its owner TXT data).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Provider-specific settings, e.g. Cloudflare's `external-dns.alpha.kubernetes.io/cloudflare-proxied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_specific: Option<Vec<ProviderSpecificProperty>>,
}

/// A provider-specific setting of an [`Endpoint`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct ProviderSpecificProperty {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// What external-dns reports back.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DNSEndpointStatus {
    /// The generation external-dns last processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The ClerkDomain a DNSEndpoint belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
}

impl<'a> Owner<'a> {
    /// The owner fields of a stored ClerkDomain; `None` before it has a name, namespace and UID.
    pub fn of(domain: &'a crate::api::ClerkDomain) -> Option<Self> {
        Some(Self {
            name: domain.metadata.name.as_deref()?,
            namespace: domain.metadata.namespace.as_deref()?,
            uid: domain.metadata.uid.as_deref()?,
        })
    }

    /// The ownerReference the DNSEndpoint carries: the ClerkDomain is its controller, and
    /// foreground deletion of the ClerkDomain waits for it.
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: "clerk-operator.io/v1alpha1".into(),
            kind: "ClerkDomain".into(),
            name: self.name.into(),
            uid: self.uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// Whether `meta` (a DNSEndpoint's, a ConfigMap's) names the ClerkDomain `uid` as its
/// controlling owner: only then does the operator overwrite or delete the object.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// The DNSEndpoint the operator wants for a ClerkDomain: named and namespaced like it, owned by
/// it, labelled `app.kubernetes.io/managed-by: clerk-operator`, with one endpoint per host and
/// type of the *required* targets whose type is in `types` (`CNAME`, `TXT`), sorted by name and
/// type. A CNAME has one target (the first wins when two share a host); a TXT endpoint holds
/// every required text of its host, each quoted as external-dns writes TXT data. Names are
/// written without a trailing dot and in lowercase. `ttl` is `recordTTL` of every endpoint and
/// `provider_specific` (in its order) the `providerSpecific` of every endpoint (left out when
/// empty).
///
/// An empty `endpoints` list is a valid result (e.g. a development instance, or a proxied
/// domain with only optional targets): the caller decides whether to write or delete it.
pub fn desired_endpoint<T: CnameLike>(
    owner: &Owner<'_>,
    targets: &[T],
    types: &[&str],
    ttl: Option<i64>,
    provider_specific: &[crate::api::ProviderSpecific],
) -> DNSEndpoint {
    let provider_specific = (!provider_specific.is_empty()).then(|| {
        provider_specific
            .iter()
            .map(|p| ProviderSpecificProperty {
                name: p.name.clone(),
                value: p.value.clone(),
            })
            .collect::<Vec<_>>()
    });
    let mut by_host: BTreeMap<(String, &'static str), Vec<String>> = BTreeMap::new();
    for t in targets.iter().filter(|t| t.required()) {
        let host = normalize_name(t.host());
        let Some(kind) = published_type(t.record_type(), types) else {
            continue;
        };
        if host.is_empty() {
            continue;
        }
        let values = by_host.entry((host, kind)).or_default();
        match kind {
            "CNAME" if values.is_empty() => values.push(normalize_name(t.value())),
            "TXT" => {
                let v = quote_txt(t.value());
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            _ => {}
        }
    }
    let endpoints = by_host
        .into_iter()
        .map(|((host, kind), mut targets)| {
            targets.sort();
            Endpoint {
                dns_name: host,
                targets,
                record_type: kind.into(),
                record_ttl: ttl,
                provider_specific: provider_specific.clone(),
                ..Default::default()
            }
        })
        .collect();
    DNSEndpoint {
        metadata: ObjectMeta {
            name: Some(owner.name.into()),
            namespace: Some(owner.namespace.into()),
            labels: Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into()),
            owner_references: Some(vec![owner.owner_reference()]),
            ..Default::default()
        },
        spec: DNSEndpointSpec { endpoints },
        status: None,
    }
}

/// The record type `t` as the operator publishes it, when it is one of `types` (compared
/// case-insensitively) and one the operator knows (`CNAME`, `TXT`).
fn published_type(t: &str, types: &[&str]) -> Option<&'static str> {
    ["CNAME", "TXT"]
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(t) && types.iter().any(|w| w.eq_ignore_ascii_case(k)))
}

/// TXT data as external-dns passes it to providers: one quoted character-string, with `"` and
/// `\` escaped (unquoted, a `;` would start a comment in the RFC 2136 provider's record text).
pub fn quote_txt(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests;
