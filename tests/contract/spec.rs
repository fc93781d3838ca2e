//! Clerk's OpenAPI spec: finding it, reading it, and turning its OpenAPI 3.0 schemas into JSON
//! Schema (draft 7) validators.
//!
//! The spec is never copied into the repo: it is read from `CLERK_OPENAPI_SPEC`, else from
//! `../shared/clerk-openapi/bapi-2026-05-12.yml` beside the repo.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The spec file the contract tests use, relative to the repo root.
pub const DEFAULT_SPEC: &str = "../shared/clerk-openapi/bapi-2026-05-12.yml";

/// Where the spec is, or `None` when it is absent (callers skip, loudly). A `CLERK_OPENAPI_SPEC`
/// that names a missing file is a mistake, not a reason to skip.
pub fn spec_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CLERK_OPENAPI_SPEC").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "CLERK_OPENAPI_SPEC={} does not exist", p.display());
        return Some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_SPEC);
    p.is_file().then_some(p)
}

/// Print why a test does nothing, where `cargo test` shows it.
pub fn skip(test: &str, why: &str) {
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

/// The parsed spec.
pub struct Spec {
    doc: Value,
}

impl Spec {
    pub fn load(path: &std::path::Path) -> Spec {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let doc: Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.0")),
            "{} is not an OpenAPI 3.0 document",
            path.display()
        );
        Spec { doc }
    }

    /// `info.version`, e.g. `2026-05-12`.
    pub fn version(&self) -> &str {
        self.doc["info"]["version"].as_str().unwrap_or_default()
    }

    /// The first server URL, e.g. `https://api.clerk.com/v1`.
    pub fn server_url(&self) -> &str {
        self.doc["servers"][0]["url"].as_str().unwrap_or_default()
    }

    /// An operation by its spec path (e.g. `/domains/{domain_id}`) and lowercase method.
    pub fn operation(&self, path: &str, method: &str) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "the spec has no {method} {path}");
        op
    }

    /// The `components/schemas` name of the JSON body an operation documents for `status`, or
    /// `None` when the spec does not document that status.
    pub fn response_schema_name(&self, path: &str, method: &str, status: u16) -> Option<String> {
        let responses = &self.operation(path, method)["responses"];
        let resp = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))?;
        let resp = match resp["$ref"].as_str() {
            Some(r) => self.resolve(r),
            None => resp,
        };
        let schema = &resp["content"]["application/json"]["schema"];
        let name = schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("{method} {path} {status}: body schema is not a component: {schema}"));
        Some(name.to_string())
    }

    fn resolve(&self, pointer: &str) -> &Value {
        let p = pointer
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {pointer}"));
        self.doc
            .pointer(p)
            .unwrap_or_else(|| panic!("dangling $ref {pointer}"))
    }

    /// A draft 7 JSON Schema for `components/schemas/{name}`, with every schema it references
    /// (transitively) under `definitions`, and OpenAPI's `nullable: true` turned into `null` being
    /// allowed.
    pub fn json_schema(&self, name: &str) -> Value {
        let mut todo = vec![name.to_string()];
        let mut seen = BTreeSet::new();
        let mut defs = BTreeMap::new();
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let raw = self.resolve(&format!("#/components/schemas/{n}"));
            let mut refs = vec![];
            defs.insert(n, convert(raw, &mut refs));
            todo.extend(refs);
        }
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": format!("#/definitions/{name}"),
            "definitions": defs,
        })
    }

    /// A validator for `components/schemas/{name}`.
    pub fn validator(&self, name: &str) -> jsonschema::Validator {
        let schema = self.json_schema(name);
        jsonschema::draft7::options()
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}\n{schema:#}"))
    }
}

/// Every way `instance` breaks `validator`, as readable lines (empty when it is valid).
pub fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("at '{}': {e}", e.instance_path()))
        .collect()
}

/// OpenAPI 3.0 Schema Object -> JSON Schema draft 7. Collects the component names it references.
fn convert(schema: &Value, refs: &mut Vec<String>) -> Value {
    let Value::Object(m) = schema else {
        return schema.clone();
    };
    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
        // OpenAPI 3.0 ignores a $ref's siblings, as draft 7 does.
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unsupported $ref {r}"));
        refs.push(name.to_string());
        return json!({ "$ref": format!("#/definitions/{name}") });
    }
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            // Keywords holding one subschema.
            "items" | "not" | "additionalProperties" if v.is_object() => convert(v, refs),
            // Keywords holding a map of subschemas.
            "properties" => Value::Object(
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(p, s)| (p.clone(), convert(s, refs)))
                    .collect(),
            ),
            // Keywords holding a list of subschemas.
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| convert(s, refs))
                    .collect(),
            ),
            // OpenAPI-only keywords and annotations with no JSON Schema meaning.
            "nullable" | "discriminator" | "xml" | "externalDocs" | "example" | "deprecated" => continue,
            k if k.starts_with("x-") => continue,
            // 3.0 writes exclusive bounds as booleans next to minimum/maximum.
            "exclusiveMinimum" | "exclusiveMaximum" if v.is_boolean() => continue,
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if m.get(flag) == Some(&Value::Bool(true))
            && let Some(b) = out.remove(bound)
        {
            out.insert(flag.into(), b);
        }
    }
    if m.get("nullable") == Some(&Value::Bool(true)) {
        return nullable(out);
    }
    Value::Object(out)
}

/// A converted schema that OpenAPI 3.0 marks `nullable`, in draft 7: `null` added to its type
/// or enum, or, for a composition with no type, an `anyOf` with `null`.
fn nullable(mut out: Map<String, Value>) -> Value {
    if let Some(t) = out.get_mut("type") {
        *t = match t.take() {
            Value::String(s) => json!([s, "null"]),
            Value::Array(mut a) => {
                a.push(json!("null"));
                Value::Array(a)
            }
            other => other,
        };
    }
    if let Some(Value::Array(e)) = out.get_mut("enum") {
        e.push(Value::Null);
    }
    if out.get("type").is_none() && ["allOf", "anyOf", "oneOf"].iter().any(|k| out.contains_key(*k)) {
        return json!({ "anyOf": [{ "type": "null" }, Value::Object(out)] });
    }
    Value::Object(out)
}
