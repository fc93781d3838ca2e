//! The I/O shell: resolve credentials, observe Clerk, carry out [`plan`](super::plan)'s steps,
//! write status, publish Events, pick the requeue delay.

use super::backoff::{self, Retry};
use super::conflicts::{self, Claim};
use super::plan::{self, Memory, Step};
use super::status::{Extras, Outcome, next_status};
use super::{Context, Error, cleanup, credentials, events, secrets};
use crate::api::annotations::{self, Annotations};
use crate::api::{ClerkDomain, FIELD_MANAGER, FINALIZER};
use crate::clerk::{ClerkError, ClerkInstance, Domain, InstanceKind};
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
use std::time::Duration;

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
    let labels = crate::metrics::ResultLabels { result: label };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
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
            Finalizer::Cleanup(obj) => cleanup::cleanup(&obj, ctx).await,
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

/// `namespace/name`.
pub(super) fn key(obj: &ClerkDomain) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// A failure carried to status: reason, Clerk's words, and how to retry.
pub(super) struct Failure {
    pub reason: String,
    pub message: String,
    pub retry: Retry,
    pub domain: Option<Domain>,
}

impl Failure {
    pub fn clerk(e: &ClerkError, domain: Option<Domain>) -> Self {
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
            message: e.stable_message(),
            retry,
            domain,
        }
    }

    fn credentials(e: &credentials::CredentialsError) -> Self {
        let retry = if e.is_transient() {
            Retry::Transient { after: None }
        } else {
            Retry::Terminal
        };
        Failure {
            reason: e.reason().into(),
            message: e.to_string(),
            retry,
            domain: None,
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
    let notes = annotations::parse(obj.metadata.annotations.as_ref());
    let resync = resync_period(ctx, obj, &notes).await;
    let mut extras = Extras {
        instance_id: None,
        handled_reconcile_at: notes.reconcile_requested_at,
        pending_domain: None,
        ..Default::default()
    };
    if notes.paused {
        let f = Failure {
            reason: "Paused".into(),
            message: format!(
                "{} is \"true\": Clerk is not read or written",
                annotations::PAUSED
            ),
            retry: Retry::Terminal,
            domain: None,
        };
        let changed = write_status(obj, ctx, &Outcome::from(&f), &extras).await?;
        if changed {
            events::normal(ctx, obj, "Paused", "Reconcile", f.message.clone()).await;
        }
        return Ok(Action::requeue(resync));
    }
    let (secret_key, secret) = match credentials::resolve(ctx, obj).await {
        Ok(found) => found,
        Err(e) => {
            return fail(
                obj,
                ctx,
                Failure::credentials(&e),
                &extras,
                backoff::TERMINAL_RECHECK,
            )
            .await;
        }
    };
    if let Some(secret) = &secret {
        secrets::ensure_in_use(ctx, secret).await?;
    }
    let production = secret_key.kind() == InstanceKind::Production;
    let clerk = ctx.clerk(secret_key);
    let instance_id = match clerk.instance_id().await {
        Ok(id) => id,
        Err(e) => {
            return fail(
                obj,
                ctx,
                Failure::clerk(&e, None),
                &extras,
                backoff::TERMINAL_RECHECK,
            )
            .await;
        }
    };
    extras.instance_id = Some(&instance_id);
    if let Some(owner) = conflict_owner(ctx, obj, &instance_id) {
        let f = Failure {
            reason: "Conflict".into(),
            message: format!(
                "domain {} of Clerk instance {instance_id} is managed by ClerkDomain {} (the oldest); \
                 this object does not write to Clerk until that one is gone",
                obj.spec.domain, owner.object
            ),
            retry: Retry::Terminal,
            domain: None,
        };
        // Look again soon: the owner may be deleted.
        return fail(obj, ctx, f, &extras, Duration::from_secs(60)).await;
    }
    let forced = notes.reconcile_requested_at.is_some()
        && notes.reconcile_requested_at
            != obj
                .status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref());
    if forced {
        clerk.invalidate();
    }
    let pending = obj.status.as_ref().and_then(|s| s.pending_domain.clone());
    let memory_base = Memory {
        adopt_id: notes.domain_id,
        production,
        pending: pending.as_deref(),
        ..Default::default()
    };
    let mut recorded = None;
    match converge(ctx, &clerk, obj, memory_base, &mut recorded).await {
        Ok(done) => {
            let outcome = Outcome::Synced {
                domain: &done.domain,
                adopted: done.adopted,
                applied_is_secondary: done.applied_is_secondary,
            };
            let dns = super::dns::reconcile(ctx, obj, &done.domain, &clerk, production, forced).await;
            extras.conditions = dns.conditions;
            extras.drop_conditions = dns.drop_conditions;
            let resync = match dns.recheck {
                Some(r) => resync.min(r),
                None => resync,
            };
            write_status(obj, ctx, &outcome, &extras).await?;
            for (reason, note) in done.notes {
                events::normal(ctx, obj, reason, "Reconcile", note).await;
            }
            ctx.note_success(&key(obj));
            Ok(Action::requeue(resync))
        }
        Err(f) => {
            // Keep the record of a create whose answer was lost.
            let extras = Extras {
                pending_domain: recorded.as_deref(),
                ..extras
            };
            fail(obj, ctx, f, &extras, backoff::TERMINAL_RECHECK).await
        }
    }
}

/// The object's resync period: annotation `clerk-operator.io/resync-period`, else the flag.
async fn resync_period(ctx: &Context, obj: &ClerkDomain, notes: &Annotations<'_>) -> Duration {
    match &notes.resync_period {
        Some(Ok(period)) => backoff::aligned(*period, std::time::SystemTime::now(), rand::random()),
        Some(Err(message)) => {
            events::warning(ctx, obj, "InvalidAnnotation", "Reconcile", message.clone()).await;
            ctx.resync_delay()
        }
        None => ctx.resync_delay(),
    }
}

/// Another ClerkDomain older than `obj` claiming the same domain of the same instance.
pub(super) fn conflict_owner(ctx: &Context, obj: &ClerkDomain, instance_id: &str) -> Option<Claim> {
    let me = Claim::of(obj, instance_id);
    // Only objects naming the same domain can conflict: look at no others (this runs on every
    // reconcile, and building a claim for each of thousands of objects made reconciles O(n)).
    let from_store = ctx
        .objects()
        .into_iter()
        .filter(|o| o.spec.domain.eq_ignore_ascii_case(&me.domain))
        .filter_map(|o| Claim::from_status(&o));
    let all = ctx.claims.register(&me, from_store);
    conflicts::owner(&me, &all).cloned()
}

/// Observe Clerk and take plan steps until it matches the spec (at most a few steps: a create
/// may need a follow-up PATCH for `is_secondary`).
async fn converge(
    ctx: &Context,
    clerk: &ClerkInstance,
    obj: &ClerkDomain,
    base: Memory<'_>,
    recorded: &mut Option<String>,
) -> Result<Converged, Failure> {
    let status = obj.status.clone().unwrap_or_default();
    let mut domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
    let mut domain_id = status.domain_id.clone();
    let mut applied_is_secondary = status.applied_is_secondary;
    let mut adopted = false;
    let mut notes = vec![];
    let known = |domains: &[Domain], id: &Option<String>| {
        id.as_ref()
            .and_then(|id| domains.iter().find(|d| &d.id == id).cloned())
    };
    for _ in 0..4 {
        let memory = Memory {
            domain_id: domain_id.as_deref(),
            applied_is_secondary,
            ..base.clone()
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
                    .iter()
                    .find(|d| d.id == id)
                    .cloned()
                    .expect("plan names a listed domain");
                return Ok(Converged {
                    domain,
                    adopted,
                    applied_is_secondary,
                    notes,
                });
            }
            Step::Create { body, recreate } => {
                // Let go of the instance's shared list during the (paced) POST: while a reconcile
                // holds it, every write to the list cache copies the whole list, which at
                // thousands of domains was most of the memory of a burst. After the create the
                // plan only needs the created domain (it finds it by `domain_id`).
                let before = known(&domains, &domain_id);
                drop(std::mem::take(&mut domains));
                match create(ctx, clerk, obj, &body, recorded).await {
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
                        domains = std::sync::Arc::new(vec![d]);
                    }
                    Err(e) if e.status() == Some(422) && e.code() == Some("form_identifier_exists") => {
                        // Someone created it meanwhile: look again and adopt instead of failing.
                        clerk.invalidate();
                        domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
                    }
                    Err(e) => return Err(Failure::clerk(&e, before)),
                }
            }
            Step::Update { id, body, adopt } => {
                if adopt {
                    adopted = true;
                    notes.push((
                        "Adopted",
                        format!("Adopted existing Clerk domain {id} ({})", obj.spec.domain),
                    ));
                }
                tracing::info!(object = %key(obj), id = %id, change = ?body, "updating Clerk domain");
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
                        let list = std::sync::Arc::make_mut(&mut domains);
                        list.retain(|x| x.id != d.id);
                        list.push(d);
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

/// `POST /domains`, after recording the name in `status.pendingDomain`: if the answer is lost
/// and the spec renamed before the next look, the domain is still found and adopted.
async fn create(
    ctx: &Context,
    clerk: &ClerkInstance,
    obj: &ClerkDomain,
    body: &crate::clerk::CreateDomain,
    recorded: &mut Option<String>,
) -> Result<Domain, ClerkError> {
    let known = obj.status.as_ref().and_then(|s| s.pending_domain.as_deref()) == Some(body.name.as_str());
    if !known && let Err(e) = record_pending(ctx, obj, &body.name).await {
        // Without the record a lost answer could leak a domain: do not create now.
        return Err(ClerkError::Transport {
            operation: "AddDomain",
            message: format!("not sent: recording status.pendingDomain failed: {e}"),
            timeout: false,
            connect: true,
        });
    }
    *recorded = Some(body.name.clone());
    let status = obj.status.as_ref();
    tracing::info!(
        object = %key(obj),
        name = %body.name,
        status_id = ?status.and_then(|s| s.domain_id.as_deref()),
        status_pending = ?status.and_then(|s| s.pending_domain.as_deref()),
        resource_version = ?obj.metadata.resource_version,
        "creating Clerk domain"
    );
    let result = clerk.create_domain(body).await;
    match &result {
        Ok(d) => tracing::info!(object = %key(obj), name = %d.name, id = %d.id, "created Clerk domain"),
        Err(e) => {
            tracing::info!(object = %key(obj), name = %body.name, error = %e, "creating Clerk domain failed")
        }
    }
    result
}

async fn record_pending(ctx: &Context, obj: &ClerkDomain, name: &str) -> Result<(), kube::Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    status.pending_domain = Some(name.to_string());
    apply_status(ctx, obj, &status).await
}

impl<'a> From<&'a Failure> for Outcome<'a> {
    fn from(f: &'a Failure) -> Self {
        Outcome::Failed {
            reason: &f.reason,
            message: &f.message,
            domain: f.domain.as_ref(),
        }
    }
}

/// Record a failure: status condition, Warning Event when it changed, backoff. A terminal
/// failure is rechecked slowly, after at most `terminal_recheck`.
async fn fail(
    obj: &ClerkDomain,
    ctx: &Context,
    f: Failure,
    extras: &Extras<'_>,
    terminal_recheck: Duration,
) -> Result<Action, Error> {
    let changed = write_status(obj, ctx, &Outcome::from(&f), extras).await?;
    if changed {
        events::warning(ctx, obj, &f.reason, "Reconcile", f.message.clone()).await;
    }
    let attempt = ctx.note_failure(&key(obj));
    let mut delay = backoff::delay(f.retry, attempt, rand::random());
    if f.retry == Retry::Terminal {
        delay = delay.min(terminal_recheck.max(Duration::from_secs(1)));
    }
    tracing::info!(object = %key(obj), reason = %f.reason, message = %f.message, attempt, retry_in_secs = delay.as_secs(), "not synced");
    Ok(Action::requeue(delay))
}

/// Server-side apply the status when it differs from the current one. Returns whether it wrote.
pub(super) async fn write_status(
    obj: &ClerkDomain,
    ctx: &Context,
    outcome: &Outcome<'_>,
    extras: &Extras<'_>,
) -> Result<bool, Error> {
    let next = next_status(obj, outcome, extras, jiff::Timestamp::now());
    if obj.status.as_ref() == Some(&next) {
        return Ok(false);
    }
    apply_status(ctx, obj, &next).await?;
    Ok(true)
}

/// Server-side apply `status` as the operator's field manager: the whole status it owns.
async fn apply_status(
    ctx: &Context,
    obj: &ClerkDomain,
    status: &crate::api::ClerkDomainStatus,
) -> Result<(), kube::Error> {
    let api: Api<ClerkDomain> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkDomain", "status": status});
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&obj.name_any(), &pp, &Patch::Apply(&patch))
        .await?;
    Ok(())
}
