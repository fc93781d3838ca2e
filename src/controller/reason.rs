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
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident => $class:ident,)*) => {
        /// A condition reason (CamelCase, as Kubernetes conventions want).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason { $($(#[$doc])* $name,)* }

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
        }
    };
}

reasons! {
    /// `Ready=True`: the domain is registered on the pinned instance and matches the spec.
    Registered => Ok,
    /// `Synced=True`: the last reconcile found Clerk matching the spec.
    InSync => Ok,
    /// An instance object's `Ready=True`: its key works and belongs to the pinned instance.
    Verified => Ok,
    /// Annotation `clerk-operator.io/paused` is `"true"`.
    Paused => Paused,
    /// `Ready=False` while Clerk has not applied the current generation yet (the registered
    /// domain stays in status).
    UpdatePending => Transient,
    /// A new object: the operator has begun looking at Clerk.
    Progressing => Transient,
    /// A create was sent and its answer is awaited.
    Creating => Transient,
    ClerkUnreachable => Transient,
    ClerkUnavailable => Transient,
    ClerkRateLimited => Transient,
    ClerkResponseInvalid => Transient,
    ClerkNotFound => Transient,
    ClerkError => Transient,
    /// This process does not hold the leader Lease (any more): it does not write to Clerk.
    NotLeader => Transient,
    CredentialsUnreadable => Transient,
    /// The instance object the ClerkDomain uses has not been checked with Clerk yet (or is
    /// retrying a transient failure).
    InstanceNotReady => Transient,
    /// Writing the object's status failed (so no create was sent).
    StatusWriteFailed => Transient,
    /// Clerk kept changing under the operator's steps.
    NotConverging => Transient,
    ClerkUnauthorized => Terminal,
    ClerkPaymentRequired => Terminal,
    ClerkForbidden => Terminal,
    ClerkRejected => Terminal,
    /// The Secret named by `spec.secretRef` does not exist.
    SecretNotFound => Terminal,
    /// The key is missing from the Secret, empty, or there is no default key.
    CredentialsNotFound => Terminal,
    /// The operator's default key may not be used from this namespace.
    DefaultKeyNotAllowed => Terminal,
    /// The key now belongs to another Clerk instance than `status.instanceId`.
    InstanceChanged => Terminal,
    /// An instance object's key is refused by Clerk (401), in Clerk's words.
    InvalidKey => Terminal,
    /// The ClerkInstance or ClusterClerkInstance named by `spec.instanceRef` (or
    /// `--default-instance`) does not exist.
    InstanceNotFound => Terminal,
    /// The instance object the ClerkDomain uses is `Stalled` (its message says why).
    InstanceStalled => Terminal,
    /// The ClusterClerkInstance's `namespaceSelector` does not select the ClerkDomain's
    /// namespace.
    NamespaceNotAllowed => Terminal,
    /// A ClusterClerkInstance is named, but the operator watches one namespace (`--namespace`)
    /// and serves no cluster-scoped instance objects.
    ClusterInstancesNotServed => Terminal,
    /// The Clerk domain to adopt (by name or annotation) is owned by another ClerkDomain.
    AlreadyOwned => Terminal,
    /// The new `spec.domain` is the name of a Clerk domain another ClerkDomain owns.
    NameTaken => Terminal,
    /// Another, older ClerkDomain records the same Clerk domain (state from before ownership).
    Conflict => Terminal,
    PortNotAllowed => Terminal,
    PrimaryDomainNotFound => Terminal,
    /// Clerk's primary domain has another name than `spec.domain`: the operator never renames
    /// a primary domain.
    PrimaryNameDiffers => Terminal,
    SatelliteMismatch => Terminal,
    AdoptionTargetNotFound => Terminal,
    /// An annotation under `clerk-operator.io/` is malformed.
    InvalidAnnotation => Terminal,
    /// Cleanup cannot delete the domain; the message says how to release the object.
    DeletionBlocked => Terminal,
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
