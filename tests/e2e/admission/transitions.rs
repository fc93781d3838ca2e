//! The admission table's update transitions: what the immutability rules reject or allow.

use super::*;

const SAT: &str = "isSatellite is immutable";
const REF: &str = "secretRef is immutable once set";

/// A valid domain with a `secretRef`.
fn r(name: &str, key: &str) -> String {
    with(&format!("  secretRef: {{name: {name}, key: {key}}}\n"))
}

/// `(what, before, after, expect)`: create with `before`, then apply `after`.
pub(super) fn transitions() -> Vec<(&'static str, String, String, Expect)> {
    [
        satellite_transitions(),
        secret_ref_transitions(),
        other_field_transitions(),
    ]
    .concat()
}

fn satellite_transitions() -> Vec<(&'static str, String, String, Expect)> {
    vec![
        (
            "isSatellite true -> false",
            with("  isSatellite: true\n"),
            with("  isSatellite: false\n"),
            Reject(SAT),
        ),
        (
            "isSatellite false -> true",
            with("  isSatellite: false\n"),
            with("  isSatellite: true\n"),
            Reject(SAT),
        ),
        (
            "isSatellite defaulted (true) -> false",
            with(""),
            with("  isSatellite: false\n"),
            Reject(SAT),
        ),
        (
            "isSatellite false -> removed (defaults to true)",
            with("  isSatellite: false\n"),
            with(""),
            Reject(SAT),
        ),
        (
            "isSatellite true -> removed (defaults to true)",
            with("  isSatellite: true\n"),
            with(""),
            Accept,
        ),
    ]
}

fn secret_ref_transitions() -> Vec<(&'static str, String, String, Expect)> {
    vec![
        (
            "secretRef name changed",
            r("clerk", "k"),
            r("other", "k"),
            Reject(REF),
        ),
        (
            "secretRef key changed",
            r("clerk", "k"),
            r("clerk", "k2"),
            Reject(REF),
        ),
        ("secretRef removed", r("clerk", "k"), with(""), Reject(REF)),
        (
            "secretRef replaced by instanceRef",
            r("clerk", "k"),
            with("  instanceRef: {kind: ClerkInstance, name: web}\n"),
            Accept,
        ),
        (
            "instanceRef added next to secretRef",
            r("clerk", "k"),
            format!(
                "{}  instanceRef: {{kind: ClerkInstance, name: web}}\n",
                r("clerk", "k")
            ),
            Reject("set at most one of secretRef and instanceRef"),
        ),
        ("secretRef unset -> set", with(""), r("clerk", "k"), Accept),
        ("secretRef unchanged", r("clerk", "k"), r("clerk", "k"), Accept),
        (
            "secretRef unchanged, other fields changed",
            r("clerk", "k"),
            format!("{}  deletionPolicy: Orphan\n", r("clerk", "k")),
            Accept,
        ),
    ]
}

fn other_field_transitions() -> Vec<(&'static str, String, String, Expect)> {
    vec![
        ("domain renamed", with(""), domain("renamed.example.com"), Accept),
        (
            "domain renamed to an invalid one",
            with(""),
            domain("Renamed.example.com"),
            Reject("domain must be lowercase"),
        ),
        (
            "proxyUrl added",
            with(""),
            proxy("https://app.example.com/__clerk"),
            Accept,
        ),
        (
            "proxyUrl removed",
            proxy("https://app.example.com/__clerk"),
            with(""),
            Accept,
        ),
        (
            "proxyUrl changed to http",
            proxy("https://app.example.com/__clerk"),
            proxy("http://app.example.com/__clerk"),
            Reject("proxyUrl must be an https:// URL"),
        ),
        (
            "deletionPolicy Delete -> Orphan",
            with("  deletionPolicy: Delete\n"),
            with("  deletionPolicy: Orphan\n"),
            Accept,
        ),
        (
            "deletionPolicy Orphan -> removed (defaults to Delete)",
            with("  deletionPolicy: Orphan\n"),
            with(""),
            Accept,
        ),
        (
            "isSecondary true -> false",
            with("  isSecondary: true\n"),
            with("  isSecondary: false\n"),
            Accept,
        ),
    ]
}
