//! The reconcile decision as pure functions: given the spec, what the object remembers and what
//! Clerk reports, say what to do. No I/O here; the executor carries the decisions out.

use super::reason::Reason;
use crate::api::{ClerkDomainSpec, ClerkDomainStatus};
use crate::clerk::{CreateDomain, Domain, UpdateDomain};
use std::borrow::Borrow;

/// What the object remembers from earlier reconciles (its status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memory<'a> {
    /// `status.domainId`.
    pub(crate) domain_id: Option<&'a str>,
    /// `status.appliedIsSecondary`: Clerk does not report `is_secondary` back.
    pub(crate) applied_is_secondary: Option<bool>,
    /// Annotation `clerk-operator.io/domain-id`: adopt this domain rather than match by name.
    pub(crate) adopt_id: Option<&'a str>,
    /// Whether the key belongs to a production instance (`sk_live_`).
    pub(crate) production: bool,
    /// `status.pendingDomain`: a name this object asked Clerk to create, answer unseen.
    pub(crate) pending: Option<&'a str>,
    /// Whether the key source lets this object's namespace manage the primary domain
    /// (`allowPrimaryDomain`, `primaryDomainNamespaces`, `--primary-domain-namespaces`).
    pub(crate) primary_allowed: bool,
    /// `status.adopted`: the domain existed in Clerk before this object took it over.
    pub(crate) adopted: bool,
}

/// Who owns the other domains of the instance: the `namespace/name` of the ClerkDomain that
/// owns domain `id`, when that is another object than the one being planned.
pub(crate) trait Owners {
    fn other_owner(&self, domain_id: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Owners for F {
    fn other_owner(&self, domain_id: &str) -> Option<String> {
        self(domain_id)
    }
}

/// How the Clerk domain was found among the instance's domains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found<'d> {
    /// The domain the object owns: its recorded ID, or its own create whose answer was lost.
    Owned(&'d Domain),
    /// A domain nobody owns, to adopt: by the annotation's ID, or a primary by name.
    Adopt(&'d Domain),
    /// Not there.
    Missing,
}

/// Why the plan cannot go on.
type Refusal = (Reason, String);

/// The domains of a list, whether held directly or shared (`Arc<Domain>`, as the list cache
/// holds them).
fn each<D: Borrow<Domain>>(domains: &[D]) -> impl Iterator<Item = &Domain> {
    domains.iter().map(Borrow::borrow)
}

fn by_name<'d, D: Borrow<Domain>>(domains: &'d [D], name: &str) -> Option<&'d Domain> {
    each(domains).find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Find the object's domain. Owned domains are found by ID only. Adoption is explicit: the
/// annotation's ID adopts a domain nobody owns; a name finds a satellite only to refuse it
/// (`NameTakenInClerk`: someone else, perhaps another operator or cluster, created it), and
/// adopts only a primary (which nobody creates) or reports a kind mismatch.
pub(crate) fn find<'d, D: Borrow<Domain>>(
    domains: &'d [D],
    memory: &Memory<'_>,
    (name, is_satellite): (&str, bool),
    owners: &dyn Owners,
) -> Result<Found<'d>, Refusal> {
    if let Some(id) = memory.domain_id
        && let Some(d) = each(domains).find(|d| d.id == id)
    {
        return Ok(Found::Owned(d));
    }
    // Our own create whose answer was lost (perhaps under a name the spec has since left).
    if let Some(d) = memory.pending.and_then(|p| by_name(domains, p))
        && owners.other_owner(&d.id).is_none()
    {
        return Ok(Found::Owned(d));
    }
    if let Some(id) = memory.adopt_id
        && memory.domain_id.is_none_or(|known| known == id)
    {
        // An explicit adoption target is never replaced by a match on the name.
        let Some(d) = each(domains).find(|d| d.id == id) else {
            return Err((
                Reason::AdoptionTargetNotFound,
                format!(
                    "annotation clerk-operator.io/domain-id names {id}, which this Clerk instance does not \
                     have; fix or remove the annotation"
                ),
            ));
        };
        return match owners.other_owner(&d.id) {
            Some(owner) => Err(already_owned(d, &owner)),
            None => Ok(Found::Adopt(d)),
        };
    }
    match by_name(domains, name) {
        Some(d) => match owners.other_owner(&d.id) {
            Some(owner) if memory.domain_id.is_some() => Err(name_taken(d, &owner)),
            Some(owner) => Err(already_owned(d, &owner)),
            None if d.is_satellite && is_satellite => Err(taken_in_clerk(d)),
            None => Ok(Found::Adopt(d)),
        },
        None => Ok(Found::Missing),
    }
}

fn taken_in_clerk(d: &Domain) -> Refusal {
    (
        Reason::NameTakenInClerk,
        format!(
            "Clerk already has domain {} named {}, which this object did not create and no \
             ClerkDomain the operator sees owns (another operator, cluster or client may have \
             created it); this object leaves it alone. To take it over, set the annotation \
             clerk-operator.io/domain-id: {} (an adopted domain is kept in Clerk when the object \
             is deleted), or choose another name",
            d.id, d.name, d.id
        ),
    )
}

fn already_owned(d: &Domain, owner: &str) -> Refusal {
    (
        Reason::AlreadyOwned,
        format!(
            "Clerk domain {} ({}) is owned by ClerkDomain {owner}; a domain has one owner, so this \
             object leaves it alone (delete {owner}, with deletionPolicy: Orphan to keep the domain, \
             before another object may adopt it)",
            d.id, d.name
        ),
    )
}

fn name_taken(d: &Domain, owner: &str) -> Refusal {
    (
        Reason::NameTaken,
        format!(
            "cannot rename to {}: that name belongs to Clerk domain {} owned by ClerkDomain {owner}. \
             Clerk domain names are unique; to swap two names, first rename one of them to a \
             temporary name",
            d.name, d.id
        ),
    )
}

/// One step toward the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `POST /domains`. `recreate` is true when the object had a domain that has since vanished.
    Create { body: CreateDomain, recreate: bool },
    /// `PATCH /domains/{id}`. `adopt` is true when the object does not own the domain yet.
    Update {
        id: String,
        body: UpdateDomain,
        adopt: bool,
    },
    /// Clerk already matches the spec. `adopt` is true when the object does not own it yet.
    InSync { id: String, adopt: bool },
    /// The spec cannot be carried out; retrying will not help until it (or Clerk) changes.
    Invalid { reason: Reason, message: String },
}

impl From<Refusal> for Step {
    fn from((reason, message): Refusal) -> Self {
        Step::Invalid { reason, message }
    }
}

/// No domain of the spec's name is known: a satellite is created; a primary never is.
fn missing(spec: &ClerkDomainSpec, memory: &Memory<'_>) -> Step {
    if !spec.is_satellite {
        return Step::Invalid {
            reason: Reason::PrimaryDomainNotFound,
            message: format!(
                "isSatellite is false but the Clerk instance has no domain named {:?}; the \
                 operator never creates primary domains: set spec.domain to the instance's \
                 primary domain name",
                spec.domain
            ),
        };
    }
    Step::Create {
        body: CreateDomain {
            name: spec.domain.clone(),
            is_satellite: true,
            proxy_url: non_empty(spec.proxy_url.as_deref()).map(str::to_string),
        },
        recreate: memory.domain_id.is_some(),
    }
}

/// Why the found `domain` cannot be brought to `spec`: a satellite where the spec names the
/// primary (or the reverse), a primary's rename, or a rename into a name another domain holds.
fn refuse_found<D: Borrow<Domain>>(
    spec: &ClerkDomainSpec,
    domains: &[D],
    domain: &Domain,
    owners: &dyn Owners,
) -> Option<Step> {
    if domain.is_satellite != spec.is_satellite {
        let kind = |s: bool| if s { "a satellite" } else { "the primary" };
        return Some(Step::Invalid {
            reason: Reason::SatelliteMismatch,
            message: format!(
                "Clerk domain {} ({}) is {} domain but spec.isSatellite is {}",
                domain.id,
                domain.name,
                kind(domain.is_satellite),
                spec.is_satellite
            ),
        });
    }
    if domain.name.eq_ignore_ascii_case(&spec.domain) {
        return None;
    }
    if !spec.is_satellite {
        return Some(Step::Invalid {
            reason: Reason::PrimaryNameDiffers,
            message: format!(
                "Clerk's primary domain {} is named {} but spec.domain is {}: the operator never \
                 renames a primary domain (Clerk warns that it means downtime); rename it in the \
                 Clerk Dashboard, or set spec.domain to {} by re-creating this object",
                domain.id, domain.name, spec.domain, domain.name
            ),
        });
    }
    let holder = by_name(domains, &spec.domain).filter(|h| h.id != domain.id)?;
    Some(match owners.other_owner(&holder.id) {
        Some(owner) => name_taken(holder, &owner).into(),
        None => Step::Invalid {
            reason: Reason::NameTakenInClerk,
            message: format!(
                "cannot rename to {}: Clerk already has domain {} of that name, which no \
                 ClerkDomain the operator sees owns; delete it in Clerk, or adopt it with its own \
                 ClerkDomain (annotation clerk-operator.io/domain-id)",
                holder.name, holder.id
            ),
        },
    })
}

/// Decide the next step for `spec` given Clerk's `domains` and who owns them.
pub(crate) fn plan<D: Borrow<Domain>>(
    spec: &ClerkDomainSpec,
    memory: &Memory<'_>,
    domains: &[D],
    owners: &dyn Owners,
) -> Step {
    if memory.production && spec.domain.contains(':') {
        return Step::Invalid {
            reason: Reason::PortNotAllowed,
            message: format!(
                "domain {:?} has a port, which only development instances (sk_test_ keys) accept",
                spec.domain
            ),
        };
    }
    if !spec.is_satellite && !memory.primary_allowed {
        return primary_not_allowed(spec);
    }
    let found = match find(domains, memory, (&spec.domain, spec.is_satellite), owners) {
        Ok(f) => f,
        Err(refusal) => return refusal.into(),
    };
    let (domain, adopt) = match found {
        Found::Owned(d) => (d, false),
        Found::Adopt(d) => (d, true),
        Found::Missing => return missing(spec, memory),
    };
    if let Some(refused) = refuse_found(spec, domains, domain, owners) {
        return refused;
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

/// A primary domain managed from a namespace its key source does not allow.
fn primary_not_allowed(spec: &ClerkDomainSpec) -> Step {
    Step::Invalid {
        reason: Reason::PrimaryDomainNotAllowed,
        message: format!(
            "isSatellite is false: {} would be the Clerk instance's primary domain, which decides \
             where the whole instance's Frontend API is served, and this namespace may not manage \
             it; nothing was read or written in Clerk. The platform team allows it per instance \
             object (ClerkInstance spec.allowPrimaryDomain, ClusterClerkInstance \
             spec.primaryDomainNamespaces) or for the default key (--primary-domain-namespaces)",
            spec.domain
        ),
    }
}

/// The PATCH that brings `domain` to `spec`; empty when nothing differs.
fn diff(spec: &ClerkDomainSpec, memory: &Memory<'_>, domain: &Domain, adopt: bool) -> UpdateDomain {
    let mut body = UpdateDomain::default();
    if domain.name != spec.domain && spec.is_satellite {
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

/// The Clerk instance an object is pinned to: `status.instanceId`, but only while the object
/// owns something there (`status.domainId`, or a `status.pendingDomain` whose create may have
/// happened). An object that owns nothing may move to another key.
pub(crate) fn pinned_instance(status: Option<&ClerkDomainStatus>) -> Option<&str> {
    let st = status?;
    let owns = st.domain_id.is_some() || st.pending_domain.is_some();
    owns.then_some(st.instance_id.as_deref()).flatten()
}

mod cleanup;
pub(crate) use cleanup::{Cleanup, Release, cleanup_without_list, plan_cleanup};

#[cfg(test)]
mod tenancy_tests;
#[cfg(test)]
mod tests;
