//! The reconcile decision as pure functions: given the spec, what the object remembers and what
//! Clerk reports, say what to do. No I/O here; the executor carries the decisions out.

use crate::api::{ClerkDomainSpec, DeletionPolicy};
use crate::clerk::{CreateDomain, Domain, UpdateDomain};

/// What the object remembers from earlier reconciles (its status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory<'a> {
    /// `status.domainId`.
    pub domain_id: Option<&'a str>,
    /// `status.appliedIsSecondary`: Clerk does not report `is_secondary` back.
    pub applied_is_secondary: Option<bool>,
    /// Annotation `clerk-operator.io/domain-id`: adopt this domain rather than match by name.
    pub adopt_id: Option<&'a str>,
    /// Whether the key belongs to a production instance (`sk_live_`).
    pub production: bool,
    /// `status.pendingDomain`: a name this object asked Clerk to create, answer unseen.
    pub pending: Option<&'a str>,
}

/// How the Clerk domain was found among the instance's domains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found<'d> {
    /// By the ID the object remembers.
    ById(&'d Domain),
    /// By name: the object did not know this domain (adoption).
    ByName(&'d Domain),
    /// Not there.
    Missing,
}

/// Find the object's domain: by remembered ID first, else by name.
pub fn find<'d>(domains: &'d [Domain], memory: &Memory<'_>, name: &str) -> Found<'d> {
    if let Some(id) = memory.domain_id
        && let Some(d) = domains.iter().find(|d| d.id == id)
    {
        return Found::ById(d);
    }
    if let Some(id) = memory.adopt_id {
        // An explicit adoption target is never replaced by a match on the name.
        return match domains.iter().find(|d| d.id == id) {
            Some(d) => Found::ByName(d),
            None => Found::Missing,
        };
    }
    if let Some(d) = domains.iter().find(|d| d.name.eq_ignore_ascii_case(name)) {
        return Found::ByName(d);
    }
    // Our own create whose answer was lost, under a name the spec has since left.
    match memory
        .pending
        .and_then(|p| domains.iter().find(|d| d.name.eq_ignore_ascii_case(p)))
    {
        Some(d) => Found::ById(d),
        None => Found::Missing,
    }
}

/// One step toward the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `POST /domains`. `recreate` is true when the object had a domain that has since vanished.
    Create { body: CreateDomain, recreate: bool },
    /// `PATCH /domains/{id}`. `adopt` is true when the domain was found by name.
    Update {
        id: String,
        body: UpdateDomain,
        adopt: bool,
    },
    /// Clerk already matches the spec. `adopt` is true when the domain was found by name.
    InSync { id: String, adopt: bool },
    /// The spec cannot be carried out; retrying will not help until it changes.
    Invalid { reason: &'static str, message: String },
}

/// Decide the next step for `spec` given Clerk's `domains`.
pub fn plan(spec: &ClerkDomainSpec, memory: &Memory<'_>, domains: &[Domain]) -> Step {
    if memory.production && spec.domain.contains(':') {
        return Step::Invalid {
            reason: "PortNotAllowed",
            message: format!(
                "domain {:?} has a port, which only development instances (sk_test_ keys) accept",
                spec.domain
            ),
        };
    }
    let found = find(domains, memory, &spec.domain);
    if let (Found::Missing, Some(id)) = (found, memory.adopt_id)
        && memory.domain_id.is_none_or(|known| known == id)
    {
        return Step::Invalid {
            reason: "AdoptionTargetNotFound",
            message: format!(
                "annotation clerk-operator.io/domain-id names {id}, which this Clerk instance does not \
                 have; fix or remove the annotation"
            ),
        };
    }
    let (domain, adopt) = match found {
        Found::ById(d) => (d, false),
        Found::ByName(d) => (d, true),
        Found::Missing if !spec.is_satellite => {
            return Step::Invalid {
                reason: "PrimaryDomainNotFound",
                message: format!(
                    "isSatellite is false but the Clerk instance has no domain named {:?}; the \
                     operator never creates primary domains: set spec.domain to the instance's \
                     primary domain name",
                    spec.domain
                ),
            };
        }
        Found::Missing => {
            return Step::Create {
                body: CreateDomain {
                    name: spec.domain.clone(),
                    is_satellite: true,
                    proxy_url: non_empty(spec.proxy_url.as_deref()).map(str::to_string),
                },
                recreate: memory.domain_id.is_some(),
            };
        }
    };
    if domain.is_satellite != spec.is_satellite {
        let kind = |s: bool| if s { "a satellite" } else { "the primary" };
        return Step::Invalid {
            reason: "SatelliteMismatch",
            message: format!(
                "Clerk domain {} ({}) is {} domain but spec.isSatellite is {}",
                domain.id,
                domain.name,
                kind(domain.is_satellite),
                spec.is_satellite
            ),
        };
    }
    let body = diff(spec, memory, domain, adopt);
    if body.is_empty() {
        Step::InSync {
            id: domain.id.clone(),
            adopt,
        }
    } else {
        Step::Update {
            id: domain.id.clone(),
            body,
            adopt,
        }
    }
}

/// The PATCH that brings `domain` to `spec`; empty when nothing differs.
fn diff(spec: &ClerkDomainSpec, memory: &Memory<'_>, domain: &Domain, adopt: bool) -> UpdateDomain {
    let mut body = UpdateDomain::default();
    if domain.name != spec.domain {
        body.name = Some(spec.domain.clone());
    }
    let want_proxy = non_empty(spec.proxy_url.as_deref());
    if want_proxy != non_empty(domain.proxy_url.as_deref()) {
        body.proxy_url = Some(want_proxy.map(str::to_string));
    }
    if let Some(want) = spec.is_secondary {
        // Clerk does not report is_secondary: send it whenever we have not applied this value to
        // this very domain (a domain found by name may have any value).
        if adopt || memory.applied_is_secondary != Some(want) {
            body.is_secondary = Some(want);
        }
    }
    body
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// What to do when the object is being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// `DELETE /domains/{id}`.
    Delete { id: String },
    /// Release the finalizer without touching Clerk.
    Release(Release),
}

/// Why the finalizer is released without a DELETE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// `deletionPolicy: Orphan`.
    Orphaned,
    /// Primary domains are never deleted.
    PrimaryKept,
    /// Clerk has no such domain any more.
    AlreadyGone,
}

/// Why cleanup can release the finalizer without asking Clerk, if it can.
pub fn release_without_clerk(spec: &ClerkDomainSpec) -> Option<Release> {
    if spec.deletion_policy == DeletionPolicy::Orphan {
        Some(Release::Orphaned)
    } else if !spec.is_satellite {
        Some(Release::PrimaryKept)
    } else {
        None
    }
}

/// Decide how to clean up, given Clerk's `domains`.
pub fn plan_cleanup(spec: &ClerkDomainSpec, memory: &Memory<'_>, domains: &[Domain]) -> Cleanup {
    if let Some(release) = release_without_clerk(spec) {
        return Cleanup::Release(release);
    }
    match find(domains, memory, &spec.domain) {
        Found::Missing => Cleanup::Release(Release::AlreadyGone),
        Found::ById(d) | Found::ByName(d) if !d.is_satellite => Cleanup::Release(Release::PrimaryKept),
        Found::ById(d) | Found::ByName(d) => Cleanup::Delete { id: d.id.clone() },
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
