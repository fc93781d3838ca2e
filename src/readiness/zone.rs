//! `clerk-operator status --zone`: the required records as a BIND zone-file fragment.

use super::records_of;
use crate::api::ClerkDomain;

/// TTL of every record of the fragment, in seconds.
pub const ZONE_TTL: u32 = 300;

/// The required CNAME and TXT records of `domains` as zone-file lines with absolute names, one
/// comment line per domain. Records of other types are written as comments, since their data
/// is not known to be in zone-file syntax.
pub fn zone_fragment(domains: &[ClerkDomain]) -> String {
    let mut out = String::new();
    for obj in domains {
        let Some(st) = obj.status.as_ref() else {
            continue;
        };
        out.push_str(&format!(
            "; {} ({}/{})\n",
            obj.spec.domain,
            obj.metadata.namespace.as_deref().unwrap_or_default(),
            obj.metadata.name.as_deref().unwrap_or_default()
        ));
        for r in records_of(st).into_iter().filter(|r| r.required) {
            let name = absolute(&r.host);
            let line = if r.record_type.eq_ignore_ascii_case("CNAME") {
                format!("{name} {ZONE_TTL} IN CNAME {}", absolute(&r.value))
            } else if r.record_type.eq_ignore_ascii_case("TXT") {
                format!("{name} {ZONE_TTL} IN TXT {}", txt_strings(&r.value))
            } else {
                format!(
                    "; {name} {} {:?} (not written: unknown type)",
                    r.record_type, r.value
                )
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// `name` with exactly one trailing dot, lowercase.
fn absolute(name: &str) -> String {
    format!("{}.", crate::dns::normalize_name(name))
}

/// TXT data as quoted character-strings of at most 255 bytes each, `"` and `\` escaped.
fn txt_strings(value: &str) -> String {
    let mut parts: Vec<String> = vec![];
    let mut current = String::new();
    for ch in value.chars() {
        if current.len() + ch.len_utf8() > 255 {
            parts.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    parts.push(current);
    parts
        .iter()
        .map(|p| crate::dns::endpoint::quote_txt(p))
        .collect::<Vec<_>>()
        .join(" ")
}
