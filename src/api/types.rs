use super::InstanceRef;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Desired state of a Clerk domain.
///
/// The operator registers `domain` with the Clerk instance that the secret key belongs to (a
/// satellite domain by default), keeps it matching this spec, publishes the DNS records Clerk
/// expects in `status.cnameTargets`, and deletes the satellite from Clerk when the object is
/// deleted (unless `deletionPolicy` is `Orphan`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clerk-operator.io",
    version = "v1alpha1",
    kind = "ClerkDomain",
    plural = "clerkdomains",
    shortname = "cdom",
    category = "clerk",
    namespaced,
    status = "ClerkDomainStatus",
    derive = "PartialEq",
    doc = "A domain of a Clerk instance, managed declaratively by clerk-operator.",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Satellite","type":"boolean","jsonPath":".spec.isSatellite"}"#,
    printcolumn = r#"{"name":"Domain-ID","type":"string","jsonPath":".status.domainId"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"DNS","type":"string","jsonPath":".status.conditions[?(@.type==\"DNSVerified\")].status"}"#,
    printcolumn = r#"{"name":"Frontend-API","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"FrontendAPIReachable\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Synced\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new(
        "!has(oldSelf.secretRef) || has(self.instanceRef) || (has(self.secretRef) && self.secretRef == oldSelf.secretRef)"
    ).message("secretRef is immutable once set (it may only be replaced by an instanceRef); create a new ClerkDomain to use other credentials"),
    validation = Rule::new("!(has(self.secretRef) && has(self.instanceRef))").message(
        "set at most one of secretRef and instanceRef: instanceRef names a ClerkInstance or ClusterClerkInstance, secretRef a Secret of this namespace"
    ),
    validation = Rule::new("oldSelf.isSatellite || self.domain == oldSelf.domain").message(
        "domain of a primary (isSatellite: false) cannot be changed: Clerk warns that renaming the primary domain means downtime; rename it in the Clerk Dashboard, then re-create this object with the new name (primary domains are never deleted)"
    ),
)]
#[serde(rename_all = "camelCase")]
pub struct ClerkDomainSpec {
    /// The domain name as Clerk knows it (Clerk's `name`), e.g. `marketing.example.com`.
    /// A lowercase hostname without scheme, path or wildcard; development instances may add a
    /// `:port` (e.g. `localhost:3000`). Changing it renames the domain in Clerk.
    #[schemars(length(min = 1, max = 259))]
    #[x_kube(
        validation = Rule::new("!self.contains('://')").message("domain must not contain a scheme: write example.com, not https://example.com"),
        validation = Rule::new("!self.contains('/')").message("domain must not contain a path"),
        validation = Rule::new("!self.contains('?')").message("domain must not contain a query (?)"),
        validation = Rule::new("!self.contains('#')").message("domain must not contain a fragment (#)"),
        validation = Rule::new("!self.contains('@')").message("domain must not contain user info (@)"),
        validation = Rule::new("!self.contains('*')").message("domain must not be a wildcard"),
        validation = Rule::new("!self.matches('\\\\s')").message("domain must not contain whitespace"),
        validation = Rule::new("self == self.lowerAscii()").message("domain must be lowercase"),
        validation = Rule::new("!self.contains('_')").message("domain must not contain underscores"),
        validation = Rule::new("!self.contains('[') && !self.contains(']')").message("domain must be a hostname, not an IP address literal in brackets"),
        validation = Rule::new("!self.startsWith('.')").message("domain must not start with a dot"),
        validation = Rule::new("!self.split(':')[0].endsWith('.')").message("domain must not end with a dot: write example.com, not example.com."),
        validation = Rule::new("!self.contains('..')").message("domain must not contain empty labels (..)"),
        validation = Rule::new("self.split(':')[0].split('.').all(l, !l.startsWith('-') && !l.endsWith('-'))").message("labels of domain must not start or end with a hyphen"),
        validation = Rule::new("size(self.split(':')[0]) <= 253").message("domain must be at most 253 characters (without the port)"),
        validation = Rule::new("self.split(':')[0].split('.').all(l, size(l) <= 63)").message("each label of domain must be at most 63 characters"),
        validation = Rule::new("!self.contains(':') || (self.split(':').size() == 2 && self.split(':')[1].matches('^[1-9][0-9]{0,4}$') && int(self.split(':')[1]) <= 65535)").message("port in domain must be a number from 1 to 65535, as in localhost:3000"),
        validation = Rule::new("self.matches('^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$')").message("domain must be a hostname of lowercase letters, digits, hyphens and dots (punycode xn--... for international names) such as app.example.com, optionally followed by :port"),
    )]
    pub domain: String,

    /// Whether this is a satellite domain (the default). Set `false` to manage the instance's
    /// primary domain, which the operator updates but never creates or deletes. Immutable.
    #[serde(default = "default_true")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("isSatellite is immutable"))]
    pub is_satellite: bool,

    /// HTTPS URL of a proxy that forwards to Clerk's Frontend API for this domain (production
    /// instances only), e.g. `https://app.example.com/__clerk`. Leave it out to use the DNS
    /// (CNAME) setup; removing it switches Clerk back to DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(
        validation = Rule::new("self.startsWith('https://')").message("proxyUrl must be an https:// URL"),
        validation = Rule::new("isURL(self)").message("proxyUrl must be a valid URL"),
        validation = Rule::new("!isURL(self) || url(self).getHost() != ''").message("proxyUrl must include a host, e.g. https://app.example.com/__clerk"),
    )]
    pub proxy_url: Option<String>,

    /// Marks the domain as one for a secondary app on the same root domain (eTLD+1), so the
    /// subdomain is significant. Left unset, the operator does not manage it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_secondary: Option<bool>,

    /// Secret in this object's namespace holding the Clerk secret key (`sk_live_...` or
    /// `sk_test_...`). Left unset (and no `instanceRef`), the operator's default instance or key
    /// is used. Immutable once set, except that it may be replaced by an `instanceRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,

    /// The instance object whose key this domain uses: `{kind: ClerkInstance, name}` (same
    /// namespace) or `{kind: ClusterClerkInstance, name}` (if its `namespaceSelector` selects
    /// this namespace). Takes precedence over everything else; at most one of `instanceRef` and
    /// `secretRef` may be set. Unset (and no `secretRef`): the operator's default instance
    /// (`--default-instance`), else its default key. The domain stays pinned to the Clerk
    /// instance it was first registered on (`status.instanceId`), whatever the reference says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ref: Option<InstanceRef>,

    /// DNS automation: publish Clerk's CNAME records (and, when asked, its TXT records) through
    /// external-dns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSpec>,

    /// What happens to the Clerk domain when this object is deleted: `Delete` (the default)
    /// removes a satellite domain from Clerk, `Orphan` leaves it. Primary domains are never
    /// deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Export the settings an application needs (publishable key, domain, satellite flag,
    /// proxy URL, Frontend API URL, the primary's sign-in and sign-up URLs) to a ConfigMap in
    /// this namespace, for `envFrom`. The operator creates and owns the ConfigMap, refreshes it
    /// after every sync and never touches a ConfigMap of that name it does not own. The secret
    /// key is never exported. Removing this field deletes the ConfigMap the operator owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportSpec>,
}

impl ClerkDomainSpec {
    /// The spec of a satellite `domain` with every other field at its default.
    pub fn for_domain(domain: &str) -> Self {
        ClerkDomainSpec {
            domain: domain.to_string(),
            is_satellite: true,
            proxy_url: None,
            is_secondary: None,
            secret_ref: None,
            instance_ref: None,
            dns: None,
            deletion_policy: DeletionPolicy::Delete,
            export: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Where to export the domain's Clerk settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportSpec {
    /// Name of the ConfigMap (in this object's namespace) that the operator creates and owns.
    /// A ConfigMap of this name owned by anything else is left alone (condition
    /// `Exported=False`, reason `ConfigMapNotOwned`).
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("export.configMapName must be a valid ConfigMap name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub config_map_name: String,
    /// Put before every key, as the framework reads them: `NEXT_PUBLIC_` for Next.js
    /// (`NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY`, ...), `VITE_` for Vite; empty (the default) for
    /// Remix, Express and the backend SDKs (`CLERK_PUBLISHABLE_KEY`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^([A-Z_][A-Z0-9_]*)?$')").message("export.keyPrefix may contain only uppercase letters, digits and '_', and must not start with a digit, e.g. NEXT_PUBLIC_"))]
    pub key_prefix: Option<String>,
}

/// DNS automation for the domain's CNAME records.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsSpec {
    /// Publish the required CNAME records as an external-dns `DNSEndpoint` (named after this
    /// object, owned by it). external-dns must run with `--source=crd` (and, to update and
    /// delete the records, `--policy=sync`).
    #[serde(default, rename = "externalDNS", skip_serializing_if = "Option::is_none")]
    pub external_dns: Option<ExternalDnsSpec>,
    /// Also publish and verify Clerk's required TXT records (such as DMARC at
    /// `_dmarc.<domain>`), not only its CNAMEs. external-dns publishes TXT records only when
    /// started with `--managed-record-types` given once for each of A, AAAA, CNAME and TXT; it
    /// never overwrites a TXT record of that name made by hand, which `DNSVerified` then reports.
    #[serde(default, rename = "publishTXT", skip_serializing_if = "std::ops::Not::not")]
    pub publish_txt: bool,
}

impl DnsSpec {
    /// The record types the operator publishes and verifies for this spec: `CNAME`, and `TXT`
    /// when `publishTXT` is set.
    pub fn record_types(dns: Option<&Self>) -> &'static [&'static str] {
        if dns.is_some_and(|d| d.publish_txt) {
            &["CNAME", "TXT"]
        } else {
            &["CNAME"]
        }
    }
}

/// How to publish through external-dns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDnsSpec {
    /// Whether to own a `DNSEndpoint` with the required CNAME records.
    #[serde(default)]
    pub enabled: bool,
    /// TTL of the records, in seconds (external-dns's default when unset).
    #[serde(default, rename = "recordTTL", skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 604800").message("recordTTL must be between 1 and 604800 seconds"))]
    pub record_ttl: Option<i64>,
    /// Provider-specific properties put on every record: the per-record `providerSpecific`
    /// field of the DNSEndpoint, which is the only place external-dns reads them for a
    /// DNSEndpoint (annotations on it are not turned into properties). Clerk's DNS check fails
    /// on a proxied CNAME, so with Cloudflare, whose provider proxies every record when
    /// external-dns runs with `--cloudflare-proxied`, set `{name: cloudflare/proxied, value:
    /// "false"}` (external-dns v0.23 and later; older releases, and v0.23 with a deprecation
    /// warning, read `external-dns.alpha.kubernetes.io/cloudflare-proxied`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub provider_specific: Vec<ProviderSpecific>,
}

/// One external-dns provider-specific property of a record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
pub struct ProviderSpecific {
    /// The property's name as external-dns's provider reads it, e.g. `cloudflare/proxied` or
    /// `aws/evaluate-target-health`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The property's value, e.g. `"false"`.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub value: String,
}

/// A key of a Secret in the ClerkDomain's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("secretRef.name must be a valid Secret name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub name: String,
    /// Key within the Secret whose value is the Clerk secret key.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("secretRef.key must be a valid Secret key: letters, digits, '-', '_' and '.'"),
        validation = Rule::new("self != '.' && !self.startsWith('..')").message("secretRef.key must not be '.' or start with '..'"),
    )]
    pub key: String,
}

/// What to do with the Clerk domain when the ClerkDomain is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the satellite domain from Clerk.
    #[default]
    Delete,
    /// Leave the domain in Clerk.
    Orphan,
}

/// Observed state of the Clerk domain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClerkDomainStatus {
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Clerk's ID of the domain (`dmn_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,

    /// The domain name Clerk last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,

    /// DNS records to create for the domain: a CNAME from `host` to `value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cname_targets: Vec<CnameTarget>,

    /// Every DNS record Clerk expects for the domain, of any type (CNAME, TXT such as DMARC,
    /// ...), from Clerk's typed record list (or its CNAME list when Clerk sends no typed one).
    /// `required` records must exist before Clerk counts the domain as deployed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_records: Vec<DnsRecord>,

    /// URL of Clerk's Frontend API for this domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend_api_url: Option<String>,

    /// URL of the Account Portal (primary domains only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_portal_url: Option<String>,

    /// Development origin Clerk reports for the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development_origin: Option<String>,

    /// Proxy URL Clerk reports for the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,

    /// The `isSecondary` value last sent to Clerk (Clerk does not report it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_is_secondary: Option<bool>,

    /// ID of the Clerk instance the domain belongs to (from `GET /instance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,

    /// The last value of annotation `clerk-operator.io/reconcile-requested-at` that was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,

    /// A name the operator asked Clerk to create but has not yet seen answered. Should the
    /// answer be lost (a crash, a dropped connection) and the spec change meanwhile, the domain
    /// is still found by this name and adopted, so nothing leaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_domain: Option<String>,

    /// When Clerk last checked `spec.proxyUrl` (`POST /proxy_checks`), RFC 3339. A failing
    /// check is repeated at most every 5 minutes after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_proxy_check_time: Option<String>,

    /// The ConfigMap the operator last exported the settings to (`spec.export`), so that it
    /// can be deleted when the export is removed or renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_config_map: Option<String>,

    /// True when the operator took over a domain that already existed in Clerk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<bool>,

    /// `Ready`: the domain exists on the pinned Clerk instance and matches the spec of the
    /// current generation. `Synced`: the result of the last attempt, with Clerk's words when it
    /// failed. `Reconciling`: a transient failure is being retried. `Stalled`: retrying cannot
    /// help until the spec, the key or Clerk changes. `DNSPublished`, `DNSVerified` and
    /// `ProxyVerified` report DNS automation, `FrontendAPIReachable` the Frontend API's health
    /// over the domain's own host (`--frontend-api-check`; Clerk's side or yours in its reason),
    /// `Exported` the ConfigMap of `spec.export`. Only `Ready`, `Reconciling` and `Stalled` make
    /// the object's health; the others inform.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::lenient_conditions"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// A DNS record Clerk expects for the domain, of any type.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    /// Record name, e.g. `clerk.marketing.example.com` or `_dmarc.marketing.example.com`.
    pub host: String,
    /// Record type as Clerk names it: `CNAME`, `TXT`, or a type this operator does not know
    /// (shown, never published or verified).
    pub record_type: String,
    /// Record data: the CNAME target, or the TXT text (e.g. `v=DMARC1; p=none`).
    pub value: String,
    /// Whether Clerk needs this record before the domain counts as deployed.
    pub required: bool,
    /// Who Clerk expects to create the record, as Clerk says it (absent when Clerk does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation_disposition: Option<String>,
    /// What DNS verification (`--dns-verify`) last found wrong with this required record, e.g.
    /// `no CNAME record`; absent when it verified or was not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A CNAME record Clerk expects for the domain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct CnameTarget {
    /// Record name, e.g. `clerk.marketing.example.com`.
    pub host: String,
    /// Record target, e.g. `frontend-api.clerk.services`.
    pub value: String,
    /// Whether Clerk needs this record before the domain counts as deployed.
    pub required: bool,
}
