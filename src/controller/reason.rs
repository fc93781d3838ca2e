//! Every condition reason the operator writes, as one typed enum. Its [`Class`] decides what a
//! reason means for `Ready`, `Reconciling` and `Stalled`: no other code matches reason strings.

use crate::clerk::ClerkError;

/// What a reason says about the object's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Clerk matches the spec.
    Ok,
    /// Retrying may help: `Reconciling=True`, backoff.
    Transient,
    /// Retrying cannot help until the spec, the Secret or Clerk changes: `Stalled=True`.
    Terminal,
    /// The user paused the object.
    Paused,
    /// The result of an informational check (`FrontendAPIReachable`): it never changes
    /// `Ready`, `Reconciling` or `Stalled`.
    Check,
}

macro_rules! reasons {
    ($($name:ident => $class:ident, $meaning:literal, $action:literal,)*) => {
        /// A condition reason (CamelCase, as Kubernetes conventions want).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason { $(#[doc = $meaning] $name,)* }

        impl Reason {
            /// Every reason, for tables and documentation.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// The reason as written to conditions and Events.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$name => stringify!($name),)* }
            }

            /// What the reason means for health.
            pub fn class(self) -> Class {
                match self { $(Reason::$name => Class::$class,)* }
            }

            /// What the reason means, for the user.
            pub fn meaning(self) -> &'static str {
                match self { $(Reason::$name => $meaning,)* }
            }

            /// What the user does about it.
            pub fn action(self) -> &'static str {
                match self { $(Reason::$name => $action,)* }
            }
        }
    };
}

reasons! {
    Registered => Ok,
        "`Ready=True`: the domain is registered on the pinned instance and matches the spec.",
        "Nothing: healthy.",
    InSync => Ok,
        "`Synced=True`: the last reconcile found Clerk matching the spec.",
        "Nothing: healthy.",
    Verified => Ok,
        "An instance object's `Ready=True`: its key works and belongs to the pinned instance.",
        "Nothing: healthy.",
    Paused => Paused,
        "The annotation `clerk-operator.io/paused: \"true\"` is set: no Clerk calls.",
        "Remove the annotation to resume.",
    ClerkCheckComplete => Check,
        "A Platform API condition (`ClerkDNSVerified`, `SSLIssued`, `MailVerified`, `ClerkProxyVerified`) is True: Clerk reports the check `complete`.",
        "Nothing: healthy.",
    ClerkCheckNotRequired => Check,
        "A Platform API condition is True because Clerk does not require the check for this domain (`required: false`).",
        "Nothing: healthy.",
    UpdatePending => Transient,
        "`Ready=False` while Clerk has not applied the current generation yet; the registered domain stays in status.",
        "Nothing, unless `Synced` shows a failure: then act on that reason.",
    Progressing => Transient,
        "A new object: the operator has begun looking at Clerk.",
        "Nothing; it becomes `Registered` within a reconcile or two.",
    Creating => Transient,
        "A create was sent and its answer is awaited.",
        "Nothing. If it persists, the answer was lost: the next reconcile finds the domain by `status.pendingDomain`.",
    ClerkUnreachable => Transient,
        "No answer from Clerk: DNS, TCP, TLS or a timeout (`--clerk-timeout`).",
        "Check egress from the operator's pod to `api.clerk.com` (a NetworkPolicy's `egress` rules, a proxy) and Clerk's status page.",
    ClerkUnavailable => Transient,
        "Clerk answered 5xx.",
        "Wait; check Clerk's status page.",
    ClerkRateLimited => Transient,
        "Clerk answered 429, or the instance is paused after one; the object is requeued after the pause.",
        "Nothing if rare. If frequent, another client shares the instance's budget: lower `--rate-limit-*` ([Clerk's rate limits](../concepts/rate-limits.md)).",
    RateBudgetWait => Transient,
        "A new object waits for its turn in the instance's client-side rate budget (`--rate-limit-*`), which other objects of the instance are spending; it is requeued for its turn without holding a worker.",
        "Nothing; many objects of one instance created at once take the instance's limit to converge ([Clerk's rate limits](../concepts/rate-limits.md)).",
    ClerkResponseInvalid => Transient,
        "Clerk's answer could not be read.",
        "Usually passes; if it persists, check `--clerk-api-url` and `--clerk-api-version`.",
    ClerkNotFound => Transient,
        "Clerk answered 404 where a domain was expected (e.g. deleted between list and patch).",
        "Nothing; the next reconcile re-lists and recreates it if needed.",
    ClerkError => Transient,
        "Clerk answered another unexpected status.",
        "Read the message; retried with backoff.",
    NotLeader => Transient,
        "This process does not hold the leader Lease, so it did not write to Clerk.",
        "Nothing during a failover; if it persists, check the Lease (`kubectl -n clerk-system get lease`) and the pods' logs.",
    CredentialsUnreadable => Transient,
        "The Secret with the key could not be read from the API server.",
        "Check the API server and the operator's RBAC on Secrets in that namespace.",
    InstanceNotReady => Transient,
        "The ClerkInstance or ClusterClerkInstance used has not been checked with Clerk yet, or is retrying a transient failure.",
        "Look at the instance object's conditions.",
    StatusWriteFailed => Transient,
        "Writing the object's status failed, so no create was sent.",
        "Check the API server and RBAC on `clerkdomains/status`.",
    NotConverging => Transient,
        "Clerk kept changing under the operator's steps (another client editing the same domain).",
        "Find the other writer (a script, the Dashboard) and stop it.",
    ClerkCheckPending => Check,
        "A Platform API condition is False: Clerk has not completed the check yet (`not_started`, `in_progress`, ...). Informational: `Ready` is unaffected.",
        "Wait: the operator reads Clerk's status again after 15 s, growing to every 5 minutes. Set `clerk-operator.io/reconcile-requested-at` to start a new DNS check in Clerk.",
    ClerkCheckRunning => Check,
        "A Platform API condition is False: a DNS check is running in Clerk or ran moments ago (Clerk answered 409 to a new one).",
        "Wait: the operator reads the result as it does for `ClerkCheckPending`.",
    PlatformUnavailable => Check,
        "A Platform API condition is Unknown: Clerk's Platform API did not answer usefully (connection, timeout, 5xx, 429).",
        "Nothing, usually: the next reconcile asks again. Check `--clerk-platform-api-url` and egress to Clerk if it persists.",
    ClerkUnauthorized => Terminal,
        "Clerk answered 401: the key is wrong or revoked.",
        "Put a valid key in the Secret; the change wakes the object.",
    ClerkPaymentRequired => Terminal,
        "Clerk answered 402: the plan does not include the feature (satellite domains are a paid add-on).",
        "Upgrade the Clerk plan, or delete the object with `deletionPolicy: Orphan`.",
    ClerkForbidden => Terminal,
        "Clerk answered 403: the key may not do this to the instance.",
        "Read Clerk's message in the condition; change the spec.",
    ClerkRejected => Terminal,
        "Clerk answered 400 or 422, e.g. the name is taken by a domain of another instance, or an invalid proxy URL. Clerk's `long_message` is in the condition.",
        "Change the spec as the message says.",
    SecretNotFound => Terminal,
        "The Secret named by `spec.secretRef` (or by the instance object) does not exist.",
        "Create it. With Secret protection (`--secret-protection`) its creation wakes the object; without it the object looks again every `--secret-cache-ttl` (default 1 minute).",
    CredentialsNotFound => Terminal,
        "The key is missing from the Secret or empty, or there is no default key.",
        "Add the key to the Secret, set `secretRef`/`instanceRef`, or give the operator a default key.",
    DefaultKeyNotAllowed => Terminal,
        "The operator's default key may not be used from this namespace (`--default-key-namespaces`).",
        "Set `spec.secretRef` or `spec.instanceRef`, or add the namespace to `defaultKeyNamespaces`.",
    InstanceChanged => Terminal,
        "The key now belongs to another Clerk instance than `status.instanceId`; nothing is written anywhere.",
        "Put the old key back. To move to another instance, create a new object ([Ownership](../concepts/ownership.md#the-pinned-instance)).",
    InvalidKey => Terminal,
        "An instance object's key is refused by Clerk (401), in Clerk's words.",
        "Fix the key in the instance object's Secret.",
    InstanceNotFound => Terminal,
        "The ClerkInstance or ClusterClerkInstance named by `spec.instanceRef` (or `--default-instance`) does not exist.",
        "Create it, or fix the name.",
    InstanceStalled => Terminal,
        "The instance object the ClerkDomain uses is `Stalled`; its message says why.",
        "Fix the instance object (usually `InvalidKey` or `SecretNotFound`).",
    NamespaceNotAllowed => Terminal,
        "The ClusterClerkInstance's `namespaceSelector` does not select the ClerkDomain's namespace.",
        "Label the namespace, or use another instance ([Multi-tenancy](../guides/multi-tenancy.md)).",
    ClusterInstancesNotServed => Terminal,
        "A ClusterClerkInstance is named, but the operator watches one namespace (`--namespace`) and serves none.",
        "Use a ClerkInstance of the namespace, or run the operator for all namespaces.",
    AlreadyOwned => Terminal,
        "The Clerk domain to adopt (by name or annotation) is owned by another ClerkDomain, named in the message.",
        "Choose another name, or release the domain from its owner (delete the owner with `deletionPolicy: Orphan`); the object is woken when the owner goes.",
    NameTakenInClerk => Terminal,
        "A satellite of that name already exists in Clerk, and this object did not create it (another operator, cluster or client did, or it was adopted elsewhere). Adoption is explicit: the object leaves it alone and deleting the object deletes nothing.",
        "Choose another name, or take the domain over with the annotation `clerk-operator.io/domain-id` ([Ownership](../concepts/ownership.md#adoption)); an adopted domain is kept in Clerk when the object is deleted.",
    PrimaryDomainNotAllowed => Terminal,
        "`isSatellite: false` from a namespace the key source does not allow to manage the instance's primary domain; nothing is read or written in Clerk.",
        "Ask the platform team: ClerkInstance `spec.allowPrimaryDomain`, ClusterClerkInstance `spec.primaryDomainNamespaces`, or `--primary-domain-namespaces` for the default key ([Multi-tenancy](../guides/multi-tenancy.md#primary-domains)).",
    CredentialsNamespaceNotSet => Terminal,
        "A ClusterClerkInstance cannot be used: the operator was started without `--credentials-namespace`, the namespace of ClusterClerkInstances' Secrets.",
        "Start the operator with `--credentials-namespace` (the chart sets it to the release namespace).",
    NameTaken => Terminal,
        "The new `spec.domain` is the name of a Clerk domain another ClerkDomain owns. The object keeps its domain under the old name.",
        "Choose another name; to swap two names, rename one to a temporary name first.",
    Conflict => Terminal,
        "Another, older ClerkDomain records the same Clerk domain.",
        "Delete the newer object with `deletionPolicy: Orphan`.",
    PortNotAllowed => Terminal,
        "`spec.domain` has a `:port`, which only development instances (`sk_test_` keys) accept.",
        "Remove the port, or use a development key.",
    PrimaryDomainNotFound => Terminal,
        "`isSatellite: false`, but the instance has no domain of that name; the operator never creates primary domains.",
        "Set `spec.domain` to the instance's primary domain name (re-create the object: it is immutable).",
    PrimaryNameDiffers => Terminal,
        "Clerk's primary domain has another name than `spec.domain`; the operator never renames a primary.",
        "Rename it in the Clerk Dashboard, or re-create the object with Clerk's name.",
    SatelliteMismatch => Terminal,
        "The Clerk domain found is a satellite while `spec.isSatellite` is `false`, or the other way round.",
        "Re-create the object with the right `isSatellite` (it is immutable).",
    AdoptionTargetNotFound => Terminal,
        "The annotation `clerk-operator.io/domain-id` names a domain this instance does not have.",
        "Fix or remove the annotation.",
    InvalidAnnotation => Terminal,
        "An annotation under `clerk-operator.io/` is malformed.",
        "Fix it ([Annotations](../reference/annotations.md)).",
    FrontendAPIHealthy => Check,
        "`FrontendAPIReachable=True`: `GET https://<frontend API host>/v1/health` answered 200 `{\"status\":\"healthy\"}` through the domain's own record and certificate.",
        "Nothing: sign-in through the domain's Frontend API works end to end.",
    FrontendAPIUnhealthy => Check,
        "Clerk's side: the health endpoint answered `{\"status\":\"unhealthy\"}` (503); Clerk's message is in the condition.",
        "Nothing on your side; check Clerk's status page. Rechecked with backoff.",
    FrontendAPITargetUnresolved => Check,
        "Clerk's side: the domain's record points at Clerk's target, but that target does not resolve (NXDOMAIN).",
        "Nothing on your side; check Clerk's status page. Rechecked with backoff.",
    FrontendAPIRecordMissing => Check,
        "Your record: the Frontend API host does not exist (NXDOMAIN) or has no address.",
        "Create the `clerk.` CNAME of `status.dnsRecords` (or let external-dns publish it); see `DNSVerified`.",
    FrontendAPIRecordWrong => Check,
        "Your record: the Frontend API host's CNAME points elsewhere than Clerk's target, which does not resolve.",
        "Point the CNAME at the value in `status.dnsRecords`.",
    FrontendAPICertificateInvalid => Check,
        "Your record or certificate: the TLS handshake with the Frontend API host failed (a certificate not valid for the host, or from an untrusted CA), e.g. because the name reaches something else than Clerk.",
        "Make the host's CNAME point at Clerk (not at a proxy or CDN that presents its own certificate), or wait for Clerk to issue the certificate; a corporate TLS-inspecting CA goes in `--extra-ca-file`.",
    FrontendAPIWrongAnswer => Check,
        "Your record: the host answered, but not as Clerk's health endpoint does (another status or body), so the name reaches something else.",
        "Check where the host's record points; the message shows the answer.",
    FrontendAPIUnreachable => Check,
        "No answer: the host's lookup failed (timeout, SERVFAIL), the connection was refused, or it timed out.",
        "Check egress from the operator's pod to the host on port 443 and the resolver (`--dns-resolver`). Rechecked with backoff.",
    ProxyHealthy => Check,
        "An Event of the proxy-health probe: `GET <spec.proxyUrl>/v1/proxy-health` through the proxy answered healthy, and the `X-Forwarded-For` value Clerk saw (in `ProxyVerified`'s message) is a public address.",
        "Nothing: the proxy forwards to Clerk with the headers Clerk's proxy guide asks for.",
    ProxyForwardedAddressSuspect => Check,
        "An Event of the proxy-health probe: Clerk saw an `X-Forwarded-For` value that is no end user's address: loopback, private, link-local, CGNAT or unique-local, a CDN's edge (Cloudflare's published ranges), or no address. A warning: `ProxyVerified` keeps Clerk's verdict.",
        "Make the proxy forward the original client address as the first `X-Forwarded-For` value (behind a CDN or load balancer: the client address it passes on, not `$remote_addr`). When the operator reaches the proxy from inside a private network, a private address can be its own: check with a request from outside.",
    ProxyHealthFailed => Check,
        "An Event of the proxy-health probe: `GET <spec.proxyUrl>/v1/proxy-health` did not answer healthy (no answer, TLS failure, Clerk's `unhealthy` or error answer, or not Clerk answering); the message says which. A warning: `ProxyVerified` keeps Clerk's verdict.",
        "Check the proxy: its route to Clerk's Frontend API and the headers `Clerk-Proxy-Url`, `Clerk-Secret-Key` and `X-Forwarded-For` it adds. Rechecked with backoff.",
    DeletionBlocked => Terminal,
        "Cleanup cannot delete the domain (no key, 401/403, `InstanceChanged`); the message says how to release the object.",
        "Restore the key, or set `spec.deletionPolicy: Orphan` on the terminating object ([Deletion policy](../concepts/deletion-policy.md)).",
    ClerkCheckFailed => Check,
        "A Platform API condition is False: Clerk reports that a required check failed; Clerk's failure hints are in the message. It informs (no `Stalled`); Argo CD's health check reports the object Degraded.",
        "Fix what the hints say (a CAA record blocking SSL, a missing record), then set `clerk-operator.io/reconcile-requested-at` so that Clerk checks again.",
    PlatformTokenUnreadable => Check,
        "The Platform API conditions are Unknown: the token's Secret (`spec.platform.tokenSecretRef` of the instance object) is missing or has no such key.",
        "Create the Secret, or fix the reference on the ClerkInstance or ClusterClerkInstance.",
    PlatformUnauthorized => Check,
        "The Platform API conditions are Unknown: Clerk refused the Platform API access token (401 or 403). The token is never shown.",
        "Put a valid Platform API access token into the Secret of `spec.platform.tokenSecretRef`.",
    PlatformNotFound => Check,
        "The Platform API conditions are Unknown: Clerk's Platform API knows no such application (`spec.platform.applicationId`) or no such domain in it (404).",
        "Set `spec.platform.applicationId` to the application the instance belongs to.",
}

/// Every reason as Markdown: one table per class, with what it means and what to do
/// (`clerk-operator reasons`, the generated troubleshooting reference).
pub fn markdown() -> String {
    let sections = [
        ("Healthy", &[Class::Ok, Class::Paused][..]),
        (
            "Transient: the operator retries with backoff (`Reconciling=True`)",
            &[Class::Transient],
        ),
        (
            "Terminal: a person is needed (`Stalled=True`)",
            &[Class::Terminal],
        ),
        (
            "Checks: `FrontendAPIReachable`, the proxy-health Events and the Platform API conditions (they inform; never `Ready`, `Reconciling` or `Stalled`)",
            &[Class::Check],
        ),
    ];
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    for (title, classes) in sections {
        out.push_str(&format!(
            "## {title}\n\n| Reason | Meaning | What to do |\n|---|---|---|\n"
        ));
        for r in Reason::ALL.iter().filter(|r| classes.contains(&r.class())) {
            let (meaning, action) = (cell(r.meaning()), cell(r.action()));
            out.push_str(&format!("| `{}` | {meaning} | {action} |\n", r.as_str()));
        }
        out.push('\n');
    }
    out
}

impl Reason {
    /// The reason for a Clerk error (its HTTP status, or the transport failure).
    pub fn from_clerk(e: &ClerkError) -> Reason {
        let named = e.reason();
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == named)
            .unwrap_or(if e.is_terminal() {
                Reason::ClerkRejected
            } else {
                Reason::ClerkError
            })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clerk::{ClerkApiError, ClerkError};

    fn api(status: u16) -> ClerkError {
        ClerkError::Api {
            operation: "ListDomains",
            error: ClerkApiError {
                status,
                errors: vec![],
                trace_id: None,
                retry_after: None,
            },
        }
    }

    #[test]
    fn clerk_statuses_map_to_classes() {
        let table = [
            (400, Reason::ClerkRejected, Class::Terminal),
            (401, Reason::ClerkUnauthorized, Class::Terminal),
            (402, Reason::ClerkPaymentRequired, Class::Terminal),
            (403, Reason::ClerkForbidden, Class::Terminal),
            (422, Reason::ClerkRejected, Class::Terminal),
            (429, Reason::ClerkRateLimited, Class::Transient),
            (500, Reason::ClerkUnavailable, Class::Transient),
            (503, Reason::ClerkUnavailable, Class::Transient),
        ];
        for (status, reason, class) in table {
            let r = Reason::from_clerk(&api(status));
            assert_eq!((r, r.class()), (reason, class), "{status}");
        }
    }

    #[test]
    fn every_clerk_reason_is_a_variant() {
        for status in [400, 401, 402, 403, 404, 409, 418, 422, 429, 500, 502, 503] {
            let e = api(status);
            assert_eq!(Reason::from_clerk(&e).as_str(), e.reason(), "{status}");
        }
    }

    #[test]
    fn names_are_unique_camel_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars().next().unwrap().is_ascii_uppercase()
                    && s.chars().all(|c| c.is_ascii_alphanumeric())
            );
        }
    }
}
