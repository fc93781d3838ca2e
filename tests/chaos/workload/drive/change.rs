//! The random change of one live object: squat or aim a hostile object, rename it, toggle its
//! proxy, pause or unpause it, or delete it.

use super::*;

/// Change live object `i` at random: squat or aim a hostile object (from anywhere), rename it,
/// toggle its proxy, pause or unpause it, or delete it.
pub(super) async fn change_one(
    world: &World,
    w: &mut Workload,
    i: usize,
    namespace_deleted: bool,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let api: Api<ClerkDomain> = Api::namespaced(world.client.clone(), &w.objs[i].ns);
    let roll: f64 = rng.random();
    if roll < 0.12 {
        let op = attack(world, w, roll, namespace_deleted, rng).await?;
        w.ops.add(op.unwrap_or("squat/hostile skipped (nothing settled)"));
        return Ok(());
    }
    if w.objs[i].hostile.is_some() && roll < 0.65 {
        // Hostile objects are only ever deleted.
        w.ops.add("hostile left alone");
        return Ok(());
    }
    let roll = steer(&w.objs, i, &w.sw, roll);
    let o = &mut w.objs[i];
    if roll < 0.65 {
        patch_one(&api, o, &mut w.ops, roll).await
    } else {
        delete_one(&api, o, &mut w.ops).await
    }
}

/// A squat (`roll` under 0.06) or a hostile object (by annotation under 0.09): what was done,
/// `None` when nothing was settled enough.
async fn attack(
    world: &World,
    w: &mut Workload,
    roll: f64,
    namespace_deleted: bool,
    rng: &mut StdRng,
) -> anyhow::Result<Option<&'static str>> {
    let World {
        client, keys, fake, ..
    } = world;
    let Workload { objs, problems, .. } = w;
    Ok(if roll < 0.06 {
        try_squat(objs, client, fake, keys, rng, problems)
            .await?
            .then_some("rename into a taken name")
    } else {
        let by_annotation = roll < 0.09;
        try_hostile(
            objs,
            by_annotation,
            namespace_deleted,
            client,
            fake,
            keys,
            rng,
            problems,
        )
        .await?
        .then_some(if by_annotation {
            "hostile by annotation"
        } else {
            "hostile by name"
        })
    })
}

/// `roll` steered away from changes object `i` must not undergo now.
fn steer(objs: &[Obj], i: usize, sw: &Switch, mut roll: f64) -> f64 {
    let guarded = protected(objs, &objs[i].key());
    if guarded && !(0.42..0.65).contains(&roll) {
        // A holder or victim keeps its name and stays: change its proxy instead.
        roll = 0.45;
    }
    let switched = sw.active();
    if switched && objs[i].ns == SWITCH_NAMESPACE && (0.52..0.65).contains(&roll) {
        // An unpause now could let an object that never read its key use the
        // other instance's: change its proxy instead.
        roll = 0.45;
    }
    if switched && roll >= 0.65 && sw.witness() == Some(&objs[i].key()) {
        // The witness stays until the key is back (others may go: one released without
        // reading its key, e.g. `deletionPolicy: Orphan`, cannot show InstanceChanged).
        roll = 0.45;
    }
    if objs[i].squat.is_some() && (0.35..0.52).contains(&roll) {
        // A refused rename applies no proxy change: rename it away instead.
        roll = 0.2;
    }
    roll
}

/// Rename `o` (`roll` under 0.35), toggle its proxy (under 0.52) or pause or unpause it.
async fn patch_one(api: &Api<ClerkDomain>, o: &mut Obj, ops: &mut Ops, roll: f64) -> anyhow::Result<()> {
    let name = o.name.clone();
    let pp = PatchParams::default();
    if roll < 0.35 {
        let generation = o.names.len();
        let domain = domain_for(&name, &o.ns, generation);
        let patch = Patch::Merge(json!({"spec": {"domain": domain}}));
        retry("rename", || api.patch(&name, &pp, &patch)).await?;
        o.names.insert(domain.clone());
        o.domain = domain;
        ops.add(if o.squat.take().is_some() {
            "rename away from a taken name"
        } else {
            "rename"
        });
    } else if roll < 0.52 {
        let proxy = match o.proxy {
            Some(_) => None,
            None => Some(format!("https://{}/__clerk", o.domain)),
        };
        let patch = Patch::Merge(json!({"spec": {"proxyUrl": proxy}}));
        retry("proxy", || api.patch(&name, &pp, &patch)).await?;
        o.proxy = proxy;
        ops.add("proxyUrl change");
    } else {
        let paused = !o.paused;
        let value = paused.then_some("true");
        let patch = Patch::Merge(json!({"metadata": {"annotations": {"clerk-operator.io/paused": value}}}));
        retry("pause", || api.patch(&name, &pp, &patch)).await?;
        o.paused = paused;
        ops.add(if paused { "pause" } else { "unpause" });
    }
    Ok(())
}

/// Delete `o`, recording the domain ID its status held.
async fn delete_one(api: &Api<ClerkDomain>, o: &mut Obj, ops: &mut Ops) -> anyhow::Result<()> {
    let name = o.name.clone();
    let current = retry("get", || api.get_opt(&name)).await?;
    let domain_id = current.and_then(|c| c.status.and_then(|s| s.domain_id));
    let at = jiff::Timestamp::now();
    retry("delete", || async {
        match api.delete(&name, &DeleteParams::default()).await {
            Err(e) if is_status(&e, 404) => Ok(()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await?;
    let orphaned = o.orphan_policy || o.paused;
    o.deleted = Some(Deleted {
        orphaned,
        domain_id,
        at,
    });
    ops.add(match (&o.hostile, o.orphan_policy, o.paused) {
        (Some(_), ..) => "delete (hostile)",
        (_, true, _) => "delete (Orphan policy)",
        (_, false, true) => "delete (paused)",
        _ => "delete",
    });
    Ok(())
}
