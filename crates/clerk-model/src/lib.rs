//! Wire types of Clerk's Backend API, as in its OpenAPI spec. Decoding is lenient: unknown fields
//! are ignored and optional or nullable fields may be missing, since SDKs and the spec disagree.
//! Shared by the operator's client (`clerk_operator::clerk`) and the fake Clerk (`fake-clerk`).

// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

mod key;
pub mod platform;

pub use key::{InstanceKind, SecretKey};
use serde::{Deserialize, Serialize};

/// A domain of a Clerk instance (`object: domain`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    #[serde(default = "domain_object")]
    pub object: String,
    pub id: String,
    pub name: String,
    pub is_satellite: bool,
    #[serde(default)]
    pub frontend_api_url: String,
    #[serde(default)]
    pub accounts_portal_url: Option<String>,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub development_origin: String,
    #[serde(default)]
    pub cname_targets: Option<Vec<CnameTarget>>,
    /// The typed record list (CNAME, TXT, ...) next to `cname_targets`; absent from older
    /// answers. Decoded leniently: an entry that does not decode is skipped, any other value
    /// than a list reads as absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_targets"
    )]
    pub dns_targets: Option<Vec<DnsTarget>>,
}

fn domain_object() -> String {
    "domain".into()
}

impl Domain {
    /// Apply the fields of `update` that Clerk reports back on the domain (`name`,
    /// `proxy_url`; an empty or `null` proxy URL clears it). Fields Clerk stores without
    /// reporting them (`is_secondary`) leave the domain as it is. The fake Clerk changes its
    /// domains with this, and the plan's tests check that a planned PATCH reaches the spec.
    pub fn apply(&mut self, update: &UpdateDomain) {
        let UpdateDomain {
            name,
            proxy_url,
            is_secondary: _,
        } = update;
        if let Some(n) = name {
            self.name.clone_from(n);
        }
        if let Some(p) = proxy_url {
            self.proxy_url = p.clone().filter(|p| !p.is_empty());
        }
    }
}

/// A CNAME record Clerk expects for a domain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CnameTarget {
    pub host: String,
    pub value: String,
    #[serde(default)]
    pub required: bool,
}

/// A DNS record Clerk expects for a domain (`dns_targets`): `host` should hold a record of
/// `record_type` with `value`. `record_type` and `automation_disposition` are kept as Clerk
/// spells them, including values this version does not know.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DnsTarget {
    pub host: String,
    pub value: String,
    #[serde(default)]
    pub required: bool,
    /// `CNAME`, `TXT`, ... (uppercase by convention; compare with [`DnsTarget::is_type`]).
    #[serde(default)]
    pub record_type: String,
    /// Whether Clerk or the user is expected to create the record, as Clerk says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation_disposition: Option<String>,
}

impl DnsTarget {
    /// Whether the record is of type `t` (compared case-insensitively).
    pub fn is_type(&self, t: &str) -> bool {
        self.record_type.eq_ignore_ascii_case(t)
    }
}

impl From<&CnameTarget> for DnsTarget {
    fn from(t: &CnameTarget) -> Self {
        Self {
            host: t.host.clone(),
            value: t.value.clone(),
            required: t.required,
            record_type: "CNAME".into(),
            automation_disposition: None,
        }
    }
}

impl Domain {
    /// Every record Clerk expects: `dns_targets` in Clerk's order, then each `cname_targets`
    /// entry whose host has no CNAME in `dns_targets` (all of them when Clerk sent no typed list).
    pub fn records(&self) -> Vec<DnsTarget> {
        let mut out: Vec<DnsTarget> = self.dns_targets.clone().unwrap_or_default();
        for c in self.cname_targets.iter().flatten() {
            let listed = out
                .iter()
                .any(|t| t.is_type("CNAME") && t.host.eq_ignore_ascii_case(&c.host));
            if !listed {
                out.push(c.into());
            }
        }
        out
    }
}

/// `dns_targets` as a list of the entries that decode; `None` for `null` or a non-list.
fn lenient_targets<'de, D>(de: D) -> Result<Option<Vec<DnsTarget>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(de)?;
    Ok(match value {
        Some(serde_json::Value::Array(items)) => Some(
            items
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
        ),
        _ => None,
    })
}

/// `GET /domains` response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DomainList {
    #[serde(default)]
    pub data: Vec<Domain>,
    #[serde(default)]
    pub total_count: i64,
}

/// `DELETE /domains/{id}` response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeletedObject {
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub deleted: bool,
}

/// `GET /instance` response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    #[serde(default)]
    pub object: String,
    pub id: String,
    #[serde(default)]
    pub environment_type: String,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    pub workspace_id: Option<String>,
}

/// `POST /domains` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateDomain {
    pub name: String,
    pub is_satellite: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

/// `PATCH /domains/{id}` body. A field left `None` is not sent; `proxy_url: Some(None)` sends
/// `null`, which switches the domain back to the DNS setup.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct UpdateDomain {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub proxy_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_secondary: Option<bool>,
}

impl UpdateDomain {
    /// The JSON names of every field a PATCH may send: what `PATCH /domains/{id}` accepts
    /// (the fake refuses any other field as Clerk does).
    pub const FIELDS: [&'static str; 3] = ["name", "proxy_url", "is_secondary"];

    /// True when the patch would change nothing (every field left out).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The fields this PATCH sends, as named in its JSON body.
    pub fn fields(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().map(|(k, _)| k).collect(),
            _ => vec![],
        }
    }
}

/// `POST /proxy_checks` body (operation `VerifyDomainProxy`): check that `proxy_url` forwards to
/// Clerk's Frontend API for the domain `domain_id`. Usable before the domain's proxy is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateProxyCheck {
    pub domain_id: String,
    pub proxy_url: String,
}

/// The result of one proxy check (`object: proxy_check`). Timestamps are Unix milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProxyCheck {
    #[serde(default = "proxy_check_object")]
    pub object: String,
    pub id: String,
    #[serde(default)]
    pub domain_id: String,
    /// Null when the check has never run.
    #[serde(default)]
    pub last_run_at: Option<i64>,
    #[serde(default)]
    pub proxy_url: String,
    /// Whether the proxy reached Clerk's Frontend API.
    #[serde(default)]
    pub successful: bool,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

fn proxy_check_object() -> String {
    "proxy_check".into()
}

/// Distinguish a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn double_option<'de, D>(de: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests;
