//! Apply: resolve the key and the pinned instance, check ownership, observe Clerk, carry out
//! [`plan`](super::plan)'s steps, write status, publish Events, pick the requeue delay.

use super::backoff;
use super::ownership::DomainKey;
use super::plan::{self, Memory, Step};
use super::reason::Reason;
use super::status::{Extras, Outcome};
use super::steps::{self, Failure, Target, key, report_failure, write_status};
use super::{Context, Error, events, secrets};
use crate::api::ClerkDomain;
use crate::api::annotations::{self, Annotations};
use crate::clerk::{ClerkError, ClerkInstance, Domain};
use kube::runtime::controller::Action;
use std::time::Duration;

/// What became of `status.pendingDomain` during converging.
#[derive(Default)]
struct Record {
    /// `Some(Some(name))`: recorded for a create whose answer is unknown; `Some(None)`: cleared
    /// because Clerk answered.
    pending: Option<Option<String>>,
    /// The status written with the record, before the POST.
    written: Option<crate::api::ClerkDomainStatus>,
}

/// What converging did, for status and Events.
struct Converged {
    domain: Domain,
    adopted: bool,
    applied_is_secondary: Option<bool>,
    notes: Vec<(&'static str, String)>,
}

/// Bring Clerk to `obj`'s spec.
pub(super) async fn apply(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let notes = annotations::parse(obj.metadata.annotations.as_ref());
    let resync = resync_period(ctx, obj, &notes).await;
    let mut extras = Extras {
        handled_reconcile_at: notes.reconcile_requested_at,
        ..Default::default()
    };
    if notes.paused {
        let f = Failure::new(
            Reason::Paused,
            format!(
                "{} is \"true\": Clerk is not read or written",
                annotations::PAUSED
            ),
        );
        return report_failure(obj, ctx, f, &extras, resync).await;
    }
    if let Some(Err(message)) = &notes.domain_id {
        let f = Failure::new(Reason::InvalidAnnotation, message.clone());
        return report_failure(obj, ctx, f, &extras, backoff::TERMINAL_RECHECK).await;
    }
    let target = match steps::resolve(ctx, obj).await {
        Ok(t) => t,
        Err(f) => return report_failure(obj, ctx, f, &extras, backoff::TERMINAL_RECHECK).await,
    };
    if let Some(secret) = &target.secret {
        secrets::ensure_in_use(ctx, secret).await?;
    }
    if let Some(via) = &target.via
        && !via.has_finalizer
    {
        super::instances::in_use::ensure_for(ctx, &via.key).await?;
    }
    extras.instance_id = Some(&target.instance_id);
    if let Err(owner) = steps::check_owner(ctx, obj, &target.instance_id) {
        ctx.ownership.wait_for(&owner.object, obj);
        let id = obj
            .status
            .as_ref()
            .and_then(|s| s.domain_id.as_deref())
            .unwrap_or_default();
        let f = Failure::new(
            Reason::Conflict,
            format!(
                "Clerk domain {id} of instance {} is also recorded by ClerkDomain {owner}, which is \
                 older and owns it; this object neither writes nor deletes it",
                target.instance_id
            ),
        );
        // Look again soon: the owner may be deleted.
        return report_failure(obj, ctx, f, &extras, Duration::from_secs(60)).await;
    }
    let forced = notes.reconcile_requested_at.is_some()
        && notes.reconcile_requested_at
            != obj
                .status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref());
    if forced {
        target.clerk.invalidate();
    }
    let pending = obj.status.as_ref().and_then(|s| s.pending_domain.clone());
    let memory = Memory {
        adopt_id: notes.domain_id.clone().and_then(Result::ok),
        production: target.production,
        pending: pending.as_deref(),
        ..Default::default()
    };
    let mut record = Record::default();
    let result = converge(ctx, &target, obj, memory, &mut record).await;
    // Compare the next status with what is stored now: a create may have written the record.
    let written = record.written.take().map(|st| {
        let mut o = obj.clone();
        o.status = Some(st);
        o
    });
    let obj = written.as_ref().unwrap_or(obj);
    match result {
        Ok(done) => {
            let outcome = Outcome::Synced {
                domain: &done.domain,
                adopted: done.adopted,
                applied_is_secondary: done.applied_is_secondary,
            };
            let dns =
                super::dns::reconcile(ctx, obj, &done.domain, &target.clerk, target.production, forced).await;
            extras.conditions = dns.conditions;
            extras.drop_conditions = dns.drop_conditions;
            extras.proxy_checked_at = dns.proxy_checked_at;
            super::export::reconcile(ctx, obj, &done.domain, &target.clerk, target.production)
                .await
                .record(&mut extras);
            // The next look: a DNS check that is due sooner, or the resync.
            let next = dns.recheck.map_or(resync, |r| resync.min(r));
            write_status(obj, ctx, &outcome, &extras).await?;
            for (reason, note) in done.notes {
                events::normal(ctx, obj, reason, "Reconcile", note).await;
            }
            ctx.note_success(&key(obj));
            Ok(Action::requeue(next))
        }
        Err(f) => {
            // Keep the record of a create whose answer was lost; clear it once Clerk answered.
            let extras = Extras {
                pending_domain: record.pending.as_ref().map(|p| p.as_deref()),
                ..extras
            };
            report_failure(obj, ctx, f, &extras, backoff::TERMINAL_RECHECK).await
        }
    }
}

/// The delay to the object's next resync: its own period (annotation
/// `clerk-operator.io/resync-period`) or the flag's, aligned so that the objects of an instance
/// resync together and share one list. A malformed value is reported once (per value) with a
/// Warning Event.
async fn resync_period(ctx: &Context, obj: &ClerkDomain, notes: &Annotations<'_>) -> Duration {
    let warning = match &notes.resync_period {
        Some(Err(message)) => Some(message),
        _ => notes.resync_period_note.as_ref(),
    };
    if let Some(message) = warning
        && ctx.first_warning(&key(obj), message)
    {
        events::warning(
            ctx,
            obj,
            Reason::InvalidAnnotation.as_str(),
            "Reconcile",
            message.clone(),
        )
        .await;
    }
    match &notes.resync_period {
        Some(Ok(period)) => backoff::aligned(*period, std::time::SystemTime::now(), rand::random()),
        _ => ctx.resync_delay(),
    }
}

/// Claim `domain` for `obj` before adopting it: refused when another object owns it.
fn claim(ctx: &Context, obj: &ClerkDomain, instance_id: &str, domain: &Domain) -> Result<(), Failure> {
    ctx.ownership
        .claim(obj, &DomainKey::new(instance_id, &domain.id))
        .map_err(|owner| {
            ctx.ownership.wait_for(&owner.object, obj);
            Failure::new(
                Reason::AlreadyOwned,
                format!(
                    "Clerk domain {} ({}) is owned by ClerkDomain {owner}; this object leaves it alone",
                    domain.id, domain.name
                ),
            )
        })
}

/// Observe Clerk and take plan steps until it matches the spec (at most a few steps: a create
/// may need a follow-up PATCH for `is_secondary`).
async fn converge(
    ctx: &Context,
    target: &Target,
    obj: &ClerkDomain,
    base: Memory<'_>,
    record: &mut Record,
) -> Result<Converged, Failure> {
    let owners = steps::OwnersOf::new(ctx, obj, &target.instance_id);
    let result = take_steps(ctx, target, obj, base, record, &owners).await;
    if let Err(f) = &result
        && matches!(f.reason, Reason::AlreadyOwned | Reason::NameTaken)
    {
        owners.wait_on_named();
    }
    result
}

async fn take_steps(
    ctx: &Context,
    target: &Target,
    obj: &ClerkDomain,
    base: Memory<'_>,
    record: &mut Record,
    owners: &steps::OwnersOf<'_>,
) -> Result<Converged, Failure> {
    let clerk: &ClerkInstance = &target.clerk;
    let instance_id = target.instance_id.as_str();
    let status = obj.status.clone().unwrap_or_default();
    let mut domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
    let mut domain_id = status.domain_id.clone();
    let mut applied_is_secondary = status.applied_is_secondary;
    let mut pending = base.pending.map(str::to_string);
    let mut adopted = false;
    let mut notes = vec![];
    let known = |domains: &[std::sync::Arc<Domain>], id: &Option<String>| {
        id.as_deref().and_then(|id| listed(domains, id))
    };
    for _ in 0..4 {
        let memory = Memory {
            domain_id: domain_id.as_deref(),
            applied_is_secondary,
            pending: pending.as_deref(),
            ..base.clone()
        };
        let step = plan::plan(&obj.spec, &memory, &domains, owners);
        let adopting = matches!(
            step,
            Step::InSync { adopt: true, .. } | Step::Update { adopt: true, .. }
        );
        if let Step::InSync { id, .. } | Step::Update { id, .. } = &step {
            let d = listed(&domains, id);
            if let Some(d) = &d {
                if adopting {
                    claim(ctx, obj, instance_id, d)?;
                    adopted = true;
                    notes.push((
                        "Adopted",
                        format!("Adopted existing Clerk domain {} ({})", d.id, d.name),
                    ));
                } else if domain_id.as_deref() != Some(&d.id) {
                    // Our own create whose answer was lost: ours, not adopted.
                    claim(ctx, obj, instance_id, d)?;
                    record.pending = Some(None);
                    pending = None;
                }
                domain_id = Some(d.id.clone());
            }
        }
        match step {
            Step::InSync { id, .. } => {
                let domain = listed(&domains, &id).expect("plan names a listed domain");
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
                match create(ctx, clerk, obj, &body, record).await {
                    Ok(d) => {
                        record.pending = Some(None);
                        pending = None;
                        claim(ctx, obj, instance_id, &d)?;
                        let note = match &domain_id {
                            Some(old) if recreate => {
                                format!("Domain {old} was gone from Clerk; created {} ({})", d.id, d.name)
                            }
                            _ => format!("Created Clerk domain {} ({})", d.id, d.name),
                        };
                        notes.push((if recreate { "Recreated" } else { "Created" }, note));
                        domain_id = Some(d.id.clone());
                        applied_is_secondary = None;
                        domains = std::sync::Arc::new(vec![std::sync::Arc::new(d)]);
                    }
                    Err(CreateError::NotRecorded(f)) => return Err(f),
                    Err(CreateError::Clerk(e)) if answered(&e) => {
                        record.pending = Some(None);
                        pending = None;
                        if e.status() == Some(422) && e.code() == Some("form_identifier_exists") {
                            // Someone created it meanwhile: look again (adopt it if nobody owns it).
                            clerk.invalidate();
                            domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
                        } else {
                            return Err(Failure::clerk(&e, before));
                        }
                    }
                    Err(CreateError::Clerk(e)) => {
                        // The answer is unknown: keep the record, so the domain is found later.
                        record.pending = Some(Some(body.name.clone()));
                        return Err(Failure::clerk(&e, before));
                    }
                }
            }
            Step::Update { id, body, .. } => {
                tracing::info!(object = %key(obj), id = %id, change = ?body, "updating Clerk domain");
                // As for a create: the shared list is let go during the PATCH, and the plan goes
                // on with the updated domain alone.
                let found = listed(&domains, &id);
                drop(std::mem::take(&mut domains));
                match clerk.update_domain(&id, &body).await {
                    Ok(d) => {
                        if let Some(s) = body.is_secondary {
                            applied_is_secondary = Some(s);
                        }
                        notes.push((
                            "Updated",
                            format!("Updated {} of Clerk domain {}", body.fields().join(", "), d.id),
                        ));
                        domains = std::sync::Arc::new(vec![std::sync::Arc::new(d)]);
                    }
                    Err(e) => return Err(Failure::clerk(&e, found)),
                }
            }
            Step::Invalid { reason, message } => {
                // The domain the object owns (if any) stays in status.
                return Err(Failure {
                    domain: known(&domains, &domain_id).map(Box::new),
                    ..Failure::new(reason, message)
                });
            }
        }
    }
    Err(Failure::new(
        Reason::NotConverging,
        "Clerk did not reach the spec after several steps",
    ))
}

/// Whether Clerk answered a POST definitively (it did or did not create): any answer but 408,
/// 429 and 5xx, or a connection that never reached it.
/// A copy of the listed domain with ID `id`, for the plan's next round and status.
fn listed(domains: &[std::sync::Arc<Domain>], id: &str) -> Option<Domain> {
    domains.iter().find(|d| d.id == id).map(|d| Domain::clone(d))
}

fn answered(e: &ClerkError) -> bool {
    match e.status() {
        Some(s) => s < 500 && s != 408 && s != 429,
        None => e.is_connect(),
    }
}

enum CreateError {
    /// `status.pendingDomain` could not be written, so nothing was sent.
    NotRecorded(Failure),
    Clerk(ClerkError),
}

/// `POST /domains`, after recording the name in `status.pendingDomain`: if the answer is lost
/// and the spec renamed before the next look, the domain is still found as this object's own.
async fn create(
    ctx: &Context,
    clerk: &ClerkInstance,
    obj: &ClerkDomain,
    body: &crate::clerk::CreateDomain,
    record: &mut Record,
) -> Result<Domain, CreateError> {
    let known = obj.status.as_ref().and_then(|s| s.pending_domain.as_deref()) == Some(body.name.as_str());
    if !known {
        match record_pending(ctx, obj, &body.name).await {
            Ok(st) => record.written = Some(st),
            // Without the record a lost answer could leak a domain: do not create now.
            Err(e) => {
                return Err(CreateError::NotRecorded(Failure::new(
                    Reason::StatusWriteFailed,
                    format!("not sent: recording status.pendingDomain failed: {e}"),
                )));
            }
        }
    }
    tracing::info!(object = %key(obj), name = %body.name, "creating Clerk domain");
    let result = clerk.create_domain(body).await;
    match &result {
        Ok(d) => tracing::info!(object = %key(obj), name = %d.name, id = %d.id, "created Clerk domain"),
        Err(e) => {
            tracing::info!(object = %key(obj), name = %body.name, error = %e, "creating Clerk domain failed")
        }
    }
    result.map_err(CreateError::Clerk)
}

/// Write `status.pendingDomain` (with `Reconciling=True`, reason `Creating`) before a POST.
async fn record_pending(
    ctx: &Context,
    obj: &ClerkDomain,
    name: &str,
) -> Result<crate::api::ClerkDomainStatus, kube::Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    status.pending_domain = Some(name.to_string());
    status.observed_generation = obj.metadata.generation;
    let c = crate::api::condition(
        crate::api::condition_type::RECONCILING,
        true,
        Reason::Creating.as_str(),
        format!("creating Clerk domain {name}"),
        obj.metadata.generation,
        jiff::Timestamp::now(),
    );
    crate::api::set_condition(&mut status.conditions, c);
    steps::apply_status(ctx, obj, &status).await?;
    Ok(status)
}
