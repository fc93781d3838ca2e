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

/// The DNSEndpoint the operator wants for a ClerkDomain: named and namespaced like it, owned by
/// it, labelled `app.kubernetes.io/managed-by: clerk-operator`, with one CNAME endpoint per
/// *required* target (the first target wins when two share a host), sorted by name. Names are
/// written without a trailing dot and in lowercase. `ttl` is `recordTTL` of every endpoint and
/// `provider_specific` (in its order) the `providerSpecific` of every endpoint (left out when
/// empty).
///
/// An empty `endpoints` list is a valid result (e.g. a development instance, or a proxied
/// domain with only optional targets): the caller decides whether to write or delete it.
pub fn desired_endpoint<T: CnameLike>(
    owner: &Owner<'_>,
    targets: &[T],
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
    let mut by_host: BTreeMap<String, String> = BTreeMap::new();
    for t in targets.iter().filter(|t| t.required()) {
        let host = normalize_name(t.host());
        if host.is_empty() {
            continue;
        }
        by_host.entry(host).or_insert_with(|| normalize_name(t.value()));
    }
    let endpoints = by_host
        .into_iter()
        .map(|(host, value)| Endpoint {
            dns_name: host,
            targets: vec![value],
            record_type: "CNAME".into(),
            record_ttl: ttl,
            provider_specific: provider_specific.clone(),
            ..Default::default()
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

/// Whether `current` needs an update to become `desired`: the endpoints differ (ignoring their
/// order, the case and trailing dot of names, and the order of targets), a desired label is
/// missing or different, or the desired ownerReference (by UID) is missing or different.
/// Labels, annotations and ownerReferences that others added are left alone, and the status is
/// ignored.
pub fn endpoints_differ(current: &DNSEndpoint, desired: &DNSEndpoint) -> bool {
    if canonical(&current.spec.endpoints) != canonical(&desired.spec.endpoints) {
        return true;
    }
    let current_labels = current.metadata.labels.as_ref();
    let labels_ok = desired
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| current_labels.and_then(|l| l.get(k)) == Some(v));
    if !labels_ok {
        return true;
    }
    let current_refs = current.metadata.owner_references.as_deref().unwrap_or_default();
    let refs_ok = desired.metadata.owner_references.iter().flatten().all(|want| {
        current_refs
            .iter()
            .any(|have| have.uid == want.uid && have == want)
    });
    !refs_ok
}

fn canonical(endpoints: &[Endpoint]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = endpoints
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.dns_name = normalize_name(&e.dns_name);
            e.record_type = e.record_type.to_ascii_uppercase();
            let is_name = matches!(e.record_type.as_str(), "CNAME" | "NS" | "MX" | "SRV");
            if is_name {
                e.targets = e.targets.iter().map(|t| normalize_name(t)).collect();
            }
            e.targets.sort();
            if e.provider_specific.as_ref().is_some_and(Vec::is_empty) {
                e.provider_specific = None;
            }
            e
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.dns_name, &a.record_type, &a.set_identifier).cmp(&(
            &b.dns_name,
            &b.record_type,
            &b.set_identifier,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OWNER: Owner<'static> = Owner {
        name: "marketing",
        namespace: "web",
        uid: "0b9c1a8e-1111-2222-3333-444455556666",
    };

    fn cname(host: &str, value: &str) -> Endpoint {
        Endpoint {
            dns_name: host.into(),
            targets: vec![value.into()],
            record_type: "CNAME".into(),
            ..Default::default()
        }
    }

    #[test]
    fn desired_endpoint_table() {
        struct Case {
            name: &'static str,
            targets: Vec<(&'static str, &'static str, bool)>,
            ttl: Option<i64>,
            want: Vec<Endpoint>,
        }
        let cases = vec![
            Case {
                name: "no targets",
                targets: vec![],
                ttl: None,
                want: vec![],
            },
            Case {
                name: "only required targets, sorted",
                targets: vec![
                    ("clerk.a.example.com", "frontend-api.clerk.services", true),
                    ("clkmail.a.example.com", "mail.x.clerk.services", true),
                    ("optional.a.example.com", "x.clerk.services", false),
                    ("clk._domainkey.a.example.com", "dkim1.x.clerk.services", true),
                ],
                ttl: None,
                want: vec![
                    cname("clerk.a.example.com", "frontend-api.clerk.services"),
                    cname("clk._domainkey.a.example.com", "dkim1.x.clerk.services"),
                    cname("clkmail.a.example.com", "mail.x.clerk.services"),
                ],
            },
            Case {
                name: "ttl, trailing dots, case, duplicate host",
                targets: vec![
                    ("Clerk.A.example.com.", "Frontend-API.clerk.services.", true),
                    ("clerk.a.example.com", "other.clerk.services", true),
                ],
                ttl: Some(300),
                want: vec![Endpoint {
                    record_ttl: Some(300),
                    ..cname("clerk.a.example.com", "frontend-api.clerk.services")
                }],
            },
            Case {
                name: "all optional",
                targets: vec![("clerk.a.example.com", "frontend-api.clerk.services", false)],
                ttl: Some(60),
                want: vec![],
            },
        ];
        for c in cases {
            let got = desired_endpoint(&OWNER, &c.targets, c.ttl, &[]);
            assert_eq!(got.spec.endpoints, c.want, "{}", c.name);
            assert_eq!(got.metadata.name.as_deref(), Some("marketing"), "{}", c.name);
            assert_eq!(got.metadata.namespace.as_deref(), Some("web"), "{}", c.name);
        }
    }

    #[test]
    fn desired_endpoint_metadata_and_wire_format() {
        let targets = vec![crate::clerk::CnameTarget {
            host: "clerk.a.example.com".into(),
            value: "frontend-api.clerk.services".into(),
            required: true,
        }];
        let e = desired_endpoint(&OWNER, &targets, Some(120), &[]);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "externaldns.k8s.io/v1alpha1",
                "kind": "DNSEndpoint",
                "metadata": {
                    "name": "marketing",
                    "namespace": "web",
                    "labels": {"app.kubernetes.io/managed-by": "clerk-operator"},
                    "ownerReferences": [{
                        "apiVersion": "clerk-operator.io/v1alpha1",
                        "kind": "ClerkDomain",
                        "name": "marketing",
                        "uid": "0b9c1a8e-1111-2222-3333-444455556666",
                        "controller": true,
                        "blockOwnerDeletion": true
                    }]
                },
                "spec": {"endpoints": [{
                    "dnsName": "clerk.a.example.com",
                    "targets": ["frontend-api.clerk.services"],
                    "recordType": "CNAME",
                    "recordTTL": 120
                }]}
            })
        );
        // What external-dns or a user may write decodes too.
        let back: DNSEndpoint = serde_json::from_value(json!({
            "apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
            "metadata": {"name": "x"},
            "spec": {"endpoints": [{"dnsName": "a.example.com", "recordType": "A",
                "targets": ["192.0.2.1"], "labels": {"owner": "y"},
                "providerSpecific": [{"name": "p", "value": "v"}], "setIdentifier": "s"}]},
            "status": {"observedGeneration": 3}
        }))
        .unwrap();
        assert_eq!(back.status.unwrap().observed_generation, Some(3));
        assert_eq!(
            back.spec.endpoints[0].provider_specific.as_ref().unwrap()[0].name,
            "p"
        );
    }

    #[test]
    fn provider_specific_goes_on_every_endpoint() {
        let targets = [
            ("clerk.a.example.com", "frontend-api.clerk.services", true),
            ("clkmail.a.example.com", "mail.x.clerk.services", true),
        ];
        let props = [
            crate::api::ProviderSpecific {
                name: "cloudflare/proxied".into(),
                value: "false".into(),
            },
            crate::api::ProviderSpecific {
                name: "aws/evaluate-target-health".into(),
                value: "true".into(),
            },
        ];
        let e = desired_endpoint(&OWNER, &targets, None, &props);
        let v = serde_json::to_value(&e.spec.endpoints).unwrap();
        let want = json!([
            {"name": "cloudflare/proxied", "value": "false"},
            {"name": "aws/evaluate-target-health", "value": "true"}
        ]);
        assert_eq!(v.as_array().unwrap().len(), 2);
        for ep in v.as_array().unwrap() {
            assert_eq!(ep["providerSpecific"], want, "{ep}");
        }
        // Changing a property is a change external-dns must see; dropping all of them too.
        let mut other = props.clone();
        other[0].value = "true".into();
        assert!(endpoints_differ(
            &e,
            &desired_endpoint(&OWNER, &targets, None, &other)
        ));
        assert!(endpoints_differ(
            &e,
            &desired_endpoint(&OWNER, &targets, None, &[])
        ));
        assert!(!endpoints_differ(
            &e,
            &desired_endpoint(&OWNER, &targets, None, &props)
        ));
    }

    #[test]
    fn owner_of_a_clerk_domain() {
        let mut d = crate::api::ClerkDomain::new(
            "marketing",
            serde_json::from_value(json!({
                "domain": "a.example.com",
                "secretRef": {"name": "clerk", "key": "secret-key"}
            }))
            .unwrap(),
        );
        assert_eq!(Owner::of(&d), None);
        d.metadata.namespace = Some("web".into());
        d.metadata.uid = Some(OWNER.uid.into());
        assert_eq!(Owner::of(&d), Some(OWNER));
    }

    #[test]
    fn endpoints_differ_table() {
        let targets = [
            ("clerk.a.example.com", "frontend-api.clerk.services", true),
            ("clkmail.a.example.com", "mail.x.clerk.services", true),
        ];
        let desired = desired_endpoint(&OWNER, &targets, None, &[]);
        let with = |f: &dyn Fn(&mut DNSEndpoint)| {
            let mut e = desired.clone();
            f(&mut e);
            e
        };
        let cases: Vec<(&str, DNSEndpoint, bool)> = vec![
            ("identical", desired.clone(), false),
            (
                "reordered endpoints, case and dots",
                with(&|e| {
                    e.spec.endpoints.reverse();
                    e.spec.endpoints[0].dns_name = "CLKMAIL.a.example.com.".into();
                    e.spec.endpoints[1].targets = vec!["frontend-api.clerk.services.".into()];
                }),
                false,
            ),
            (
                "status, extra labels, annotations and owners are ignored",
                with(&|e| {
                    e.status = Some(DNSEndpointStatus {
                        observed_generation: Some(4),
                    });
                    e.metadata
                        .labels
                        .as_mut()
                        .unwrap()
                        .insert("team".into(), "web".into());
                    e.metadata.annotations = Some([("a".to_string(), "b".to_string())].into());
                    e.metadata
                        .owner_references
                        .as_mut()
                        .unwrap()
                        .push(OwnerReference {
                            api_version: "v1".into(),
                            kind: "ConfigMap".into(),
                            name: "other".into(),
                            uid: "other-uid".into(),
                            ..Default::default()
                        });
                    e.spec.endpoints[0].provider_specific = Some(vec![]);
                }),
                false,
            ),
            (
                "a wrong target",
                with(&|e| e.spec.endpoints[0].targets = vec!["elsewhere.example.net".into()]),
                true,
            ),
            (
                "a missing endpoint",
                with(&|e| drop(e.spec.endpoints.pop())),
                true,
            ),
            (
                "an extra endpoint",
                with(&|e| {
                    e.spec
                        .endpoints
                        .push(cname("old.a.example.com", "x.clerk.services"))
                }),
                true,
            ),
            (
                "a TTL",
                with(&|e| e.spec.endpoints[0].record_ttl = Some(60)),
                true,
            ),
            (
                "a record type",
                with(&|e| e.spec.endpoints[0].record_type = "A".into()),
                true,
            ),
            ("no labels", with(&|e| e.metadata.labels = None), true),
            (
                "a changed label",
                with(&|e| {
                    e.metadata
                        .labels
                        .as_mut()
                        .unwrap()
                        .insert(MANAGED_BY_LABEL.into(), "helm".into());
                }),
                true,
            ),
            ("no owner", with(&|e| e.metadata.owner_references = None), true),
            (
                "another owner UID",
                with(&|e| e.metadata.owner_references.as_mut().unwrap()[0].uid = "old".into()),
                true,
            ),
            (
                "owner not controller",
                with(&|e| e.metadata.owner_references.as_mut().unwrap()[0].controller = None),
                true,
            ),
        ];
        for (name, current, want) in cases {
            assert_eq!(endpoints_differ(&current, &desired), want, "{name}");
        }
    }
}
