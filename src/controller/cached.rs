//! What the controller's cache keeps of each ClerkDomain. The cache holds every object for the
//! life of the process, so what it does not need is dropped as each object arrives, and what
//! it keeps is held without spare room.

use crate::api::ClerkDomain;

/// `kubectl apply`'s record of the last applied object (read only by kubectl).
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Trim `o` for the cache:
/// - `managedFields` go, allocation and all (one entry per field manager, each a tree of small
///   maps; nothing here reads them, as status is written by server-side apply). Clearing the
///   list would keep room for every entry it held.
/// - `kubectl apply`'s copy of the whole object in an annotation goes, and so does the map
///   once it is empty.
/// - Lists are cut to their length: a JSON list is read without a size hint, so three
///   conditions or CNAME targets, or one finalizer, take room for four.
pub(crate) fn slim(o: &mut ClerkDomain) {
    let meta = &mut o.metadata;
    meta.managed_fields = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
    if let Some(f) = &mut meta.finalizers {
        f.shrink_to_fit();
    }
    if let Some(st) = &mut o.status {
        st.conditions.shrink_to_fit();
        st.cname_targets.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object as the API serves it: with managedFields, kubectl's annotation, and lists
    /// read from JSON (so with spare room).
    fn served() -> ClerkDomain {
        let json = serde_json::json!({
            "apiVersion": "clerk-operator.io/v1alpha1",
            "kind": "ClerkDomain",
            "metadata": {
                "name": "a", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                "finalizers": ["clerk-operator.io/cleanup"],
                "annotations": {LAST_APPLIED: "{\"spec\":{}}"},
                "labels": {"team": "web"},
                "managedFields": [
                    {"manager": "kubectl", "operation": "Apply", "apiVersion": "clerk-operator.io/v1alpha1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:domain": {}}}},
                    {"manager": "clerk-operator", "operation": "Apply", "subresource": "status",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:domainId": {}}}}
                ]
            },
            "spec": {"domain": "a.example.com"},
            "status": {
                "domainId": "dmn_1",
                "cnameTargets": [
                    {"host": "clerk.a.example.com", "value": "frontend-api.clerk.services", "required": true},
                    {"host": "accounts.a.example.com", "value": "accounts.clerk.services", "required": true},
                    {"host": "clkmail.a.example.com", "value": "mail.x.clerk.services", "required": true}
                ],
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Registered", "message": "",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "Reconciling", "status": "False", "reason": "Registered", "message": "",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "Stalled", "status": "False", "reason": "Registered", "message": "",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"}
                ]
            }
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_cache_keeps_no_managed_fields_and_no_spare_room() {
        let mut o = served();
        let before = o.clone();
        slim(&mut o);
        let st = o.status.as_ref().unwrap();
        let finalizers = o.metadata.finalizers.as_ref().unwrap();
        assert_eq!(o.metadata.managed_fields, None);
        assert_eq!(o.metadata.annotations, None);
        assert_eq!(st.conditions.capacity(), 3);
        assert_eq!(st.cname_targets.capacity(), 3);
        assert_eq!(finalizers.capacity(), 1);
        // Everything the operator reads is as served.
        assert_eq!(o.spec, before.spec);
        assert_eq!(o.status, before.status);
        assert_eq!(o.metadata.labels, before.metadata.labels);
        assert_eq!(o.metadata.finalizers, before.metadata.finalizers);
    }

    #[test]
    fn other_annotations_stay() {
        let mut o = served();
        o.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert("clerk-operator.io/reconcile".into(), "1".into());
        slim(&mut o);
        let a = o.metadata.annotations.unwrap();
        assert_eq!(a.keys().collect::<Vec<_>>(), ["clerk-operator.io/reconcile"]);
    }
}
