//! Field descriptions of the generated CRD as paragraphs.
//!
//! schemars copies doc comments line by line, so every description kept the hard line breaks of
//! the Rust source and `kubectl explain` broke sentences mid-way. [`with_paragraphs`] joins the
//! lines of each paragraph with a space, keeping blank lines between paragraphs, list items
//! (`- `, `* `, `+ `, `1. `, `1) `) on lines of their own, and fenced code blocks as written.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// The CRD with every `description` in its schemas reflowed by [`paragraphs`].
pub fn with_paragraphs(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut value = serde_json::to_value(&crd).expect("CRD serialises to JSON");
    reflow_descriptions(&mut value);
    serde_json::from_value(value).expect("reflowed CRD deserialises")
}

/// Keys whose values are data (defaults, examples, enum members), not schemas: a `description`
/// inside them is not a field description.
const DATA_KEYS: [&str; 3] = ["default", "example", "enum"];

fn reflow_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "description" => *s = paragraphs(s),
                    _ if DATA_KEYS.contains(&key.as_str()) => {}
                    _ => reflow_descriptions(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(reflow_descriptions),
        _ => {}
    }
}

/// Whether `line` starts a Markdown list item.
pub(crate) fn is_list_item(line: &str) -> bool {
    let line = line.trim_start();
    if line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") {
        return true;
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
}

fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// Join the lines of each paragraph of `text` with single spaces; see the module docs.
pub fn paragraphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Whether the last line written can be continued by the next one.
    let mut open = false;
    let mut in_fence = false;
    for raw in text.trim().lines() {
        let line = raw.trim_end();
        if in_fence || is_fence(line) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
            if is_fence(line) {
                in_fence = !in_fence;
            }
            open = false;
        } else if line.trim().is_empty() {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push_str("\n\n");
            }
            open = false;
        } else if open && !is_list_item(line) {
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(if is_list_item(line) {
                line
            } else {
                line.trim_start()
            });
            open = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_lines_of_a_paragraph() {
        assert_eq!(
            paragraphs("HTTPS URL of a proxy that forwards\nto Clerk's Frontend API,\n  e.g. `https://x`."),
            "HTTPS URL of a proxy that forwards to Clerk's Frontend API, e.g. `https://x`."
        );
    }

    #[test]
    fn keeps_paragraph_breaks_and_lists() {
        let text = "Desired state.\n\nThe operator registers\nthe domain.\n\n\nSteps:\n- resolve the\n  key\n- observe\n3. act\n10) write";
        assert_eq!(
            paragraphs(text),
            "Desired state.\n\nThe operator registers the domain.\n\nSteps:\n- resolve the key\n- observe\n3. act\n10) write"
        );
    }

    #[test]
    fn keeps_fenced_blocks() {
        let text = "Example:\n```yaml\nspec:\n  domain: a\n```\nand more\ntext.";
        assert_eq!(
            paragraphs(text),
            "Example:\n```yaml\nspec:\n  domain: a\n```\nand more text."
        );
    }

    #[test]
    fn leaves_single_lines_and_data_alone() {
        assert_eq!(paragraphs("One line."), "One line.");
        assert_eq!(paragraphs(""), "");
        assert!(!is_list_item("-1 is not a list item"));
        assert!(!is_list_item("2026 was a year"));
        assert!(is_list_item("  12. item"));
        let mut v = serde_json::json!({
            "description": "a\nb",
            "default": {"description": "x\ny"},
            "properties": {"description": {"description": "c\nd", "type": "string"}},
        });
        reflow_descriptions(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "description": "a b",
                "default": {"description": "x\ny"},
                "properties": {"description": {"description": "c d", "type": "string"}},
            })
        );
    }

    /// `clerk-operator crd` without a kind prints every CRD as one stream `kubectl apply -f -`
    /// takes: one document per kind, in the order of the files under `crds/`.
    #[test]
    fn all_crds_are_one_multi_document_stream() {
        use serde::Deserialize;
        let names: Vec<String> = serde_yaml::Deserializer::from_str(&crate::api::crd_yaml())
            .map(|doc| {
                let crd = Value::deserialize(doc).unwrap();
                assert_eq!(crd["kind"], "CustomResourceDefinition");
                crd["spec"]["names"]["kind"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(names, ["ClerkDomain", "ClerkInstance", "ClusterClerkInstance"]);
    }

    /// Every description of the generated CRD is paragraphs: a line break inside a paragraph is
    /// allowed only before a list item or within a fenced block.
    #[test]
    fn generated_crd_descriptions_are_paragraphs() {
        use clap::ValueEnum;
        let mut descriptions = Vec::new();
        for kind in crate::api::CrdKind::value_variants() {
            let crd: Value = serde_yaml::from_str(&crate::api::crd_yaml_of(*kind)).unwrap();
            collect_descriptions(&crd, &format!("{kind:?}"), &mut descriptions);
        }
        assert!(
            descriptions.len() > 50,
            "found only {} descriptions",
            descriptions.len()
        );
        // The CRDs have multi-line doc comments, so this test looks at text that had line breaks.
        for field in [".proxyUrl", ".instanceRef", ".namespaceSelector", ".rateLimit"] {
            assert!(descriptions.iter().any(|(p, _)| p.ends_with(field)), "{field}");
        }
        let mut bad = Vec::new();
        for (path, text) in &descriptions {
            for paragraph in text.split("\n\n") {
                let mut in_fence = false;
                let lines: Vec<&str> = paragraph.split('\n').collect();
                for (i, line) in lines.iter().enumerate() {
                    if is_fence(line) {
                        in_fence = !in_fence;
                    }
                    if let Some(next) = lines.get(i + 1)
                        && !in_fence
                        && !is_fence(line)
                        && !is_fence(next)
                        && !is_list_item(next)
                    {
                        bad.push(format!("{path}: {line:?} / {next:?}"));
                    }
                }
            }
            if text.contains("\n\n\n") || text != text.trim() {
                bad.push(format!("{path}: stray whitespace in {text:?}"));
            }
        }
        assert!(
            bad.is_empty(),
            "line breaks inside paragraphs:\n{}",
            bad.join("\n")
        );
    }

    fn collect_descriptions(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(s) if k == "description" => out.push((path.to_string(), s.clone())),
                        _ if DATA_KEYS.contains(&k.as_str()) => {}
                        _ => collect_descriptions(v, &format!("{path}.{k}"), out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    collect_descriptions(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
}
