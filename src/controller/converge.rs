//! Converge: list the instance's domains, let [`plan`](super::plan) choose a step, take it
//! (POST or PATCH, claiming what the object comes to own), until Clerk matches the spec.

use super::Context;
use super::failure::Failure;
use super::ownership::DomainKey;
use super::plan::{self, Memory, Step};
use super::reason::Reason;
use super::steps::{self, Target, key};
use crate::api::ClerkDomain;
use crate::clerk::{ClerkError, ClerkInstance, Domain};

/// What became of `status.pendingDomain` during converging.
#[derive(Default)]
pub(super) struct Record {
    /// `Some(Some(name))`: recorded for a create whose answer is unknown; `Some(None)`: cleared
    /// because Clerk answered.
    pub(super) pending: Option<Option<String>>,
    /// The status written with the record, before the POST.
    pub(super) written: Option<crate::api::ClerkDomainStatus>,
}

/// What converging did, for status and Events.
pub(super) struct Converged {
    pub(super) domain: Domain,
    pub(super) adopted: bool,
    pub(super) applied_is_secondary: Option<bool>,
    pub(super) notes: Vec<(&'static str, String)>,
}

/// Claim `domain` for `obj` before adopting it: refused when another object owns it.
fn claim(ctx: &Context, obj: &ClerkDomain, instance_id: &str, domain: &Domain) -> Result<(), Failure> {
    ctx.memory
        .ownership
        .claim(obj, &DomainKey::new(instance_id, &domain.id))
        .map_err(|owner| {
            ctx.memory.ownership.wait_for(&owner.object, obj);
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
pub(super) async fn converge(
    ctx: &Context,
    target: &Target,
    obj: &ClerkDomain,
    base: Memory<'_>,
    record: &mut Record,
    domains: crate::clerk::SharedDomains,
) -> Result<Converged, Failure> {
    let owners = steps::OwnersOf::new(ctx, obj, &target.instance_id);
    let result = take_steps(ctx, target, obj, (base, domains), record, &owners).await;
    if let Err(f) = &result
        && matches!(f.reason, Reason::AlreadyOwned | Reason::NameTaken)
    {
        owners.wait_on_named();
    }
    result
}

/// What converging knows so far: the instance's domains as last listed (or only the domain
/// just written), and what the object owns.
struct Progress {
    domains: crate::clerk::SharedDomains,
    domain_id: Option<String>,
    applied_is_secondary: Option<bool>,
    pending: Option<String>,
    adopted: bool,
    notes: Vec<(&'static str, String)>,
}

impl Progress {
    /// The listed domain with ID `id`.
    fn listed(&self, id: &str) -> Option<Domain> {
        listed(&self.domains, id)
    }

    /// The domain the object owns, as last listed.
    fn owned(&self) -> Option<Domain> {
        self.domain_id.as_deref().and_then(|id| self.listed(id))
    }

    /// Go on with `d` alone: the domain just created or updated.
    fn only(&mut self, d: Domain) {
        self.domains = std::sync::Arc::new(vec![std::sync::Arc::new(d)]);
    }

    /// Clerk answered the create definitively: the record is done.
    fn answered(&mut self, record: &mut Record) {
        record.pending = Some(None);
        self.pending = None;
    }
}

async fn take_steps(
    ctx: &Context,
    target: &Target,
    obj: &ClerkDomain,
    (base, domains): (Memory<'_>, crate::clerk::SharedDomains),
    record: &mut Record,
    owners: &steps::OwnersOf<'_>,
) -> Result<Converged, Failure> {
    let status = obj.status.clone().unwrap_or_default();
    let mut p = Progress {
        domains,
        domain_id: status.domain_id.clone(),
        applied_is_secondary: status.applied_is_secondary,
        pending: base.pending.map(str::to_string),
        adopted: false,
        notes: vec![],
    };
    for _ in 0..4 {
        let memory = Memory {
            domain_id: p.domain_id.as_deref(),
            applied_is_secondary: p.applied_is_secondary,
            pending: p.pending.as_deref(),
            ..base.clone()
        };
        let step = plan::plan(&obj.spec, &memory, &p.domains, owners);
        take_ownership(ctx, target, obj, &step, &mut p, record)?;
        match step {
            Step::InSync { id, .. } => {
                return Ok(Converged {
                    domain: p.listed(&id).expect("plan names a listed domain"),
                    adopted: p.adopted,
                    applied_is_secondary: p.applied_is_secondary,
                    notes: p.notes,
                });
            }
            Step::Create { body, recreate } => {
                // A failed re-create: Clerk holds no domain of this object now.
                create_step(ctx, target, obj, &body, recreate, &mut p, record)
                    .await
                    .map_err(|f| Failure { gone: recreate, ..f })?
            }
            Step::Update { id, body, .. } => update_step(target, obj, &id, &body, &mut p).await?,
            Step::Invalid { reason, message } => {
                // The domain the object owns (if any) stays in status.
                return Err(Failure {
                    domain: p.owned().map(Box::new),
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

/// Before acting on a listed domain the plan chose: claim it (an adoption, or this object's own
/// create whose answer was lost and which is now found by its recorded name).
fn take_ownership(
    ctx: &Context,
    target: &Target,
    obj: &ClerkDomain,
    step: &Step,
    p: &mut Progress,
    record: &mut Record,
) -> Result<(), Failure> {
    let (Step::InSync { id, adopt } | Step::Update { id, adopt, .. }) = step else {
        return Ok(());
    };
    let Some(d) = p.listed(id) else {
        return Ok(());
    };
    if *adopt {
        claim(ctx, obj, &target.instance_id, &d)?;
        p.adopted = true;
        let note = format!("Adopted existing Clerk domain {} ({})", d.id, d.name);
        p.notes.push(("Adopted", note));
    } else if p.domain_id.as_deref() != Some(&d.id) {
        // Our own create whose answer was lost: ours, not adopted.
        claim(ctx, obj, &target.instance_id, &d)?;
        p.answered(record);
    }
    p.domain_id = Some(d.id.clone());
    Ok(())
}

/// `POST /domains`. A definitive "name exists" answer lists again (the domain may be adoptable);
/// an unknown answer keeps `status.pendingDomain`, so the domain is found later.
async fn create_step(
    ctx: &Context,
    target: &Target,
    obj: &ClerkDomain,
    body: &crate::clerk::CreateDomain,
    recreate: bool,
    p: &mut Progress,
    record: &mut Record,
) -> Result<(), Failure> {
    let clerk: &ClerkInstance = &target.clerk;
    let before = p.owned();
    match create(ctx, clerk, obj, body, record).await {
        Ok(d) => {
            p.answered(record);
            claim(ctx, obj, &target.instance_id, &d)?;
            let note = match &p.domain_id {
                Some(old) if recreate => {
                    format!("Domain {old} was gone from Clerk; created {} ({})", d.id, d.name)
                }
                _ => format!("Created Clerk domain {} ({})", d.id, d.name),
            };
            p.notes
                .push((if recreate { "Recreated" } else { "Created" }, note));
            p.domain_id = Some(d.id.clone());
            p.applied_is_secondary = None;
            p.only(d);
            Ok(())
        }
        Err(CreateError::NotRecorded(f)) => Err(f),
        // Never sent: nothing was created, and the record of the create to come stays.
        Err(CreateError::Clerk(e)) if e.is_unsent() => Err(Failure::clerk(&e, before)),
        Err(CreateError::Clerk(e)) if answered(&e) => {
            let exists = e.status() == Some(422) && e.code() == Some("form_identifier_exists");
            // An earlier POST of this very name, recorded in status, may have committed with its
            // answer lost: keep the record, so that the name is found as this object's own.
            // Otherwise the name was taken before the first POST: someone else's.
            if !(exists && p.pending.as_deref() == Some(body.name.as_str())) {
                p.answered(record);
            }
            if !exists {
                return Err(Failure::clerk(&e, before));
            }
            // Look again: the plan finds it by the record, or reports the name taken.
            clerk.invalidate();
            p.domains = clerk.list_domains().await.map_err(|e| Failure::clerk(&e, None))?;
            Ok(())
        }
        Err(CreateError::Clerk(e)) => {
            record.pending = Some(Some(body.name.clone()));
            Err(Failure::clerk(&e, before))
        }
    }
}

/// `PATCH /domains/{id}`; the plan goes on with the updated domain alone.
async fn update_step(
    target: &Target,
    obj: &ClerkDomain,
    id: &str,
    body: &crate::clerk::UpdateDomain,
    p: &mut Progress,
) -> Result<(), Failure> {
    tracing::info!(object = %key(obj), id = %id, change = ?body, "updating Clerk domain");
    let found = p.listed(id);
    let d = target
        .clerk
        .update_domain(id, body)
        .await
        .map_err(|e| Failure::clerk(&e, found))?;
    if let Some(s) = body.is_secondary {
        p.applied_is_secondary = Some(s);
    }
    let note = format!("Updated {} of Clerk domain {}", body.fields().join(", "), d.id);
    p.notes.push(("Updated", note));
    p.only(d);
    Ok(())
}

/// A copy of the listed domain with ID `id`, for the plan's next round and status.
fn listed(domains: &[std::sync::Arc<Domain>], id: &str) -> Option<Domain> {
    domains.iter().find(|d| d.id == id).map(|d| Domain::clone(d))
}

/// Whether Clerk answered a POST definitively (it did or did not create): any answer but 408,
/// 429 and 5xx.
fn answered(e: &ClerkError) -> bool {
    e.status().is_some_and(|s| s < 500 && s != 408 && s != 429)
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
