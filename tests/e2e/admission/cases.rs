//! The admission table's cases: bad manifests with the message the user should see and good ones
//! that must pass (the update transitions are in `transitions`).

/// A spec field as YAML, its value a JSON string (valid YAML), so tabs, `#`, `*`, `?` and
/// leading dashes reach the apiserver verbatim.
pub(super) fn field(name: &str, value: &str) -> String {
    format!("  {name}: {}\n", serde_json::to_string(value).unwrap())
}

pub(super) fn domain(d: &str) -> String {
    field("domain", d)
}

/// A valid domain plus `rest` (more spec lines).
pub(super) fn with(rest: &str) -> String {
    format!("  domain: app.example.com\n{rest}")
}

pub(super) fn proxy(url: &str) -> String {
    with(&field("proxyUrl", url))
}

/// `n` copies of `c`.
pub(super) fn rep(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// A hostname of exactly `len` characters (labels of at most 63).
pub(super) fn host_of_len(len: usize) -> String {
    let mut labels = Vec::new();
    let mut left = len;
    let mut c = b'a';
    while left > 0 {
        // Leave room for a dot and a one-character label after it.
        let n = if left > 63 { 63.min(left - 2) } else { left };
        labels.push(rep(c as char, n));
        // The label and the dot after it, if any.
        left = (left - n).saturating_sub(1);
        c += 1;
    }
    let h = labels.join(".");
    assert_eq!(h.len(), len);
    h
}

// The messages several bad cases share.
const SCHEME: &str = "domain must not contain a scheme";
const PATH: &str = "domain must not contain a path";
const LOWER: &str = "domain must be lowercase";
const PORT: &str = "port in domain must be a number from 1 to 65535";
const HTTPS: &str = "proxyUrl must be an https:// URL";
const ENUM: &str = r#"supported values: "Delete", "Orphan""#;
const BOOL: &str = "must be of type boolean";
const SECRET_NAME: &str = "secretRef.name must be a valid Secret name";
const SECRET_KEY: &str = "secretRef.key must be a valid Secret key";
const BOTH: &str = "set at most one of secretRef and instanceRef";
const KIND: &str = r#"supported values: "ClerkInstance", "ClusterClerkInstance""#;

pub(super) fn bad_cases() -> Vec<(String, &'static str)> {
    [
        bad_refs_and_domain_syntax(),
        bad_domain_shapes(),
        bad_options(),
        bad_fields_and_export(),
    ]
    .concat()
}

fn bad_refs_and_domain_syntax() -> Vec<(String, &'static str)> {
    vec![
        // instanceRef: not with secretRef, a known kind, a valid name.
        (
            with(
                "  instanceRef: {kind: ClerkInstance, name: web}
  secretRef: {name: clerk, key: k}
",
            ),
            BOTH,
        ),
        (
            with(
                "  instanceRef: {kind: Issuer, name: web}
",
            ),
            KIND,
        ),
        (
            with(
                "  instanceRef: {kind: ClerkInstance, name: Web_1}
",
            ),
            "instanceRef.name must be a valid object name",
        ),
        (
            with(
                "  instanceRef: {kind: ClerkInstance}
",
            ),
            "name: Required value",
        ),
        // domain: scheme, path, query, fragment.
        (domain("https://a.example.com"), SCHEME),
        (domain("http://a.example.com"), SCHEME),
        (domain("ftp://a.example.com"), SCHEME),
        (domain("a.example.com/path"), PATH),
        (domain("localhost:3000/"), PATH),
        (domain("a.example.com?x=1"), "domain must not contain a query (?)"),
        (
            domain("a.example.com#top"),
            "domain must not contain a fragment (#)",
        ),
        // Wildcards.
        (domain("*.example.com"), "domain must not be a wildcard"),
        (domain("a.*.example.com"), "domain must not be a wildcard"),
        // Whitespace.
        (domain("a .example.com"), "domain must not contain whitespace"),
        (domain(" a.example.com"), "domain must not contain whitespace"),
        (domain("a.example.com\t"), "domain must not contain whitespace"),
        (domain("a.exa\nmple.com"), "domain must not contain whitespace"),
        // Case.
        (domain("A.example.com"), LOWER),
        (domain("EXAMPLE.COM"), LOWER),
        // Empty or missing.
        (domain(""), "should be at least 1 chars long"),
        ("  isSatellite: true\n".into(), "spec.domain: Required value"),
    ]
}

fn bad_domain_shapes() -> Vec<(String, &'static str)> {
    vec![
        // Labels.
        (
            domain("-a.example.com"),
            "labels of domain must not start or end with a hyphen",
        ),
        (
            domain("a-.example.com"),
            "labels of domain must not start or end with a hyphen",
        ),
        (
            domain("a.example-.com:3000"),
            "labels of domain must not start or end with a hyphen",
        ),
        (domain(".example.com"), "domain must not start with a dot"),
        (domain("example.com."), "domain must not end with a dot"),
        (
            domain("a..example.com"),
            "domain must not contain empty labels (..)",
        ),
        (domain("a_b.example.com"), "domain must not contain underscores"),
        (
            domain(&format!("{}.example.com", rep('a', 64))),
            "each label of domain must be at most 63 characters",
        ),
        // Length.
        (domain(&host_of_len(254)), "domain must be at most 253 characters"),
        (
            domain(&format!("{}:3000", host_of_len(254))),
            "domain must be at most 253 characters",
        ),
        (
            domain(&host_of_len(300)),
            "Too long: may not be more than 259 bytes",
        ),
        // Ports.
        (domain("localhost:70000"), PORT),
        (domain("localhost:65536"), PORT),
        (domain("localhost:0"), PORT),
        (domain("localhost:abc"), PORT),
        (domain("localhost:"), PORT),
        (domain("localhost:-1"), PORT),
        (domain("localhost:3000:4000"), PORT),
        // Other syntax.
        (
            domain("[::1]:3000"),
            "domain must be a hostname, not an IP address literal in brackets",
        ),
        (
            domain("user@a.example.com"),
            "domain must not contain user info (@)",
        ),
        (domain("münchen.example.com"), "domain must be a hostname"),
        (domain("a%2e.example.com"), "domain must be a hostname"),
        (domain("a,b.example.com"), "domain must be a hostname"),
    ]
}

fn bad_options() -> Vec<(String, &'static str)> {
    vec![
        // proxyUrl.
        (proxy("http://app.example.com/__clerk"), HTTPS),
        (proxy("ftp://app.example.com/__clerk"), HTTPS),
        (proxy("app.example.com/__clerk"), HTTPS),
        (proxy("HTTPS://app.example.com/__clerk"), HTTPS),
        (proxy(""), HTTPS),
        (proxy("https://"), "proxyUrl must include a host"),
        (proxy("https:///__clerk"), "proxyUrl must include a host"),
        (
            proxy("https://app example.com/__clerk"),
            "proxyUrl must be a valid URL",
        ),
        (
            proxy(&format!("https://app.example.com/{}", rep('p', 2030))),
            "Too long: may not be more than 2048 bytes",
        ),
        // deletionPolicy.
        (with("  deletionPolicy: Keep\n"), ENUM),
        (with("  deletionPolicy: delete\n"), ENUM),
        (with("  deletionPolicy: \"\"\n"), ENUM),
        // Booleans.
        (with("  isSatellite: \"yes\"\n"), BOOL),
        (with("  isSatellite: 1\n"), BOOL),
        (with("  isSecondary: \"true\"\n"), BOOL),
        // secretRef.
        (
            with("  secretRef: {key: CLERK_SECRET_KEY}\n"),
            "spec.secretRef.name: Required value",
        ),
        (
            with("  secretRef: {name: clerk}\n"),
            "spec.secretRef.key: Required value",
        ),
        (with("  secretRef: {}\n"), "spec.secretRef.name: Required value"),
        (
            with("  secretRef: {name: \"\", key: k}\n"),
            "should be at least 1 chars long",
        ),
        (
            with("  secretRef: {name: clerk, key: \"\"}\n"),
            "should be at least 1 chars long",
        ),
        (with("  secretRef: {name: Clerk, key: k}\n"), SECRET_NAME),
        (with("  secretRef: {name: clerk_keys, key: k}\n"), SECRET_NAME),
        (with("  secretRef: {name: -clerk, key: k}\n"), SECRET_NAME),
        (with("  secretRef: {name: clerk/keys, key: k}\n"), SECRET_NAME),
        (
            with(&format!("  secretRef: {{name: {}, key: k}}\n", rep('a', 254))),
            "Too long: may not be more than 253 bytes",
        ),
        (with("  secretRef: {name: clerk, key: a/b}\n"), SECRET_KEY),
        (with("  secretRef: {name: clerk, key: \"a b\"}\n"), SECRET_KEY),
        (
            with("  secretRef: {name: clerk, key: ..k}\n"),
            "secretRef.key must not be '.' or start with '..'",
        ),
        (with("  secretRef: clerk\n"), "must be of type object"),
    ]
}

fn bad_fields_and_export() -> Vec<(String, &'static str)> {
    vec![
        // Unknown fields (kubectl apply asks for strict field validation).
        (with("  foo: bar\n"), "unknown field \"spec.foo\""),
        (
            with("  secretRef: {name: clerk, key: k, namespace: other}\n"),
            "unknown field \"spec.secretRef.namespace\"",
        ),
        (
            with("  proxyURL: https://app.example.com/__clerk\n"),
            "unknown field \"spec.proxyURL\"",
        ),
        // export: a ConfigMap name and an environment-variable prefix.
        (
            with("  export: {configMapName: App_Config}\n"),
            "export.configMapName must be a valid ConfigMap name",
        ),
        (
            with("  export: {configMapName: -app}\n"),
            "export.configMapName must be a valid ConfigMap name",
        ),
        (
            with("  export: {keyPrefix: NEXT_PUBLIC_}\n"),
            "configMapName: Required value",
        ),
        (
            with("  export: {configMapName: app, keyPrefix: next_public_}\n"),
            "export.keyPrefix may contain only uppercase letters",
        ),
        (
            with("  export: {configMapName: app, keyPrefix: 1X_}\n"),
            "export.keyPrefix may contain only uppercase letters",
        ),
        (
            with(&format!(
                "  export: {{configMapName: app, keyPrefix: {}}}\n",
                rep('A', 65)
            )),
            "Too long",
        ),
    ]
}

pub(super) fn good_cases() -> Vec<String> {
    vec![
        with("  instanceRef: {kind: ClerkInstance, name: web}\n"),
        with("  instanceRef: {kind: ClusterClerkInstance, name: shared.staging}\n"),
        domain("localhost:3000"),
        domain("localhost:1"),
        domain("localhost"),
        domain("a.example.com:65535"),
        domain("xn--bcher-kva.example.com"),
        domain("123.example.com"),
        domain("a-b--c.example.com"),
        domain(&format!("{}.example.com", rep('a', 63))),
        domain(&host_of_len(253)),
        domain(&format!("{}:65535", host_of_len(253))),
        proxy("https://app.example.com:8443/__clerk"),
        proxy("https://app.example.com"),
        with("  deletionPolicy: Orphan\n"),
        with("  deletionPolicy: Delete\n"),
        with("  isSatellite: false\n"),
        with("  isSatellite: true\n"),
        with("  isSecondary: true\n"),
        with("  isSecondary: false\n"),
        with("  secretRef: {name: clerk-keys.v1, key: CLERK_SECRET_KEY}\n"),
        with("  secretRef: {name: clerk, key: .secret-key_1}\n"),
        with("  export: {configMapName: app-clerk.v1}\n"),
        with("  export: {configMapName: app, keyPrefix: NEXT_PUBLIC_}\n"),
        with("  export: {configMapName: app, keyPrefix: \"\"}\n"),
        with(&format!("  secretRef: {{name: {}, key: k}}\n", host_of_len(253))),
        with(
            "  isSatellite: true\n  isSecondary: true\n  deletionPolicy: Orphan\n  proxyUrl: https://app.example.com/__clerk\n  secretRef: {name: clerk, key: CLERK_SECRET_KEY}\n",
        ),
    ]
}
