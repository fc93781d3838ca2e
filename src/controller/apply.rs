//! Apply: resolve the key and the pinned instance, check ownership, converge Clerk to the spec
//! ([`converge`](super::converge)), then the side effects (DNS, export) and the report: status,
//! Events and the requeue delay.

use super::backoff;
use super::converge::{Converged, Record, converge};
use super::plan::Memory;
use super::reason::Reason;
use super::status::{Extras, Outcome};
use super::steps::{self, Failure, Target, key, report_failure, write_status};
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

/// Bring Clerk to `obj`'s spec: resolve, converge, side effects, report.
pub(super) async fn apply(obj: &ClerkDomain, ctx: &Context) -> Result<Action, Error> {
    let notes = annotations::parse(obj.metadata.annotations.as_ref());
    let resync = resync_period(ctx, obj, &notes).await;
    let mut extras = Extras {
        handled_reconcile_at: notes.reconcile_requested_at,
        ..Default::default()
    };
    let target = match resolve(ctx, obj, &notes, resync).await {
        Ok(t) => t,
        Err(Stop::Failed(f, recheck)) => return report_failure(obj, ctx, f, &extras, recheck).await,
        Err(Stop::Error(e)) => return Err(e),
    };
    extras.instance_id = Some(&target.instance_id);
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
    let target = steps::resolve(ctx, obj)
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
        ctx.ownership.wait_for(&owner.object, obj);
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
    super::export::reconcile(ctx, obj, &done.domain, &target.clerk, target.production)
        .await
        .record(&mut extras);
    write_status(obj, ctx, &outcome, &extras).await?;
    for (reason, note) in &done.notes {
        events::normal(ctx, obj, reason, "Reconcile", note.clone()).await;
    }
    ctx.note_success(&key(obj));
    Ok(Action::requeue(dns.recheck.map_or(resync, |r| resync.min(r))))
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
