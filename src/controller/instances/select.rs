//! Pure decisions about instance objects: which key source a ClerkDomain uses (the documented
//! precedence), and whether a ClusterClerkInstance's `namespaceSelector` selects a namespace.

use crate::api::{ClerkDomainSpec, InstanceRefKind, SecretKeyRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// One instance object: its kind, namespace (for `ClerkInstance`) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey {
    pub kind: InstanceRefKind,
    /// `Some` for a `ClerkInstance`, `None` for a `ClusterClerkInstance`.
    pub namespace: Option<String>,
    pub name: String,
}

impl InstanceKey {
    /// A `ClusterClerkInstance`.
    pub fn cluster(name: &str) -> Self {
        InstanceKey {
            kind: InstanceRefKind::ClusterClerkInstance,
            namespace: None,
            name: name.to_string(),
        }
    }

    /// A `ClerkInstance` of `namespace`.
    pub fn namespaced(namespace: &str, name: &str) -> Self {
        InstanceKey {
            kind: InstanceRefKind::ClerkInstance,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// Where a ClerkDomain's key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource<'a> {
    /// An instance object (`spec.instanceRef`, or `--default-instance`).
    Instance(InstanceKey),
    /// `spec.secretRef`, a Secret of the ClerkDomain's namespace.
    Secret(&'a SecretKeyRef),
    /// The operator's default key (`CLERK_SECRET_KEY` / `--secret-key-file`).
    DefaultKey,
}

/// The precedence: `spec.instanceRef` > `spec.secretRef` > the default instance
/// (`--default-instance`) > the default key. Admission refuses `instanceRef` and `secretRef`
/// together; should both be set anyway (an object stored before the rule), `instanceRef` wins.
pub fn choose<'a>(
    spec: &'a ClerkDomainSpec,
    namespace: &str,
    default_instance: Option<&str>,
) -> KeySource<'a> {
    if let Some(r) = &spec.instance_ref {
        return KeySource::Instance(match r.kind {
            InstanceRefKind::ClerkInstance => InstanceKey::namespaced(namespace, &r.name),
            InstanceRefKind::ClusterClerkInstance => InstanceKey::cluster(&r.name),
        });
    }
    if let Some(r) = &spec.secret_ref {
        return KeySource::Secret(r);
    }
    match default_instance {
        Some(name) => KeySource::Instance(InstanceKey::cluster(name)),
        None => KeySource::DefaultKey,
    }
}

/// Whether `selector` selects a namespace with `labels`. Unset and empty selectors select every
/// namespace, as Kubernetes' namespace selectors do. A malformed selector (an unknown operator,
/// `In`/`NotIn` without values) selects nothing and says why.
pub fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let Some(sel) = selector else {
        return Ok(true);
    };
    for (k, v) in sel.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "namespaceSelector: operator {} on key {:?} needs values",
                    e.operator, e.key
                ));
            }
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => return Err(format!("namespaceSelector: unknown operator {other:?}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::InstanceRef;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn spec(instance: Option<(InstanceRefKind, &str)>, secret: Option<&str>) -> ClerkDomainSpec {
        let mut s = ClerkDomainSpec::for_domain("a.example.com");
        s.instance_ref = instance.map(|(kind, name)| InstanceRef {
            kind,
            name: name.into(),
        });
        s.secret_ref = secret.map(|name| SecretKeyRef {
            name: name.into(),
            key: "k".into(),
        });
        s
    }

    #[test]
    fn precedence_is_instance_ref_then_secret_ref_then_default_instance_then_default_key() {
        use InstanceRefKind::*;
        let secret = SecretKeyRef {
            name: "s".into(),
            key: "k".into(),
        };
        let table: [(ClerkDomainSpec, Option<&str>, KeySource<'_>); 7] = [
            (
                spec(Some((ClerkInstance, "i")), None),
                None,
                KeySource::Instance(InstanceKey::namespaced("web", "i")),
            ),
            (
                spec(Some((ClusterClerkInstance, "c")), None),
                Some("dflt"),
                KeySource::Instance(InstanceKey::cluster("c")),
            ),
            // Both set (refused at admission): instanceRef wins.
            (
                spec(Some((ClerkInstance, "i")), Some("s")),
                None,
                KeySource::Instance(InstanceKey::namespaced("web", "i")),
            ),
            (spec(None, Some("s")), None, KeySource::Secret(&secret)),
            (spec(None, Some("s")), Some("dflt"), KeySource::Secret(&secret)),
            (
                spec(None, None),
                Some("dflt"),
                KeySource::Instance(InstanceKey::cluster("dflt")),
            ),
            (spec(None, None), None, KeySource::DefaultKey),
        ];
        for (i, (s, default, want)) in table.iter().enumerate() {
            assert_eq!(&choose(s, "web", *default), want, "row {i}");
        }
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    /// A selector of one expression.
    fn one(key: &str, op: &str, values: &[&str]) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr(key, op, values)]),
        })
    }

    /// A selector of `matchLabels` only.
    fn by_labels(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
        let labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        })
    }

    #[test]
    fn namespace_selector_table() {
        let labels: BTreeMap<String, String> =
            [("team".into(), "web".into()), ("tier".into(), "prod".into())].into();
        type Row<'a> = (&'a str, Option<LabelSelector>, Result<bool, ()>);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("unset selects all", None, Ok(true)),
            ("empty selects all", Some(LabelSelector::default()), Ok(true)),
            ("matchLabels hit", by_labels(&[("team", "web")]), Ok(true)),
            ("matchLabels miss", by_labels(&[("team", "api")]), Ok(false)),
            ("matchLabels all must hold", by_labels(&[("team", "web"), ("x", "y")]), Ok(false)),
            ("In hit", one("tier", "In", &["prod", "staging"]), Ok(true)),
            ("In miss", one("tier", "In", &["dev"]), Ok(false)),
            ("In absent key", one("zone", "In", &["a"]), Ok(false)),
            ("NotIn hit", one("tier", "NotIn", &["dev"]), Ok(true)),
            ("NotIn absent key", one("zone", "NotIn", &["a"]), Ok(true)),
            ("NotIn miss", one("tier", "NotIn", &["prod"]), Ok(false)),
            ("Exists", one("team", "Exists", &[]), Ok(true)),
            ("Exists miss", one("zone", "Exists", &[]), Ok(false)),
            ("DoesNotExist", one("zone", "DoesNotExist", &[]), Ok(true)),
            ("DoesNotExist miss", one("team", "DoesNotExist", &[]), Ok(false)),
            ("In without values", one("team", "In", &[]), Err(())),
            ("unknown operator", one("team", "Gt", &["1"]), Err(())),
        ];
        for (what, sel, want) in table {
            assert_eq!(selects(sel.as_ref(), &labels).map_err(|_| ()), want, "{what}");
        }
    }

    #[test]
    fn keys_display_kind_and_scope() {
        assert_eq!(
            InstanceKey::namespaced("web", "i").to_string(),
            "ClerkInstance web/i"
        );
        assert_eq!(InstanceKey::cluster("c").to_string(), "ClusterClerkInstance c");
    }
}
