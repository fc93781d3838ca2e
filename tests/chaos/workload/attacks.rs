//! Ownership attacks: squatting a taken domain name and hostile objects aimed at other
//! objects' domains.

use super::*;

/// Whether a live object plays a part another object depends on (a squat's holder, a
/// hostile's victim): it is neither renamed nor deleted while that lasts.
pub(super) fn protected(objs: &[Obj], key: &str) -> bool {
    objs.iter().filter(|o| o.live()).any(|o| {
        o.squat.as_ref().is_some_and(|s| s.holder == key)
            || o.hostile.as_ref().is_some_and(|h| h.victim == key)
    })
}

/// Objects that may take a part in a squat or as a victim: live, unpaused, plain, outside the
/// doomed and the key-switch namespaces, and settled now. Also records a violation for any
/// hostile object that has a domain or is Ready.
pub(super) fn candidates(
    objs: &[Obj],
    by_key: &BTreeMap<String, ClerkDomain>,
    fake: &FakeClerk,
    keys: &[String; 2],
    problems: &mut Vec<String>,
) -> Vec<(usize, String)> {
    for o in objs.iter().filter(|o| o.live() && o.hostile.is_some()) {
        if let Some(obj) = by_key.get(&o.key()) {
            let id = obj.status.as_ref().and_then(|s| s.domain_id.clone());
            if id.is_some() || condition(obj, "Ready").is_some_and(|c| c.0) {
                problems.push(format!("hostile {} got domain {id:?} / Ready", o.key()));
            }
        }
    }
    (0..objs.len())
        .filter(|&i| {
            let o = &objs[i];
            o.live()
                && !o.paused
                && o.hostile.is_none()
                && o.squat.is_none()
                && o.ns != DOOMED_NAMESPACE
                && o.ns != SWITCH_NAMESPACE
                && !protected(objs, &o.key())
        })
        .filter_map(|i| settled(&objs[i], by_key.get(&objs[i].key()), fake, keys).map(|id| (i, id)))
        .collect()
}

/// Rename a settled object into the name of another settled object's domain (same instance).
pub(super) async fn try_squat(
    objs: &mut [Obj],
    client: &Client,
    fake: &FakeClerk,
    keys: &[String; 2],
    rng: &mut StdRng,
    problems: &mut Vec<String>,
) -> anyhow::Result<bool> {
    let by_key = list_all(client).await?;
    let c = candidates(objs, &by_key, fake, keys, problems);
    let pairs: Vec<(usize, usize)> = c
        .iter()
        .flat_map(|(a, _)| c.iter().map(move |(b, _)| (*a, *b)))
        .filter(|(a, b)| a != b && objs[*a].instance == objs[*b].instance)
        .collect();
    if pairs.is_empty() {
        return Ok(false);
    }
    let (o, p) = pairs[rng.random_range(0..pairs.len())];
    let taken = objs[p].domain.clone();
    let api: Api<ClerkDomain> = Api::namespaced(client.clone(), &objs[o].ns);
    let patch = Patch::Merge(json!({"spec": {"domain": taken}}));
    let name = objs[o].name.clone();
    let pp = PatchParams::default();
    retry("squat rename", || api.patch(&name, &pp, &patch)).await?;
    objs[o].squat = Some(Squat {
        holder: objs[p].key(),
        kept_name: objs[o].domain.clone(),
        kept_proxy: objs[o].proxy.clone(),
    });
    objs[o].domain = taken;
    Ok(true)
}

/// Create an object aimed at a settled object's domain: by annotation from another namespace,
/// or by `spec.domain` from any namespace of the same instance.
#[allow(clippy::too_many_arguments)]
pub(super) async fn try_hostile(
    objs: &mut Vec<Obj>,
    by_annotation: bool,
    namespace_deleted: bool,
    client: &Client,
    fake: &FakeClerk,
    keys: &[String; 2],
    rng: &mut StdRng,
    problems: &mut Vec<String>,
) -> anyhow::Result<bool> {
    let by_key = list_all(client).await?;
    let c = candidates(objs, &by_key, fake, keys, problems);
    if c.is_empty() {
        return Ok(false);
    }
    let (v, id) = c[rng.random_range(0..c.len())].clone();
    let victim = objs[v].clone();
    let nss: Vec<&str> = NAMESPACES
        .iter()
        .filter(|(ns, i)| *i == victim.instance && *ns != SWITCH_NAMESPACE)
        .filter(|(ns, _)| !(namespace_deleted && *ns == DOOMED_NAMESPACE))
        .filter(|(ns, _)| !by_annotation || *ns != victim.ns)
        .map(|(ns, _)| *ns)
        .collect();
    if nss.is_empty() {
        return Ok(false);
    }
    let ns = nss[rng.random_range(0..nss.len())];
    let name = format!("h{}", objs.len());
    let o = Obj {
        ns: ns.into(),
        domain: if by_annotation {
            domain_for(&name, ns, 0)
        } else {
            victim.domain.clone()
        },
        name,
        instance: victim.instance,
        orphan_policy: false,
        names: Default::default(),
        proxy: None,
        paused: false,
        deleted: None,
        squat: None,
        hostile: Some(Hostile {
            victim: victim.key(),
            by_annotation: by_annotation.then_some(id),
        }),
    };
    let api: Api<ClerkDomain> = Api::namespaced(client.clone(), ns);
    let body = manifest(&o)?;
    retry("create hostile", || async {
        match api.create(&PostParams::default(), &body).await {
            Err(e) if is_status(&e, 409) => Ok(body.clone()),
            other => other,
        }
    })
    .await?;
    objs.push(o);
    Ok(true)
}
