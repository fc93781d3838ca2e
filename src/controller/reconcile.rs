//! The I/O shell: resolve credentials, observe Clerk, carry out [`plan`](super::plan)'s steps,
//! write status, publish Events, pick the requeue delay.

use super::backoff::{self, Retry};
use super::plan::{self, Cleanup, Memory, Release, Step};
use super::status::{Outcome, next_status};
use super::{Context, Error, credentials, events};
use crate::api::{ClerkDomain, FIELD_MANAGER, FINALIZER};
use crate::clerk::{ClerkError, ClerkInstance, Domain};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use serde_json::json;
use std::sync::Arc;

/// Reconcile one ClerkDomain.
pub async fn reconcile(obj: Arc<ClerkDomain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let object = key(&obj);
    let result = reconcile_inner(obj, &ctx).await;
    // `failure`: handled and reported in status (e.g. Clerk refused); `error`: the reconcile
    // itself failed (e.g. a Kubernetes API error) and goes to the error policy.
    let label = match &result {
        Ok(_) if ctx.is_failing(&object) => "failure",
        Ok(_) => "success",
        Err(_) => "error",
    };
    ctx.metrics
        .reconciles
        .get_or_create(&crate::metrics::ResultLabels { result: label })
        .inc();
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_inner(obj: Arc<ClerkDomain>, ctx: &Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<ClerkDomain> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, ctx).await,
            Finalizer::Cleanup(obj) => cleanup(&obj, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Retry delay for errors that ended a reconcile (Kubernetes API errors, unfinished cleanup).
pub fn error_policy(obj: Arc<ClerkDomain>, err: &Error, ctx: Arc<Context>) -> Action {
    let attempt = ctx.note_failure(&key(&obj));
    let delay = backoff::delay(Retry::Transient { after: None }, attempt, rand::random());
    tracing::warn!(object = %key(&obj), error = %err, attempt, retry_in_secs = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

fn key(obj: &ClerkDomain) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// A failure carried to status: reason, Clerk's words, and how to retry.
struct Failure {
    reason: String,
    message: String,
    retry: Retry,
    domain: Option<Domain>,
}

impl Failure {
    fn clerk(e: &ClerkError, domain: Option<Domain>) -> Self {
        let retry = if e.is_transient() {
            Retry::Transient {
                after: e.retry_after(),
            }
        } else if e.is_terminal() {
            Retry::Terminal
        } else {
            Retry::Transient { after: None }
        };
        Failure {
            reason: e.reason().into(),
            message: e.to_string(),
            retry,
            domain,
        }
    }
}

/// What converging did, for status and Events.
struct Converged {
    domain: Domain,
    adopted: bool,
    applied_is_secondary: Option<bool>,
    notes: Vec<(&'static str, String)>,
}

async fn apply(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let clerk = match credentials::resolve(ctx, obj).await {
        Ok(k) => ctx.clerk(k),
        Err(e) => {
            let retry = if e.is_transient() {
                Retry::Transient { after: None }
            } else {
                Retry::Terminal
            };
            let f = Failure {
                reason: e.reason().into(),
                message: e.to_string(),
                retry,
                domain: None,
            };
            return fail(obj, ctx, f).await;
        }
    };
    match converge(&clerk, obj).await {
        Ok(done) => {
            let outcome = Outcome::Synced {
                domain: &done.domain,
                adopted: done.adopted,
                applied_is_secondary: done.applied_is_secondary,
            };
            write_status(obj, ctx, &outcome).await?;
            for (reason, note) in done.notes {
                events::normal(ctx, obj, reason, "Reconcile", note).await;
            }
            ctx.note_success(&key(obj));
            Ok(Action::requeue(ctx.resync_delay()))
        }
        Err(f) => fail(obj, ctx, f).await,
    }
}

/// Observe Clerk and take plan steps until it matches the spec (at most a few steps: a create
/// may need a follow-up PATCH for `is_secondary`).
async fn converge(clerk: &ClerkInstance, obj: &ClerkDomain) -> Result<Converged, Failure> {
    let status = obj.status.clone().unwrap_or_default();
    let mut domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
    let mut domain_id = status.domain_id.clone();
    let mut applied_is_secondary = status.applied_is_secondary;
    let mut adopted = false;
    let mut notes = vec![];
    for _ in 0..4 {
        let memory = Memory {
            domain_id: domain_id.as_deref(),
            applied_is_secondary,
        };
        let known = |domains: &[Domain], id: &Option<String>| {
            id.as_ref()
                .and_then(|id| domains.iter().find(|d| &d.id == id).cloned())
        };
        match plan::plan(&obj.spec, &memory, &domains) {
            Step::InSync { id, adopt } => {
                if adopt {
                    adopted = true;
                    notes.push((
                        "Adopted",
                        format!("Adopted existing Clerk domain {id} ({})", obj.spec.domain),
                    ));
                }
                let domain = domains
                    .into_iter()
                    .find(|d| d.id == id)
                    .expect("plan names a listed domain");
                return Ok(Converged {
                    domain,
                    adopted,
                    applied_is_secondary,
                    notes,
                });
            }
            Step::Create { body, recreate } => match clerk.create_domain(&body).await {
                Ok(d) => {
                    let note = match &domain_id {
                        Some(old) if recreate => {
                            format!("Domain {old} was gone from Clerk; created {} ({})", d.id, d.name)
                        }
                        _ => format!("Created Clerk domain {} ({})", d.id, d.name),
                    };
                    notes.push((if recreate { "Recreated" } else { "Created" }, note));
                    domain_id = Some(d.id.clone());
                    applied_is_secondary = None;
                    domains.push(d);
                }
                Err(e) if e.status() == Some(422) && e.to_string().contains("form_identifier_exists") => {
                    // Someone created it meanwhile: look again and adopt instead of failing.
                    clerk.invalidate();
                    domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
                }
                Err(e) => return Err(Failure::clerk(&e, known(&domains, &domain_id))),
            },
            Step::Update { id, body, adopt } => {
                if adopt {
                    adopted = true;
                    notes.push((
                        "Adopted",
                        format!("Adopted existing Clerk domain {id} ({})", obj.spec.domain),
                    ));
                }
                match clerk.update_domain(&id, &body).await {
                    Ok(d) => {
                        let mut fields = vec![];
                        if body.name.is_some() {
                            fields.push("name");
                        }
                        if body.proxy_url.is_some() {
                            fields.push("proxy_url");
                        }
                        if let Some(s) = body.is_secondary {
                            fields.push("is_secondary");
                            applied_is_secondary = Some(s);
                        }
                        notes.push((
                            "Updated",
                            format!("Updated {} of Clerk domain {}", fields.join(", "), d.id),
                        ));
                        domain_id = Some(d.id.clone());
                        domains.retain(|x| x.id != d.id);
                        domains.push(d);
                    }
                    Err(e) => {
                        let found = domains.iter().find(|d| d.id == id).cloned();
                        return Err(Failure::clerk(&e, found));
                    }
                }
            }
            Step::Invalid { reason, message } => {
                return Err(Failure {
                    reason: reason.into(),
                    message,
                    retry: Retry::Terminal,
                    domain: None,
                });
            }
        }
    }
    Err(Failure {
        reason: "NotConverging".into(),
        message: "Clerk did not reach the spec after several steps".into(),
        retry: Retry::Transient { after: None },
        domain: None,
    })
}

/// Record a failure: status condition, Warning Event, backoff.
async fn fail(obj: &ClerkDomain, ctx: &Context, f: Failure) -> Result<Action, Error> {
    let outcome = Outcome::Failed {
        reason: &f.reason,
        message: &f.message,
        domain: f.domain.as_ref(),
    };
    let changed = write_status(obj, ctx, &outcome).await?;
    if changed {
        events::warning(ctx, obj, &f.reason, "Reconcile", f.message.clone()).await;
    }
    let attempt = ctx.note_failure(&key(obj));
    let delay = backoff::delay(f.retry, attempt, rand::random());
    tracing::info!(object = %key(obj), reason = %f.reason, message = %f.message, attempt, retry_in_secs = delay.as_secs(), "not synced");
    Ok(Action::requeue(delay))
}

/// Server-side apply the status when it differs from the current one. Returns whether it wrote.
async fn write_status(obj: &ClerkDomain, ctx: &Context, outcome: &Outcome<'_>) -> Result<bool, Error> {
    let next = next_status(obj, outcome, jiff::Timestamp::now());
    if obj.status.as_ref() == Some(&next) {
        return Ok(false);
    }
    let api: Api<ClerkDomain> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "clerk-operator.io/v1alpha1",
        "kind": "ClerkDomain",
        "status": next,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}

async fn cleanup(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let status = obj.status.clone().unwrap_or_default();
    let memory = Memory {
        domain_id: status.domain_id.as_deref(),
        applied_is_secondary: None,
    };
    let decision = if plan::cleanup_needs_clerk(&obj.spec) {
        let clerk = match credentials::resolve(ctx, obj).await {
            Ok(k) => ctx.clerk(k),
            Err(e) => return cleanup_failed(obj, ctx, e.reason(), e.to_string()).await,
        };
        let domains = match clerk.list_domains().await {
            Ok(l) => l,
            Err(e) => return cleanup_failed(obj, ctx, e.reason(), e.to_string()).await,
        };
        match plan::plan_cleanup(&obj.spec, &memory, &domains) {
            Cleanup::Delete { id } => match clerk.delete_domain(&id).await {
                Ok(_) => {
                    events::normal(
                        ctx,
                        obj,
                        "Deleted",
                        "Delete",
                        format!("Deleted Clerk domain {id} ({})", obj.spec.domain),
                    )
                    .await;
                    ctx.note_success(&key(obj));
                    return Ok(Action::await_change());
                }
                Err(e) if e.is_not_found() => Cleanup::Release(Release::AlreadyGone),
                Err(e) => return cleanup_failed(obj, ctx, e.reason(), e.to_string()).await,
            },
            release => release,
        }
    } else {
        plan::plan_cleanup(&obj.spec, &memory, &[])
    };
    let id = status.domain_id.as_deref().unwrap_or("(unknown id)");
    let (reason, note) = match decision {
        Cleanup::Release(Release::Orphaned) => (
            "Orphaned",
            format!(
                "Left Clerk domain {id} ({}) in place: deletionPolicy is Orphan",
                obj.spec.domain
            ),
        ),
        Cleanup::Release(Release::PrimaryKept) => (
            "PrimaryKept",
            format!(
                "Left Clerk domain {id} ({}) in place: primary domains are never deleted",
                obj.spec.domain
            ),
        ),
        Cleanup::Release(Release::AlreadyGone) => (
            "AlreadyGone",
            format!("Clerk domain {id} ({}) was already gone", obj.spec.domain),
        ),
        Cleanup::Delete { .. } => unreachable!("deletes return above"),
    };
    events::normal(ctx, obj, reason, "Delete", note).await;
    ctx.note_success(&key(obj));
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
    if write_status(obj, ctx, &outcome).await? {
        events::warning(ctx, obj, reason, "Delete", message.clone()).await;
    }
    Err(Error::Cleanup {
        reason: reason.into(),
        message,
    })
}
