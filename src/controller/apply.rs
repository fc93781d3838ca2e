//! Apply: resolve the key and the pinned instance, check ownership, converge Clerk to the spec
//! ([`converge`](super::converge)), then the side effects (DNS, export) and the report: status,
//! Events and the requeue delay.

use super::backoff;
use super::converge::{Converged, Record, converge};
use super::failure::Failure;
use super::plan::Memory;
use super::reason::Reason;
use super::status::{Extras, Outcome};
use super::steps::{self, Target, key, report_failure, write_status};
use super::{Context, Error, events, secrets};
use crate::api::ClerkDomain;
use crate::api::annotations::{self, Annotations};
use kube::runtime::controller::Action;
use std::time::Duration;

/// Why a reconcile stopped before converging: a failure to report in status (with the longest
/// wait before looking again), or an error for the controller's error policy.
enum Stop {
    Failed(Failure, Duration),
    Error(Error),
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Self {
        Stop::Error(e.into())
    }
}

/// How long a new object may go without status while the operator resolves its key and lists
/// the instance's domains, before it says that work began.
const STARTED_AFTER: Duration = Duration::from_secs(1);

/// Bring Clerk to `obj`'s spec: resolve, converge, side effects, report.
pub(super) async fn apply(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let notes = annotations::parse(obj.metadata.annotations.as_ref());
    let resync = resync_period(ctx, obj, &notes).await;
    let mut extras = Extras {
        handled_reconcile_at: notes.reconcile_requested_at,
        ..Default::default()
    };
    let forced = forced(obj, &notes);
    let (resolved, started) = saying_started(ctx, obj, async {
        let target = resolve(ctx, obj, &notes, resync).await?;
        if forced {
            target.clerk.invalidate();
        }
        let listed = target.clerk.list_domains().await;
        let domains =
            listed.map_err(|e| Stop::Failed(Failure::clerk(&e, None), backoff::TERMINAL_RECHECK))?;
        Ok((target, domains))
    })
    .await?;
    let started = started.map(|st| ClerkDomain {
        status: Some(st),
        ..obj.clone()
    });
    let obj = started.as_ref().unwrap_or(obj);
    let (target, domains) = match resolved {
        Ok(t) => t,
        Err(Stop::Failed(f, recheck)) => return report_failure(obj, ctx, f, &extras, recheck).await,
        Err(Stop::Error(e)) => return Err(e),
    };
    extras.instance_id = Some(&target.instance_id);
    let pending = obj.status.as_ref().and_then(|s| s.pending_domain.clone());
    let memory = Memory {
        adopt_id: notes.domain_id.clone().and_then(Result::ok),
        production: target.production,
        pending: pending.as_deref(),
        primary_allowed: target.primary_allowed,
        adopted: obj.status.as_ref().and_then(|s| s.adopted) == Some(true),
        ..Default::default()
    };
    let mut record = Record::default();
    let result = converge(ctx, &target, obj, memory, &mut record, domains).await;
    // Compare the next status with what is stored now: a create may have written the record.
    let written = record.written.take().map(|st| ClerkDomain {
        status: Some(st),
        ..obj.clone()
    });
    let obj = written.as_ref().unwrap_or(obj);
    match result {
        Ok(done) => report_synced(ctx, obj, &target, done, extras, resync, forced).await,
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

/// Whether a `reconcile-requested-at` value not handled yet asks to look at Clerk afresh.
fn forced(obj: &ClerkDomain, notes: &Annotations<'_>) -> bool {
    let handled = obj
        .status
        .as_ref()
        .and_then(|s| s.last_handled_reconcile_at.as_deref());
    notes.reconcile_requested_at.is_some() && notes.reconcile_requested_at != handled
}

/// Run `work`, which writes no status. A new object (without status) whose `work` takes longer
/// than [`STARTED_AFTER`] first says that work began (`Reconciling=True`, reason `Progressing`):
/// kstatus reads an object without status as Current. Returns the status written, if any.
async fn saying_started<T>(
    ctx: &Context,
    obj: &ClerkDomain,
    work: impl std::future::Future<Output = T>,
) -> Result<(T, Option<crate::api::ClerkDomainStatus>), Error> {
    if obj.status.is_some() {
        return Ok((work.await, None));
    }
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => return Ok((done, None)),
        () = tokio::time::sleep(STARTED_AFTER) => {}
    }
    let status = steps::first_status(ctx, obj, Reason::Progressing, "looking the domain up in Clerk").await?;
    Ok((work.await, Some(status)))
}

/// Resolve where `obj`'s Clerk calls go: not while paused or with an invalid adoption
/// annotation; its key (marking the Secret or instance object in use), its pinned instance,
/// and that no older object owns the domain its status records.
async fn resolve(
    ctx: &Context,
    obj: &ClerkDomain,
    notes: &Annotations<'_>,
    resync: Duration,
) -> Result<Target, Stop> {
    if notes.paused {
        let message = format!(
            "{} is \"true\": Clerk is not read or written",
            annotations::PAUSED
        );
        return Err(Stop::Failed(Failure::new(Reason::Paused, message), resync));
    }
    if let Some(Err(message)) = &notes.domain_id {
        let f = Failure::new(Reason::InvalidAnnotation, message.clone());
        return Err(Stop::Failed(f, backoff::TERMINAL_RECHECK));
    }
    let target = steps::resolve(ctx, obj, steps::Purpose::Apply)
        .await
        .map_err(|f| Stop::Failed(f, backoff::TERMINAL_RECHECK))?;
    if let Some(secret) = &target.secret {
        secrets::ensure_in_use(ctx, secret).await?;
    }
    if let Some(via) = &target.via
        && !via.has_finalizer
    {
        super::instances::in_use::ensure_for(ctx, &via.key).await?;
    }
    if let Err(owner) = steps::check_owner(ctx, obj, &target.instance_id) {
        ctx.memory.ownership.wait_for(&owner.object, obj);
        let id = obj
            .status
            .as_ref()
            .and_then(|s| s.domain_id.as_deref())
            .unwrap_or_default();
        let message = format!(
            "Clerk domain {id} of instance {} is also recorded by ClerkDomain {owner}, which is older \
             and owns it; this object neither writes nor deletes it",
            target.instance_id
        );
        // Look again soon: the owner may be deleted.
        return Err(Stop::Failed(
            Failure::new(Reason::Conflict, message),
            Duration::from_secs(60),
        ));
    }
    Ok(target)
}

/// The side effects of a synced domain (DNS, export), then the report: status when it
/// changed, Events, and the next look (a DNS check that is due sooner, or the resync).
async fn report_synced(
    ctx: &Context,
    obj: &ClerkDomain,
    target: &Target,
    done: Converged,
    mut extras: Extras<'_>,
    resync: Duration,
    forced: bool,
) -> Result<Action, Error> {
    let outcome = Outcome::Synced {
        domain: &done.domain,
        adopted: done.adopted,
        applied_is_secondary: done.applied_is_secondary,
    };
    let dns = super::dns::reconcile(ctx, obj, &done.domain, &target.clerk, target.production, forced).await;
    extras.conditions = dns.conditions;
    extras.drop_conditions = dns.drop_conditions;
    extras.proxy_checked_at = dns.proxy_checked_at;
    extras.record_problems = dns.record_problems;
    let settings = target.via.as_ref().and_then(|v| v.platform.as_ref());
    let platform = super::platform::reconcile(ctx, obj, &done.domain.id, settings, forced).await;
    extras.conditions.extend(platform.conditions);
    extras.drop_conditions.extend(platform.drop_conditions);
    super::export::reconcile(ctx, obj, &done.domain, &target.clerk, target.production)
        .await
        .record(&mut extras);
    write_status(obj, ctx, &outcome, &extras).await?;
    for (reason, note) in &done.notes {
        events::normal(ctx, obj, reason, "Reconcile", note.clone()).await;
    }
    ctx.memory.note_success(&key(obj));
    let soonest = [dns.recheck, platform.recheck].into_iter().flatten().min();
    Ok(Action::requeue(soonest.map_or(resync, |r| resync.min(r))))
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
        && ctx.memory.first_warning(&key(obj), message)
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
