//! DNS for the records Clerk expects for a ClerkDomain (CNAMEs and TXT): publish them through
//! external-dns ([`endpoint`]) and check that they resolve as Clerk expects ([`verify`]).
//!
//! Both take records through [`CnameLike`], so they accept the Clerk client's
//! [`crate::clerk::CnameTarget`] and [`crate::clerk::DnsTarget`] and plain
//! `(host, value, required)` tuples (CNAMEs) alike.

pub mod endpoint;
pub mod verify;

pub use endpoint::{
    DNSEndpoint, DNSEndpointSpec, DNSEndpointStatus, Endpoint, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Owner,
    ProviderSpecificProperty, desired_endpoint,
};
pub use verify::{Problem, Verification, Verifier, VerifierConfig};

/// A record Clerk expects: `host` should hold a record of `record_type` (a CNAME unless said
/// otherwise) with `value`. Only `required` ones count.
pub trait CnameLike {
    fn host(&self) -> &str;
    fn value(&self) -> &str;
    fn required(&self) -> bool;
    /// `CNAME`, `TXT`, ... as Clerk spells it.
    fn record_type(&self) -> &str {
        "CNAME"
    }
}

impl CnameLike for crate::clerk::DnsTarget {
    fn host(&self) -> &str {
        &self.host
    }
    fn value(&self) -> &str {
        &self.value
    }
    fn required(&self) -> bool {
        self.required
    }
    fn record_type(&self) -> &str {
        &self.record_type
    }
}

impl CnameLike for crate::clerk::CnameTarget {
    fn host(&self) -> &str {
        &self.host
    }
    fn value(&self) -> &str {
        &self.value
    }
    fn required(&self) -> bool {
        self.required
    }
}

impl<H: AsRef<str>, V: AsRef<str>> CnameLike for (H, V, bool) {
    fn host(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
    fn required(&self) -> bool {
        self.2
    }
}

/// A DNS name compared as DNS compares it: lowercase, without the trailing root dot.
pub fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}
