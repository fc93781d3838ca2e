//! Deletion: delete the satellite from Clerk (or leave it, and say why), then let the finalizer
//! go. Never hangs on something retrying cannot fix.

use super::plan::{self, Cleanup, Memory, Release};
use super::reconcile::{conflict_owner, key, write_status};
use super::status::{Extras, Outcome};
use super::{Context, Error, credentials, events};
use crate::api::ClerkDomain;
use crate::api::annotations;
use crate::clerk::InstanceKind;
use kube::runtime::controller::Action;

/// Clean up `obj`, which is being deleted.
pub async fn cleanup(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let result = decide_and_act(obj, ctx).await;
    if result.is_ok() {
        ctx.claims.release(&key(obj));
        ctx.note_success(&key(obj));
        ctx.secrets_changed.notify_one();
    }
    result
}

async fn decide_and_act(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let status = obj.status.clone().unwrap_or_default();
    let id = status.domain_id.clone().unwrap_or_else(|| "(unknown id)".into());
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
    if let Some(why) = plan::release_without_clerk(&obj.spec) {
        return release(ctx, obj, why, &id).await;
    }
    let key = match credentials::resolve(ctx, obj).await {
        Ok((key, _)) => key,
        Err(credentials::CredentialsError::SecretNotFound {
            namespace,
            name: secret,
        }) => {
            // The key is gone for good: waiting cannot help, and the object must not hang.
            let note = format!(
                "Left Clerk domain {id} ({name}) in place: Secret {namespace}/{secret} with its key no longer exists"
            );
            events::warning(ctx, obj, "Orphaned", "Delete", note).await;
            return Ok(Action::await_change());
        }
        Err(e) => return cleanup_failed(obj, ctx, e.reason(), e.to_string()).await,
    };
    let production = key.kind() == InstanceKind::Production;
    let clerk = ctx.clerk(key);
    let instance_id = match status.instance_id.clone() {
        Some(i) => i,
        None => match clerk.instance_id().await {
            Ok(i) => i,
            Err(e) => return cleanup_failed(obj, ctx, e.reason(), e.stable_message()).await,
        },
    };
    if let Some(owner) = conflict_owner(ctx, obj, &instance_id) {
        let note = format!(
            "Left Clerk domain {name} in place: it is managed by ClerkDomain {}",
            owner.object
        );
        events::normal(ctx, obj, "Orphaned", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let domains = match clerk.list_domains().await {
        Ok(l) => l,
        Err(e) => return cleanup_failed(obj, ctx, e.reason(), e.stable_message()).await,
    };
    let memory = Memory {
        domain_id: status.domain_id.as_deref(),
        adopt_id: notes.domain_id,
        production,
        pending: status.pending_domain.as_deref(),
        ..Default::default()
    };
    match plan::plan_cleanup(&obj.spec, &memory, &domains) {
        Cleanup::Delete { id } => match clerk.delete_domain(&id).await {
            Ok(_) => {
                events::normal(
                    ctx,
                    obj,
                    "Deleted",
                    "Delete",
                    format!("Deleted Clerk domain {id} ({name})"),
                )
                .await;
                Ok(Action::await_change())
            }
            Err(e) if e.is_not_found() => release(ctx, obj, Release::AlreadyGone, &id).await,
            Err(e) => cleanup_failed(obj, ctx, e.reason(), e.stable_message()).await,
        },
        Cleanup::Release(why) => release(ctx, obj, why, &id).await,
    }
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
    };
    events::normal(ctx, obj, reason, "Delete", note).await;
    Ok(Action::await_change())
}

/// Cleanup could not finish: say why in status and an Event, keep the finalizer, retry.
async fn cleanup_failed(
    obj: &ClerkDomain,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<Action, Error> {
    let message = format!("Deleting the Clerk domain failed: {message}");
    let outcome = Outcome::Failed {
        reason,
        message: &message,
        domain: None,
    };
    if write_status(obj, ctx, &outcome, &Extras::default()).await? {
        events::warning(ctx, obj, reason, "Delete", message.clone()).await;
    }
    Err(Error::Cleanup {
        reason: reason.into(),
        message,
    })
}
