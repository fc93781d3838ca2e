//! `ClerkInstance` (namespaced) and `ClusterClerkInstance` (cluster-scoped): one Clerk secret key
//! each, as an object whose status says which Clerk instance the key belongs to and whether it
//! still works. ClerkDomains name them in `spec.instanceRef`, as cert-manager's Certificates
//! name an Issuer or a ClusterIssuer.

use super::SecretKeyRef;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A Clerk instance, reached with the secret key in a Secret of this object's namespace.
/// ClerkDomains of the same namespace use it with `spec.instanceRef: {kind: ClerkInstance,
/// name: ...}`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clerk-operator.io",
    version = "v1alpha1",
    kind = "ClerkInstance",
    plural = "clerkinstances",
    shortname = "cins",
    category = "clerk",
    namespaced,
    status = "ClerkInstanceStatus",
    derive = "PartialEq",
    doc = "A Clerk instance (one secret key) that ClerkDomains of this namespace use through spec.instanceRef.",
    printcolumn = r#"{"name":"Instance-ID","type":"string","jsonPath":".status.instanceId"}"#,
    printcolumn = r#"{"name":"Environment","type":"string","jsonPath":".status.environmentType"}"#,
    printcolumn = r#"{"name":"Domains","type":"integer","jsonPath":".status.domains"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClerkInstanceSpec {
    /// Secret in this object's namespace holding the Clerk secret key (`sk_live_...` or
    /// `sk_test_...`). The operator reads it, asks Clerk which instance it belongs to
    /// (`GET /instance`); with the operator's Secret protection it also keeps the Secret
    /// (finalizer `clerk-operator.io/in-use`) while this object exists.
    pub secret_ref: SecretKeyRef,
    /// Optional: Clerk's own readiness of each domain from its Platform API (conditions
    /// `ClerkDNSVerified`, `SSLIssued`, `MailVerified`, `ClerkProxyVerified`); never gates `Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    /// Whether ClerkDomains using this object may manage the Clerk instance's primary domain
    /// (`isSatellite: false`), whose proxy URL decides where the whole instance's Frontend API
    /// is served. Off by default: such a ClerkDomain is refused (reason
    /// `PrimaryDomainNotAllowed`) without any Clerk call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_primary_domain: bool,
}

/// Clerk's Platform API settings of an instance object: the application and the access token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    /// The Clerk application (`app_...`) of the instance.
    #[schemars(length(min = 1, max = 253))]
    pub application_id: String,
    /// Secret with a Platform API access token (`key`: its key), in `secretRef`'s namespace;
    /// never logged or written.
    pub token_secret_ref: TokenSecretRef,
}

/// The key of a Secret holding a Platform API access token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct TokenSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("tokenSecretRef.name must be a valid Secret name"))]
    pub name: String,
    /// Key within the Secret whose value is the token.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("tokenSecretRef.key must be a valid Secret key"),
        validation = Rule::new("self != '.' && !self.startsWith('..')").message("tokenSecretRef.key must not be '.' or start with '..'"),
    )]
    pub key: String,
}

impl TokenSecretRef {
    /// As a [`SecretKeyRef`], to read it like a secret key's Secret.
    pub fn as_key_ref(&self) -> SecretKeyRef {
        SecretKeyRef {
            name: self.name.clone(),
            key: self.key.clone(),
        }
    }
}

/// A Clerk instance for the whole cluster, reached with the secret key in a Secret of the
/// operator's namespace. ClerkDomains of the namespaces `namespaceSelector` selects use it with
/// `spec.instanceRef: {kind: ClusterClerkInstance, name: ...}` (or as the operator's default,
/// `--default-instance`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clerk-operator.io",
    version = "v1alpha1",
    kind = "ClusterClerkInstance",
    plural = "clusterclerkinstances",
    shortname = "ccins",
    category = "clerk",
    status = "ClerkInstanceStatus",
    derive = "PartialEq",
    doc = "A Clerk instance (one secret key, in the operator's namespace) that ClerkDomains of the selected namespaces use through spec.instanceRef.",
    printcolumn = r#"{"name":"Instance-ID","type":"string","jsonPath":".status.instanceId"}"#,
    printcolumn = r#"{"name":"Environment","type":"string","jsonPath":".status.environmentType"}"#,
    printcolumn = r#"{"name":"Domains","type":"integer","jsonPath":".status.domains"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterClerkInstanceSpec {
    /// Secret in the operator's namespace (the chart's release namespace) holding the Clerk
    /// secret key. Only the operator reads it; application namespaces never see the key.
    pub secret_ref: SecretKeyRef,
    /// Which namespaces' ClerkDomains may use this instance, by the namespaces' labels (e.g.
    /// `matchLabels: {kubernetes.io/metadata.name: web}`). Unset or empty (`{}`) selects every
    /// namespace. A ClerkDomain in a namespace it does not select is refused (condition reason
    /// `NamespaceNotAllowed`) without any Clerk call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// As `ClerkInstance.spec.platform`; the token's Secret is in the operator's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    /// The namespaces (by name) whose ClerkDomains may manage the Clerk instance's primary
    /// domain (`isSatellite: false`) through this object; the primary's proxy URL decides
    /// where the whole instance's Frontend API is served. Empty by default: a ClerkDomain for
    /// the primary is refused everywhere (reason `PrimaryDomainNotAllowed`) without any Clerk
    /// call. A listed namespace must also be selected by `namespaceSelector`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub primary_domain_namespaces: Vec<String>,
}

/// Observed state of a ClerkInstance or ClusterClerkInstance, from Clerk's `GET /instance`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClerkInstanceStatus {
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ID of the Clerk instance (`ins_...`) the key belonged to when first checked. It is
    /// pinned: should the key later belong to another instance, this object and its
    /// ClerkDomains stop writing (reason `InstanceChanged`) until the old key is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Clerk's `environment_type` of the instance: `development` or `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_type: Option<String>,
    /// How many ClerkDomains use this object (by `spec.instanceRef`, or as the operator's
    /// default instance).
    #[serde(default)]
    pub domains: i64,
    /// The client-side rate-limit budget of the instance, as of `lastCheckTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitStatus>,
    /// When the key was last checked with Clerk (`GET /instance`), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<String>,
    /// `Ready`: the key works and belongs to the pinned instance. `Reconciling`: a check is
    /// pending or a transient failure is retried. `Stalled`: retrying cannot help until the key
    /// or its Secret changes (`InvalidKey`, `InstanceChanged`, `SecretNotFound`, ...).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::lenient_conditions"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Requests to Clerk in the current window against the operator's client-side limit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStatus {
    /// Requests the operator sent to this Clerk instance in the last `window` (for all its
    /// ClerkDomains and keys), counted when it last reconciled this object.
    pub used: i64,
    /// The most the operator sends in one `window` (`--rate-limit-production` or
    /// `--rate-limit-development`).
    pub limit: i64,
    /// The window, e.g. `10s`.
    pub window: String,
}

/// Which instance object a ClerkDomain uses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
pub struct InstanceRef {
    /// `ClerkInstance` (in the ClerkDomain's own namespace) or `ClusterClerkInstance`.
    pub kind: InstanceRefKind,
    /// Name of the instance object.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("instanceRef.name must be a valid object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub name: String,
}

/// The kinds `spec.instanceRef` may name.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum InstanceRefKind {
    /// A `ClerkInstance` in the ClerkDomain's namespace.
    ClerkInstance,
    /// A `ClusterClerkInstance`.
    ClusterClerkInstance,
}

impl InstanceRefKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceRefKind::ClerkInstance => "ClerkInstance",
            InstanceRefKind::ClusterClerkInstance => "ClusterClerkInstance",
        }
    }
}
