//! Deletion: delete the satellite the object owns from Clerk, by its ID on the pinned instance
//! (or leave it, and say why), then let the finalizer go.
//!
//! The policy: an object deletes only the domain it owns (created), never a domain found by its
//! name or adopted. Cleanup ends without deleting when `deletionPolicy` is `Orphan`, the domain
//! is a primary or was adopted, the object is paused, owns nothing, an older object owns the
//! domain, or its key is gone for good (the Secret or instance object confirmed absent by the
//! API server, the instance object not served or `Stalled`): then with a Warning Event. A
//! namespace's permission to use a shared key is not asked again at deletion, so narrowing a
//! ClusterClerkInstance's selector never makes a namespace's deletion hang. When deleting fails for a reason retrying cannot fix (the key is missing from the
//! Secret, no default key, Clerk answers 401/403, the key moved to another instance), the
//! object stays, says why (`Stalled`, an Event), and is released by setting
//! `spec.deletionPolicy: Orphan` on it; transient failures are retried with backoff.

use super::failure::Failure;
use super::plan::{self, Cleanup, Memory, Release};
use super::reason::{Class, Reason};
use super::status::{Extras, Outcome};
use super::steps::{self, key, write_status};
use super::{Context, Error, events};
use crate::api::ClerkDomain;
use crate::api::annotations;
use kube::runtime::controller::Action;

/// Clean up `obj`, which is being deleted.
pub(super) async fn cleanup(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let result = decide_and_act(obj, ctx).await;
    if result.is_ok() {
        ctx.memory.note_success(&key(obj));
        ctx.memory.secrets_changed.notify_one();
    }
    result
}

async fn decide_and_act(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let status = obj.status.clone().unwrap_or_default();
    let id = status.domain_id.clone().unwrap_or_else(|| "(none)".into());
    let name = &obj.spec.domain;
    let notes = annotations::parse(obj.metadata.annotations.as_ref());
    if notes.paused {
        let note = format!(
            "Left Clerk domain {id} ({name}) in place: the object is paused ({})",
            annotations::PAUSED
        );
        events::normal(ctx, obj, "Orphaned", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let memory = Memory {
        domain_id: status.domain_id.as_deref(),
        pending: status.pending_domain.as_deref(),
        adopted: status.adopted == Some(true),
        ..Default::default()
    };
    let without_list = plan::cleanup_without_list(&obj.spec, &memory);
    if let Some(Cleanup::Release(why)) = without_list {
        return release(ctx, obj, why, &id).await;
    }
    let target = match steps::resolve(ctx, obj, steps::Purpose::Cleanup).await {
        Ok(t) => t,
        Err(f) if key_gone(f.reason) => {
            // The key is gone for good (its absence confirmed by the API server) or no longer
            // usable: waiting cannot help, and the object must not hang.
            let note = format!("Left Clerk domain {id} ({name}) in place: {}", f.message);
            events::warning(ctx, obj, "Orphaned", "Delete", note).await;
            return Ok(Action::await_change());
        }
        Err(f) => return cleanup_failed(obj, ctx, f).await,
    };
    if let Err(owner) = steps::check_owner(ctx, obj, &target.instance_id) {
        let note = format!("Left Clerk domain {id} ({name}) in place: ClerkDomain {owner} owns it");
        events::normal(ctx, obj, "Orphaned", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let decision = match without_list {
        Some(c) => c,
        None => {
            let domains = match target.clerk.list_domains().await {
                Ok(l) => l,
                Err(e) => return cleanup_failed(obj, ctx, Failure::clerk(&e, None)).await,
            };
            let owners = steps::OwnersOf::new(ctx, obj, &target.instance_id);
            plan::plan_cleanup(&obj.spec, &memory, &domains, &owners)
        }
    };
    match decision {
        Cleanup::Delete { id } => delete(ctx, obj, &target, &id).await,
        Cleanup::Release(why) => release(ctx, obj, why, &id).await,
    }
}

/// `DELETE /domains/{id}` of the domain the object owns; a 404 means it was already gone.
async fn delete(ctx: &Context, obj: &ClerkDomain, target: &steps::Target, id: &str) -> Result<Action, Error> {
    match target.clerk.delete_domain(id).await {
        Ok(_) => {
            let note = format!("Deleted Clerk domain {id} ({})", obj.spec.domain);
            events::normal(ctx, obj, "Deleted", "Delete", note).await;
            Ok(Action::await_change())
        }
        Err(e) if e.is_not_found() => release(ctx, obj, Release::AlreadyGone, id).await,
        Err(e) => cleanup_failed(obj, ctx, Failure::clerk(&e, None)).await,
    }
}

/// Failures after which cleanup lets go of the object with a Warning instead of retrying: the
/// Secret or instance object is gone (a direct read from the API server said so), the operator
/// does not serve the instance object, or the instance object is `Stalled`.
fn key_gone(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::SecretNotFound
            | Reason::InstanceNotFound
            | Reason::ClusterInstancesNotServed
            | Reason::CredentialsNamespaceNotSet
            | Reason::InstanceStalled
    )
}

async fn release(ctx: &Context, obj: &ClerkDomain, why: Release, id: &str) -> Result<Action, Error> {
    let name = &obj.spec.domain;
    let (reason, note) = match why {
        Release::Orphaned => (
            "Orphaned",
            format!("Left Clerk domain {id} ({name}) in place: deletionPolicy is Orphan"),
        ),
        Release::PrimaryKept => (
            "PrimaryKept",
            format!("Left Clerk domain {id} ({name}) in place: primary domains are never deleted"),
        ),
        Release::AlreadyGone => (
            "AlreadyGone",
            format!("Clerk domain {id} ({name}) was already gone"),
        ),
        Release::NothingOwned => (
            "NothingOwned",
            format!("This object owns no Clerk domain; nothing was deleted ({name} is left as it is)"),
        ),
        Release::AdoptedKept => (
            "AdoptedKept",
            format!(
                "Left Clerk domain {id} ({name}) in place: it existed before this object adopted it, \
                 and adopted domains are never deleted (delete it in Clerk if it is no longer needed)"
            ),
        ),
    };
    events::normal(ctx, obj, reason, "Delete", note).await;
    Ok(Action::await_change())
}

/// Cleanup could not finish: say why in status and an Event, keep the finalizer, retry. A
/// failure that retrying cannot fix says how to release the object.
async fn cleanup_failed(obj: &ClerkDomain, ctx: &Context, f: Failure) -> Result<Action, Error> {
    let id = obj
        .status
        .as_ref()
        .and_then(|s| s.domain_id.as_deref())
        .unwrap_or("(none)");
    let mut message = format!("Deleting Clerk domain {id} failed: {}", f.message);
    if f.reason.class() == Class::Terminal {
        message.push_str(
            "; retrying cannot fix this: fix the key, or set spec.deletionPolicy: Orphan on this \
             object to release it and leave the domain in Clerk",
        );
    }
    let outcome = Outcome::Failed {
        reason: f.reason,
        message: &message,
        domain: None,
        gone: false,
    };
    if write_status(obj, ctx, &outcome, &Extras::default()).await? {
        events::warning(ctx, obj, f.reason.as_str(), "Delete", message.clone()).await;
    }
    Err(Error::Cleanup {
        reason: f.reason,
        message,
        retry: f.retry(),
    })
}
