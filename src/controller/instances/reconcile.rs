//! One reconcile of a ClerkInstance or ClusterClerkInstance: hold or release the in-use
//! finalizer, read the key (the same Secret cache as ClerkDomains), ask Clerk which instance it
//! belongs to (`GET /instance`, at most about once per resync period while the key is
//! unchanged), compare with the pinned `status.instanceId`, and write status by server-side
//! apply when it changed.

use super::in_use;
use super::kind::InstanceObject;
use super::registry::Memo;
use super::select::InstanceKey;
use super::status::{Checked, Facts, next};
use crate::api::{ClerkInstanceStatus, FIELD_MANAGER, IN_USE, RateLimitStatus};
use crate::clerk::SecretKey;
use crate::controller::backoff::{self, Retry};
use crate::controller::reason::{Class, Reason};
use crate::controller::{Context, Error, credentials, events, secrets};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reconcile one instance object.
pub async fn reconcile<K: InstanceObject>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ik = obj.key();
    // Users are read from the ClerkDomain cache: not before it is complete.
    if crate::controller::wait_synced(&ctx.stores.domains).await.is_err() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let users = super::users::users(&ctx, &ik);
    let has_finalizer = obj.finalizers().iter().any(|f| f == IN_USE);
    if obj.meta().deletion_timestamp.is_some() {
        return finish_deletion(&ctx, obj.as_ref(), &ik, &users).await;
    }
    if !users.is_empty() && !has_finalizer {
        in_use::ensure::<K>(&ctx, &ik).await?;
    } else if users.is_empty() && has_finalizer {
        in_use::release(&ctx, obj.as_ref()).await?;
    }
    let generation = obj.meta().generation;
    let old = obj.instance_status().cloned().unwrap_or_default();
    let mut facts = Facts {
        domains: i64::try_from(users.len()).unwrap_or(i64::MAX),
        ..Default::default()
    };
    let (checked, after) = checked_key(&ctx, obj.as_ref(), &ik, &old, &mut facts).await?;
    let st = next(&old, generation, &checked, &facts, jiff::Timestamp::now());
    if st != old {
        if let Err(e) = write_status(&ctx, obj.as_ref(), &ik, &st).await {
            ctx.memory.instances.forget(&ik);
            return Err(e.into());
        }
        if st.conditions != old.conditions {
            announce(&ctx, obj.as_ref(), &checked).await;
        }
    }
    Ok(next_look(&ctx, &ik.to_string(), &checked, after))
}

/// The object's key, checked with Clerk (`GET /instance`) unless an equal key was checked for
/// this generation within half a resync period. Returns the check and Clerk's `Retry-After`.
async fn checked_key<K: InstanceObject>(
    ctx: &Context,
    obj: &K,
    ik: &InstanceKey,
    old: &ClerkInstanceStatus,
    facts: &mut Facts,
) -> Result<(Checked, Option<Duration>), Error> {
    let generation = obj.meta().generation;
    let ns = match obj.secret_namespace(ctx.config.credentials_namespace.as_deref()) {
        Ok(ns) => ns,
        Err(message) => {
            let reason = Reason::CredentialsNamespaceNotSet;
            return Ok((Checked::Failed { reason, message }, None));
        }
    };
    let (key, meta) = match credentials::read_key(ctx, &ns, obj.secret_ref()).await {
        Ok(found) => found,
        Err(e) => {
            ctx.memory.instances.forget(ik);
            let (reason, message) = (e.reason(), e.to_string());
            return Ok((Checked::Failed { reason, message }, None));
        }
    };
    secrets::ensure_in_use(ctx, &meta).await?;
    let fresh = ctx.config.resync / 2;
    let memo = ctx.memory.instances.memo(ik);
    if let Some(m) = memo.filter(|m| m.key == key && m.generation == generation && m.at.elapsed() < fresh) {
        // The budget is the operator's own count: current without asking Clerk.
        facts.rate_limit = ctx.known_clerk(&key).and_then(|c| usage(&c)).or(m.rate_limit);
        facts.checked_at = m.checked_at;
        return Ok((m.checked, None));
    }
    let (checked, retry_after) = check(ctx, &key, old, facts).await;
    if is_transient(&checked) {
        ctx.memory.instances.forget(ik);
    } else {
        let memo = Memo {
            key,
            generation,
            at: Instant::now(),
            checked: checked.clone(),
            rate_limit: facts.rate_limit.clone(),
            checked_at: facts.checked_at.clone(),
        };
        ctx.memory.instances.remember(ik, memo);
    }
    Ok((checked, retry_after))
}

/// When to look at the object again: with backoff (no later than the resync) while it fails,
/// at the resync once it is Ready.
fn next_look(ctx: &Context, object: &str, checked: &Checked, after: Option<Duration>) -> Action {
    match checked {
        Checked::Failed { reason, message } => {
            let retry = match reason.class() {
                Class::Terminal => Retry::Terminal,
                _ => Retry::Transient { after },
            };
            let attempt = ctx.memory.note_failure(object);
            let recheck = credentials::secret_recheck(ctx, *reason).unwrap_or(ctx.config.resync);
            let delay =
                backoff::delay(retry, attempt, rand::random()).min(recheck.max(Duration::from_secs(1)));
            tracing::info!(instance = %object, reason = %reason, message = %message, retry_in_secs = delay.as_secs(), "instance not ready");
            Action::requeue(delay)
        }
        Checked::Ok { .. } => {
            ctx.memory.note_success(object);
            Action::requeue(ctx.resync_delay())
        }
    }
}

fn is_transient(c: &Checked) -> bool {
    matches!(c, Checked::Failed { reason, .. } if reason.class() == Class::Transient)
}

/// Ask Clerk which instance `key` belongs to; record the rate-limit budget and the time.
/// Returns Clerk's `Retry-After` with a transient failure.
async fn check(
    ctx: &Context,
    key: &SecretKey,
    old: &ClerkInstanceStatus,
    facts: &mut Facts,
) -> (Checked, Option<Duration>) {
    // The pool looks a key up once; the check asks again each time, so that a revoked key shows.
    let answer = match ctx.clerk(key.clone()).await {
        Ok(clerk) => {
            let answer = clerk.client.get_instance().await;
            facts.rate_limit = usage(&clerk);
            answer
        }
        Err(e) => Err(e),
    };
    facts.checked_at = Some(jiff::Timestamp::now().to_string());
    match answer {
        Ok(i) => match old.instance_id.as_deref() {
            Some(pinned) if pinned != i.id => (
                Checked::Failed {
                    reason: Reason::InstanceChanged,
                    message: format!(
                        "the secret key now belongs to Clerk instance {}, but this object is pinned to \
                         instance {pinned} (status.instanceId): neither it nor its ClerkDomains write \
                         anything. Put the old key back; to use the other instance, create a new \
                         instance object (and new ClerkDomains) for it",
                        i.id
                    ),
                },
                None,
            ),
            _ => (
                Checked::Ok {
                    id: i.id,
                    environment: i.environment_type,
                },
                None,
            ),
        },
        Err(e) => {
            let reason = if e.status() == Some(401) {
                Reason::InvalidKey
            } else {
                Reason::from_clerk(&e)
            };
            let message = format!(
                "Clerk refused the key or could not be asked: {}",
                e.stable_message()
            );
            (Checked::Failed { reason, message }, e.retry_after())
        }
    }
}

/// The instance's client-side budget: requests let through in the rate's window, and the rate.
fn usage(clerk: &crate::clerk::ClerkInstance) -> Option<RateLimitStatus> {
    clerk.rate_usage().map(|(used, rate)| RateLimitStatus {
        used: i64::from(used),
        limit: i64::from(rate.requests),
        window: humantime::format_duration(rate.per).to_string(),
    })
}

async fn write_status<K: InstanceObject>(
    ctx: &Context,
    obj: &K,
    ik: &InstanceKey,
    st: &ClerkInstanceStatus,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": "clerk-operator.io/v1alpha1",
        "kind": K::KIND.as_str(),
        "status": st,
    });
    K::api(ctx.client.clone(), ik)
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// An Event when the conditions changed: Normal `Verified`, or a Warning with the reason.
async fn announce<K: InstanceObject>(ctx: &Context, obj: &K, checked: &Checked) {
    match checked {
        Checked::Ok { id, environment } => {
            let note = format!("the key belongs to Clerk instance {id} ({environment})");
            events::publish(
                ctx,
                obj,
                EventType::Normal,
                Reason::Verified.as_str(),
                "Check",
                note,
            )
            .await;
        }
        Checked::Failed { reason, message } => {
            events::publish(
                ctx,
                obj,
                EventType::Warning,
                reason.as_str(),
                "Check",
                message.clone(),
            )
            .await;
        }
    }
}

/// The object is being deleted: its finalizer goes once no ClerkDomain uses it (the cache
/// first, then the API server, which may be ahead of the cache).
async fn finish_deletion<K: InstanceObject>(
    ctx: &Context,
    obj: &K,
    ik: &InstanceKey,
    users: &[(String, String)],
) -> Result<Action, Error> {
    if !obj.finalizers().iter().any(|f| f == IN_USE) {
        return Ok(Action::await_change());
    }
    if !users.is_empty() {
        let mut names: Vec<String> = users.iter().map(|(ns, n)| format!("{ns}/{n}")).collect();
        names.sort();
        let note = format!(
            "deletion waits until no ClerkDomain uses this object: {} still do ({})",
            names.len(),
            names.join(", ")
        );
        if ctx.memory.first_warning(&ik.to_string(), &note) {
            events::publish(ctx, obj, EventType::Normal, "InUse", "Delete", note).await;
        }
        // Woken when a user goes; the recheck is a safety net.
        return Ok(Action::requeue(Duration::from_secs(30)));
    }
    if in_use::release(ctx, obj).await? {
        ctx.memory.instances.forget(ik);
        ctx.memory.forget(&ik.to_string());
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_secs(2)))
    }
}

/// Retry delay after an error that ended a reconcile (a Kubernetes API error).
pub fn error_policy<K: InstanceObject>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let object = obj.key().to_string();
    let attempt = ctx.memory.note_failure(&object);
    let delay = backoff::delay(Retry::Transient { after: None }, attempt, rand::random());
    tracing::warn!(instance = %object, error = %err, attempt, retry_in_secs = delay.as_secs(), "instance reconcile failed");
    Action::requeue(delay)
}
