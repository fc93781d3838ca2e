//! Switching a Secret's key to the other instance and back, and the check of what moved.

use super::*;

/// The key switch of [`SWITCH_NAMESPACE`].
#[derive(Debug, Default)]
pub(crate) struct Switch {
    pub(crate) at: Option<jiff::Timestamp>,
    pub(crate) started: Option<Instant>,
    pub(crate) back_at: Option<jiff::Timestamp>,
    /// Domain IDs (instance 1) of the namespace's objects when it switched.
    pub(crate) ids: std::collections::BTreeSet<String>,
    /// The live unpaused objects (namespace/name) that had recorded the instance when it switched.
    pub(crate) pinned_keys: std::collections::BTreeSet<String>,
    /// Of those, the ones still in the API server when the key went back (an object deleted
    /// meanwhile may have been released without reading its key: `deletionPolicy: Orphan`, a
    /// primary), and the ones among them not showing `Stalled` with reason `InstanceChanged`
    /// then, with their conditions.
    pub(crate) pinned: usize,
    pub(crate) unchanged: Vec<String>,
}

impl Switch {
    /// Whether the key is switched now.
    pub(super) fn active(&self) -> bool {
        self.at.is_some() && self.back_at.is_none()
    }

    /// The pinned object kept until the key is back (the workload does not delete it), so that
    /// at least one object must show `InstanceChanged`.
    pub(super) fn witness(&self) -> Option<&String> {
        self.pinned_keys.first()
    }
}

pub(super) fn switch_namespace_objects(objs: &[Obj]) -> impl Iterator<Item = &Obj> {
    objs.iter().filter(|o| o.live() && o.ns == SWITCH_NAMESPACE)
}

/// Wait until every live unpaused object of the switch namespace has recorded its instance, then put
/// the other instance's key into its Secret.
pub(super) async fn switch_key(
    client: &Client,
    objs: &[Obj],
    keys: &[String; 2],
    fake: &FakeClerk,
    sw: &mut Switch,
) -> anyhow::Result<()> {
    let instance_1 = fake.state().lock().unwrap().instances[keys[1].as_str()]
        .id
        .clone();
    let start = Instant::now();
    loop {
        let by_key = list_all(client).await?;
        // A paused object has not necessarily read its key yet (it records no instance);
        // the workload leaves the namespace's pauses alone until the key is back.
        let missing: Vec<String> = switch_namespace_objects(objs)
            .filter(|o| !o.paused)
            .filter(|o| {
                by_key
                    .get(&o.key())
                    .and_then(|c| c.status.as_ref())
                    .and_then(|s| s.instance_id.as_deref())
                    != Some(instance_1.as_str())
            })
            .map(|o| {
                let why = by_key.get(&o.key()).map(conditions).unwrap_or_default();
                format!("{} {why:?}", o.key())
            })
            .collect();
        if missing.is_empty() {
            sw.ids = switch_namespace_objects(objs)
                .filter_map(|o| {
                    by_key
                        .get(&o.key())
                        .and_then(|c| c.status.as_ref())
                        .and_then(|s| s.domain_id.clone())
                })
                .collect();
            sw.pinned_keys = switch_namespace_objects(objs)
                .filter(|o| !o.paused)
                .map(|o| o.key())
                .collect();
            break;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(180),
            "key switch: {missing:?} never recorded status.instanceId"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    set_switch_key(client, &keys[0]).await?;
    sw.at = Some(jiff::Timestamp::now());
    sw.started = Some(Instant::now());
    Ok(())
}

pub(super) async fn set_switch_key(client: &Client, key: &str) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SWITCH_NAMESPACE);
    let patch = Patch::Merge(json!({"stringData": {"key": key}}));
    let pp = PatchParams::default();
    retry("switch key", || secrets.patch("clerk", &pp, &patch)).await?;
    Ok(())
}

/// After at least [`SWITCH_MIN`]: count the objects showing `InstanceChanged`, put the key back.
pub(super) async fn switch_back(client: &Client, keys: &[String; 2], sw: &mut Switch) -> anyhow::Result<()> {
    if let Some(started) = sw.started {
        tokio::time::sleep(SWITCH_MIN.saturating_sub(started.elapsed())).await;
    }
    let by_key = list_all(client).await?;
    (sw.pinned, sw.unchanged) = tally(&sw.pinned_keys, &by_key);
    set_switch_key(client, &keys[1]).await?;
    sw.back_at = Some(jiff::Timestamp::now());
    Ok(())
}

/// Of the objects `pinned` when the key switched, how many are still listed in `by_key`, and
/// which of those do not show `Stalled` with reason `InstanceChanged` (with their conditions).
pub(crate) fn tally(
    pinned: &std::collections::BTreeSet<String>,
    by_key: &BTreeMap<String, ClerkDomain>,
) -> (usize, Vec<String>) {
    let present: Vec<(&String, &ClerkDomain)> = pinned
        .iter()
        .filter_map(|k| by_key.get(k).map(|o| (k, o)))
        .collect();
    let unchanged = present
        .iter()
        .filter(|(_, o)| !condition(o, "Stalled").is_some_and(|c| c.0 && c.1 == "InstanceChanged"))
        .map(|(k, o)| format!("{k} {:?}", conditions(o)))
        .collect();
    (present.len(), unchanged)
}

/// Nothing was written for the switch namespace's objects while its key was switched (after
/// the grace for calls already in flight), and nothing of that namespace ever reached the
/// other instance.
pub(crate) fn check_switch(
    sw: &Switch,
    journals: &[(String, Vec<(jiff::Timestamp, String)>)],
) -> Vec<String> {
    let mut problems = vec![];
    let (Some(at), Some(back)) = (sw.at, sw.back_at) else {
        return vec!["the key switch did not happen".into()];
    };
    let from = at + SWITCH_GRACE;
    for (at, entry) in &journals[1].1 {
        let id = entry.split(' ').nth(1).unwrap_or_default();
        if *at >= from && *at < back && sw.ids.contains(id) {
            problems.push(format!("key switched, yet instance 1 got {entry} at {at}"));
        }
    }
    let marker = format!(".{SWITCH_NAMESPACE}.");
    for (at, entry) in &journals[0].1 {
        if entry.contains(&marker) {
            problems.push(format!(
                "instance 0 got {entry} at {at} from the switched namespace"
            ));
        }
    }
    if sw.witness().is_some() && sw.pinned == 0 {
        problems.push(format!(
            "key switch: none of the pinned objects {:?} was there when the key went back, not \
             even the witness the workload keeps",
            sw.pinned_keys
        ));
    }
    if !sw.unchanged.is_empty() {
        problems.push(format!(
            "key switch: {} of {} pinned objects did not report InstanceChanged: {:?}",
            sw.unchanged.len(),
            sw.pinned,
            sw.unchanged
        ));
    }
    problems
}
