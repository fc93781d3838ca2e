//! Wire types of Clerk's Backend API, as in its OpenAPI spec. Decoding is lenient: unknown fields
//! are ignored and optional or nullable fields may be missing, since SDKs and the spec disagree.
//! Shared by the operator's client (`clerk_operator::clerk`) and the fake Clerk (`fake-clerk`).

mod key;

pub use key::{InstanceKind, SecretKey};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;

/// A domain of a Clerk instance (`object: domain`).
///
/// An instance's list holds thousands of these for as long as the operator reads it, so decoding
/// keeps them small: `object` is Clerk's constant `"domain"` without an allocation of its own,
/// and `cname_targets` holds exactly its records (a decoded `Vec` keeps room for four; a
/// satellite has one).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    #[serde(default = "domain_object", deserialize_with = "object_name")]
    pub object: Cow<'static, str>,
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
    #[serde(default, deserialize_with = "exact_vec")]
    pub cname_targets: Option<Vec<CnameTarget>>,
}

fn domain_object() -> Cow<'static, str> {
    Cow::Borrowed("domain")
}

/// An `object` name: Clerk's `"domain"` borrowed from the program, any other name owned.
fn object_name<'de, D: Deserializer<'de>>(de: D) -> Result<Cow<'static, str>, D::Error> {
    struct Name;
    impl serde::de::Visitor<'_> for Name {
        type Value = Cow<'static, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object name")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(match v {
                "domain" => Cow::Borrowed("domain"),
                other => Cow::Owned(other.to_owned()),
            })
        }
    }
    de.deserialize_str(Name)
}

/// An optional list with no room to spare (nothing is added to a decoded list).
fn exact_vec<'de, D, T>(de: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut list = Option::<Vec<T>>::deserialize(de)?;
    if let Some(l) = &mut list {
        l.shrink_to_fit();
    }
    Ok(list)
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

    /// True when the patch would change nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.proxy_url.is_none() && self.is_secondary.is_none()
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
    fn a_decoded_domain_holds_no_spare_room() {
        // As a body is read (`from_value` would know the list's length beforehand).
        let body = json!({
            "object": "domain", "id": "dmn_1", "name": "a.example.com", "is_satellite": true,
            "cname_targets": [{"host": "clerk.a.example.com", "value": "frontend-api.clerk.services", "required": true}]
        })
        .to_string();
        let d: Domain = serde_json::from_reader(body.as_bytes()).unwrap();
        let targets = d.cname_targets.as_ref().unwrap();
        assert_eq!((targets.len(), targets.capacity()), (1, 1));
        assert!(matches!(d.object, Cow::Borrowed("domain")), "{:?}", d.object);
        let other: Domain = serde_json::from_value(json!({
            "object": "other", "id": "dmn_2", "name": "b.example.com", "is_satellite": false
        }))
        .unwrap();
        assert_eq!(other.object, "other");
        assert_eq!(serde_json::to_value(&d).unwrap()["object"], "domain");
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
