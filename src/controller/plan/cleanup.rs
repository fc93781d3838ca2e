//! The cleanup decision: what a terminating object deletes in Clerk, or why it lets go.

use super::{Memory, Owners, by_name};
use crate::api::{ClerkDomainSpec, DeletionPolicy};
use crate::clerk::Domain;
use std::borrow::Borrow;

/// What to do when the object is being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// `DELETE /domains/{id}` of the domain the object owns.
    Delete { id: String },
    /// Release the finalizer without touching Clerk.
    Release(Release),
}

/// Why the finalizer is released without a DELETE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// `deletionPolicy: Orphan`.
    Orphaned,
    /// Primary domains are never deleted.
    PrimaryKept,
    /// Clerk has no such domain any more.
    AlreadyGone,
    /// The object owns no Clerk domain: nothing to delete.
    NothingOwned,
    /// The domain existed in Clerk before the object adopted it: it is kept.
    AdoptedKept,
}

/// How cleanup can end without asking Clerk, if it can. An object that owns a domain (its
/// recorded ID) deletes it by that ID without a list; only a create whose answer was lost needs
/// a look at Clerk.
pub(crate) fn cleanup_without_list(spec: &ClerkDomainSpec, memory: &Memory<'_>) -> Option<Cleanup> {
    if spec.deletion_policy == DeletionPolicy::Orphan {
        Some(Cleanup::Release(Release::Orphaned))
    } else if !spec.is_satellite {
        Some(Cleanup::Release(Release::PrimaryKept))
    } else if memory.adopted {
        Some(Cleanup::Release(Release::AdoptedKept))
    } else if let Some(id) = memory.domain_id {
        Some(Cleanup::Delete { id: id.to_string() })
    } else if memory.pending.is_none() {
        Some(Cleanup::Release(Release::NothingOwned))
    } else {
        None
    }
}

/// Decide how to clean up, given Clerk's `domains`: never by the spec's name, only by what the
/// object owns (its recorded ID, or its own create whose answer was lost).
pub(crate) fn plan_cleanup<D: Borrow<Domain>>(
    spec: &ClerkDomainSpec,
    memory: &Memory<'_>,
    domains: &[D],
    owners: &dyn Owners,
) -> Cleanup {
    if let Some(c) = cleanup_without_list(spec, memory) {
        return c;
    }
    let pending = memory
        .pending
        .and_then(|p| by_name(domains, p))
        .filter(|d| owners.other_owner(&d.id).is_none());
    match pending {
        Some(d) if !d.is_satellite => Cleanup::Release(Release::PrimaryKept),
        Some(d) => Cleanup::Delete { id: d.id.clone() },
        None => Cleanup::Release(Release::NothingOwned),
    }
}
