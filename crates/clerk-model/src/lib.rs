//! Wire types of Clerk's Backend API, as in its OpenAPI spec. Decoding is lenient: unknown fields
//! are ignored and optional or nullable fields may be missing, since SDKs and the spec disagree.
//! Shared by the operator's client (`clerk_operator::clerk`) and the fake Clerk (`fake-clerk`).

// No function over 60 lines (clippy.toml): a reconcile reads as named steps.
#![warn(clippy::too_many_lines)]

mod key;

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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn domain_tolerates_nulls_missing_and_extra_fields() {
        let d: Domain = serde_json::from_value(json!({
            "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
            "cname_targets": null, "accounts_portal_url": null,
            "dns_targets": [{"x": 1}], "frontend_api_url": "https://clerk.a.example.com"
        }))
        .unwrap();
        assert_eq!(d.cname_targets, None);
        assert_eq!(d.development_origin, "");
        assert_eq!(d.object, "domain");
    }

    #[test]
    fn apply_changes_what_clerk_reports() {
        let mut d: Domain = serde_json::from_value(json!({
            "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
            "proxy_url": "https://a.example.com/__clerk"
        }))
        .unwrap();
        d.apply(&UpdateDomain {
            name: Some("b.example.com".into()),
            is_secondary: Some(true),
            ..Default::default()
        });
        assert_eq!(
            (d.name.as_str(), d.proxy_url.as_deref()),
            ("b.example.com", Some("https://a.example.com/__clerk"))
        );
        d.apply(&UpdateDomain {
            proxy_url: Some(Some(String::new())),
            ..Default::default()
        });
        assert_eq!(d.proxy_url, None);
        d.apply(&UpdateDomain {
            proxy_url: Some(Some("https://b.example.com/__clerk".into())),
            ..Default::default()
        });
        assert_eq!(d.proxy_url.as_deref(), Some("https://b.example.com/__clerk"));
        d.apply(&UpdateDomain {
            proxy_url: Some(None),
            ..Default::default()
        });
        assert_eq!(d.proxy_url, None);
        assert!(UpdateDomain::default().is_empty());
        assert!(
            !UpdateDomain {
                is_secondary: Some(false),
                ..Default::default()
            }
            .is_empty()
        );
    }

    #[test]
    fn update_sends_null_proxy_only_when_asked() {
        let clear = UpdateDomain {
            proxy_url: Some(None),
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(&clear).unwrap(), json!({"proxy_url": null}));
        let rename = UpdateDomain {
            name: Some("b.example.com".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&rename).unwrap(),
            json!({"name": "b.example.com"})
        );
        let parsed: UpdateDomain = serde_json::from_value(json!({"proxy_url": null})).unwrap();
        assert_eq!(parsed.proxy_url, Some(None));
        let parsed: UpdateDomain = serde_json::from_value(json!({})).unwrap();
        assert_eq!(parsed.proxy_url, None);
    }

    #[test]
    fn fields_are_the_keys_of_the_body() {
        assert!(UpdateDomain::default().fields().is_empty());
        let clear = UpdateDomain {
            proxy_url: Some(None),
            is_secondary: Some(false),
            ..Default::default()
        };
        assert_eq!(clear.fields(), ["is_secondary", "proxy_url"]);
        let rename = UpdateDomain {
            name: Some("b.example.com".into()),
            ..Default::default()
        };
        assert_eq!(rename.fields(), ["name"]);
    }

    #[test]
    fn field_list_names_every_field() {
        // Every field, without `..Default::default()`: a new field fails to compile here.
        let all = UpdateDomain {
            name: Some("b.example.com".into()),
            proxy_url: Some(Some("https://b.example.com/__clerk".into())),
            is_secondary: Some(true),
        };
        let mut fields = all.fields();
        fields.sort();
        let mut want = UpdateDomain::FIELDS.to_vec();
        want.sort();
        assert_eq!(fields, want);
        let parsed: UpdateDomain = serde_json::from_value(serde_json::to_value(&all).unwrap()).unwrap();
        assert_eq!(parsed, all);
    }

    #[test]
    fn proxy_check_decodes_leniently() {
        let c: ProxyCheck = serde_json::from_value(json!({
            "object": "proxy_check", "id": "prxc_1", "domain_id": "dmn_1",
            "last_run_at": null, "proxy_url": "https://a.example.com/__clerk",
            "successful": true, "created_at": 1, "updated_at": 2, "extra": "x"
        }))
        .unwrap();
        assert!(c.successful);
        assert_eq!(c.last_run_at, None);
        let c: ProxyCheck = serde_json::from_value(json!({"id": "prxc_2"})).unwrap();
        assert_eq!(c.object, "proxy_check");
        assert!(!c.successful);
    }
}
