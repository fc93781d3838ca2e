//! The named steps that apply and cleanup share: resolve the key and the pinned Clerk instance,
//! check ownership, write status, report a failure.

use super::backoff::{self, Retry};
use super::failure::Failure;
pub(super) use super::instances::lookup::Purpose;
use super::ownership::{DomainKey, Owner};
use super::reason::{Class, Reason};
use super::status::{Extras, Outcome, next_status};
use super::{Context, Error, credentials};
use crate::api::{ClerkDomain, FIELD_MANAGER};
use crate::clerk::{ClerkInstance, InstanceKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `namespace/name`.
pub(super) fn key(obj: &impl kube::Resource) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Where an object's Clerk calls go: the instance of its key, checked against the pinned one.
pub(super) struct Target {
    pub clerk: Arc<ClerkInstance>,
    pub instance_id: String,
    pub production: bool,
    /// The metadata of the Secret the key came from (none for the default key).
    pub secret: Option<ObjectMeta>,
    /// The instance object the key came from (`spec.instanceRef` or `--default-instance`).
    pub via: Option<super::instances::lookup::Via>,
    /// Whether the key source lets the object's namespace manage the primary domain: the
    /// instance object's allowance, `--primary-domain-namespaces` for the default key, always
    /// for the namespace's own Secret (`secretRef`).
    pub primary_allowed: bool,
}

/// Resolve `obj`'s key and its Clerk instance. The instance is pinned by `status.instanceId`:
/// when the key now belongs to another instance, nothing may be written anywhere.
/// The key comes from the source [`choose`](super::instances::choose) picks: an instance object
/// (which must be Ready, and whose pinned instance the key must still belong to), the
/// object's `secretRef`, or the default key.
pub(super) async fn resolve(ctx: &Context, obj: &ClerkDomain, purpose: Purpose) -> Result<Target, Failure> {
    use super::instances::{KeySource, choose, lookup};
    let namespace = obj.namespace().unwrap_or_default();
    let source = choose(&obj.spec, &namespace, ctx.config.default_instance.as_deref());
    let (secret_key, secret, via, primary_allowed) = match source {
        KeySource::Instance(ik) => {
            let (key, meta, via) = lookup::key_via(ctx, obj, &ik, purpose).await?;
            let allowed = via.primary_allowed;
            (key, Some(meta), Some(via), allowed)
        }
        KeySource::Secret(_) | KeySource::DefaultKey => {
            let read = credentials::resolve(ctx, obj, purpose == Purpose::Cleanup).await;
            note_secret_read(ctx, obj, read.as_ref().ok().and_then(|(_, meta)| meta.as_ref()));
            let (key, meta) = read.map_err(|e| Failure::credentials(&e))?;
            let allowed = meta.is_some() || ctx.config.primary_allowed_with_default_key(&namespace);
            (key, meta, None, allowed)
        }
    };
    let production = secret_key.kind() == InstanceKind::Production;
    let clerk = ctx
        .clerk(secret_key)
        .await
        .map_err(|e| Failure::clerk(&e, None))?;
    let instance_id = clerk.id().to_string();
    if let Some(v) = &via
        && v.instance_id != instance_id
    {
        return Err(Failure::new(
            Reason::InstanceChanged,
            format!(
                "the secret key of {} now belongs to Clerk instance {instance_id}, but that object is \
                 pinned to instance {} (its status.instanceId): nothing is written to either. Put the \
                 old key back into its Secret",
                v.key, v.instance_id
            ),
        ));
    }
    if let Some(pinned) = super::plan::pinned_instance(obj.status.as_ref())
        && pinned != instance_id
    {
        return Err(Failure::new(
            Reason::InstanceChanged,
            format!(
                "the Clerk secret key now belongs to instance {instance_id}, but this object's domain \
                 lives on instance {pinned} (status.instanceId): nothing is written to either. A \
                 domain cannot move between instances: put the old key back, or create a new \
                 ClerkDomain for the new instance and delete this one with deletionPolicy: Orphan"
            ),
        ));
    }
    Ok(Target {
        clerk,
        instance_id,
        production,
        secret,
        via,
        primary_allowed,
    })
}

/// Remember which version of its Secret `obj`'s key was read from (`None`: no key was read
/// from a Secret), so that a watch event of that same version does not wake it again.
fn note_secret_read(ctx: &Context, obj: &ClerkDomain, secret: Option<&ObjectMeta>) {
    let read = secret.and_then(|m| Some((m.name.as_deref()?, m.resource_version.as_deref()?)));
    ctx.memory.secret_read(&key(obj), read);
}

/// The domain `obj`'s status records as owned, on `instance_id`.
pub(super) fn recorded_domain(obj: &ClerkDomain, instance_id: &str) -> Option<DomainKey> {
    let id = obj.status.as_ref()?.domain_id.as_deref()?;
    Some(DomainKey::new(instance_id, id))
}

/// Whether `obj` may act on the domain its status records: an older object recording the same
/// domain (state from before ownership by identity) owns it instead.
pub(super) fn check_owner(ctx: &Context, obj: &ClerkDomain, instance_id: &str) -> Result<(), Owner> {
    match recorded_domain(obj, instance_id) {
        Some(k) => ctx.memory.ownership.owns(obj, &k),
        None => Ok(()),
    }
}

/// The plan's view of who owns the instance's other domains. It remembers the owners it named,
/// so that an object refused because of one is woken when that owner changes or goes.
pub(super) struct OwnersOf<'a> {
    ctx: &'a Context,
    obj: &'a ClerkDomain,
    instance_id: &'a str,
    named: std::sync::Mutex<Vec<String>>,
}

impl<'a> OwnersOf<'a> {
    pub fn new(ctx: &'a Context, obj: &'a ClerkDomain, instance_id: &'a str) -> Self {
        OwnersOf {
            ctx,
            obj,
            instance_id,
            named: Default::default(),
        }
    }

    /// After a refusal: wake the object when an owner it was refused for changes or goes.
    pub fn wait_on_named(&self) {
        for owner in self.named.lock().unwrap().iter() {
            self.ctx.memory.ownership.wait_for(owner, self.obj);
        }
    }
}

impl super::plan::Owners for OwnersOf<'_> {
    fn other_owner(&self, domain_id: &str) -> Option<String> {
        let owner = self
            .ctx
            .memory
            .ownership
            .other_owner(self.obj, &DomainKey::new(self.instance_id, domain_id))
            .map(|o| o.object.to_string());
        if let Some(o) = &owner {
            self.named.lock().unwrap().push(o.clone());
        }
        owner
    }
}

/// Record a failure: status, a Warning Event when the status changed, and the requeue delay
/// (backoff for transient failures, a slow recheck of at most `terminal_recheck` otherwise).
pub(super) async fn report_failure(
    obj: &ClerkDomain,
    ctx: &Context,
    f: Failure,
    extras: &Extras<'_>,
    terminal_recheck: Duration,
) -> Result<Action, Error> {
    if f.reason == Reason::RateBudgetWait {
        return waiting_for_turn(obj, ctx, &f).await;
    }
    let outcome = Outcome::Failed {
        reason: f.reason,
        message: &f.message,
        domain: f.domain.as_deref(),
        gone: f.gone,
    };
    let changed = write_status(obj, ctx, &outcome, extras).await?;
    if changed {
        let type_ = if f.reason.class() == Class::Paused {
            kube::runtime::events::EventType::Normal
        } else {
            kube::runtime::events::EventType::Warning
        };
        super::events::publish(ctx, obj, type_, f.reason.as_str(), "Reconcile", f.message.clone()).await;
    }
    let attempt = ctx.memory.note_failure(&key(obj));
    let retry = f.retry();
    let mut delay = backoff::delay(retry, attempt, rand::random());
    if retry == Retry::Terminal {
        let recheck = credentials::secret_recheck(ctx, f.reason).unwrap_or(terminal_recheck);
        delay = delay.min(recheck.max(Duration::from_secs(1)));
    }
    tracing::info!(object = %key(obj), reason = %f.reason, message = %f.message, attempt, retry_in_secs = delay.as_secs(), "not synced");
    Ok(Action::requeue(delay))
}

/// A request sent away for its turn in the instance's budget: not a failure, so no status change
/// (a new object says that it waits), no Event, no backoff; requeued for the turn.
async fn waiting_for_turn(obj: &ClerkDomain, ctx: &Context, f: &Failure) -> Result<Action, Error> {
    if obj.status.is_none() {
        first_status(ctx, obj, f.reason, &f.message).await?;
    }
    // Counted from now, not from when the turn was given: the status write took time.
    let turn = f.turn_at.map_or(backoff::MIN_AFTER, |at| {
        at.saturating_duration_since(tokio::time::Instant::now())
    });
    tracing::debug!(object = %key(obj), turn_in_ms = turn.as_millis() as u64, "waiting for the instance's rate budget");
    ctx.metrics.rate_limiter_turns.inc();
    Ok(Action::requeue(turn))
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

/// Write the first status of a new object (`Reconciling=True` with `reason` and `message`, and
/// `observedGeneration`) and return it.
pub(super) async fn first_status(
    ctx: &Context,
    obj: &ClerkDomain,
    reason: Reason,
    message: &str,
) -> Result<crate::api::ClerkDomainStatus, Error> {
    let mut status = crate::api::ClerkDomainStatus {
        observed_generation: obj.metadata.generation,
        ..Default::default()
    };
    let c = crate::api::condition(
        crate::api::condition_type::RECONCILING,
        true,
        reason.as_str(),
        message,
        obj.metadata.generation,
        jiff::Timestamp::now(),
    );
    crate::api::set_condition(&mut status.conditions, c);
    apply_status(ctx, obj, &status).await?;
    Ok(status)
}

/// Server-side apply `status` as the operator's field manager: the whole status it owns.
pub(super) async fn apply_status(
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
