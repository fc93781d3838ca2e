//! DNS for a ClerkDomain's CNAME targets: publish them through external-dns ([`endpoint`]) and
//! check that they resolve as Clerk expects ([`verify`]).
//!
//! Both take targets through [`CnameLike`], so they accept the Clerk client's
//! [`crate::clerk::CnameTarget`] and plain `(host, value, required)` tuples alike.

pub mod endpoint;
pub mod verify;

pub use endpoint::{
    DNSEndpoint, DNSEndpointSpec, DNSEndpointStatus, Endpoint, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Owner,
    ProviderSpecificProperty, desired_endpoint,
};
pub use verify::{Problem, Verification, Verifier, VerifierConfig};

/// A CNAME record Clerk expects: `host` should be a CNAME to `value`. Only `required` ones count.
pub trait CnameLike {
    fn host(&self) -> &str;
    fn value(&self) -> &str;
    fn required(&self) -> bool;
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
