//! Wire types of Clerk's Platform API (private beta) for a domain's readiness:
//! `GET /platform/applications/{app}/domains/{id}/status` (`PlatformDomainStatusResponse`) and
//! `POST …/dns_check` (`PlatformDNSCheckResponse`). Status words are kept as Clerk spells them,
//! including ones this version does not know.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a check is not complete, in Clerk's words (`FailureHint`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FailureHint {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// One CNAME of the DNS check (`CNAMEStatus`), keyed by its Clerk subdomain (`clerk`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CnameStatus {
    /// What the record resolves to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Vec<String>>,
    #[serde(default)]
    pub clerk_subdomain: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub required: bool,
    /// Null when there is nothing to hint (always sent).
    #[serde(default)]
    pub failure_hints: Option<Vec<FailureHint>>,
}

/// The DNS part (`DNSStatus`): `not_started`, `in_progress` or `complete`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct DnsStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub cnames: BTreeMap<String, CnameStatus>,
}

/// The SSL part: `complete`, `in_process`, `not_started`, `failed` or `incomplete`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SslStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub failure_hints: Option<Vec<FailureHint>>,
}

/// The mail or proxy part: a status word and whether it is required.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PartStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub required: bool,
}

/// `PlatformDomainStatusResponse`: every part and the overall `complete` or `incomplete`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct DomainStatus {
    #[serde(default)]
    pub dns: DnsStatus,
    #[serde(default)]
    pub ssl: SslStatus,
    /// The certificate of each host (`SSLStatus`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ssl_hosts: BTreeMap<String, SslStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<PartStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<PartStatus>,
    #[serde(default)]
    pub status: String,
}

/// `PlatformDNSCheckResponse`: the status after starting a check, with the domain's ID and the
/// time of the last check (Unix milliseconds; null before the first).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DnsCheck {
    #[serde(flatten)]
    pub status: DomainStatus,
    #[serde(default)]
    pub domain_id: String,
    #[serde(default)]
    pub last_run_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_decodes_leniently_and_keeps_unknown_words() {
        let s: DomainStatus = serde_json::from_value(json!({
            "dns": {"status": "someday", "cnames": {"clerk": {
                "clerk_subdomain": "clerk", "from": "clerk.a.example.com",
                "to": "frontend-api.clerk.services", "verified": false, "required": true,
                "failure_hints": [{"code": "cname_missing", "message": "no record"}], "x": 1}}},
            "ssl": {"status": "in_process", "required": true, "failure_hints": null},
            "mail": {"status": "complete", "required": false},
            "status": "incomplete", "extra": true
        }))
        .unwrap();
        assert_eq!(s.dns.status, "someday");
        assert_eq!(
            s.dns.cnames["clerk"].failure_hints.as_ref().unwrap()[0].code,
            "cname_missing"
        );
        assert_eq!(s.ssl.status, "in_process");
        assert_eq!(s.proxy, None);
        let c: DnsCheck = serde_json::from_value(json!({
            "dns": {"status": "complete", "cnames": {}}, "ssl": {"status": "complete"},
            "status": "complete", "domain_id": "dmn_1", "last_run_at": null
        }))
        .unwrap();
        assert_eq!((c.domain_id.as_str(), c.last_run_at), ("dmn_1", None));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["last_run_at"], json!(null), "always sent");
        assert_eq!(v["ssl"]["failure_hints"], json!(null), "always sent");
    }
}
