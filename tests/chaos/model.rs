//! What the chaos run asked for, and the invariants Clerk must satisfy once it converges.

use clerk_operator::clerk::Domain;
use std::collections::{BTreeMap, BTreeSet};

/// One ClerkDomain as the workload last set it.
#[derive(Clone, Debug)]
pub struct Obj {
    pub ns: String,
    pub name: String,
    /// Index of the Clerk instance (key) the object uses.
    pub instance: usize,
    pub orphan_policy: bool,
    pub domain: String,
    /// Every name the object ever had that its domain may have reached in Clerk (a pending
    /// rename may not have; a refused rename into a taken name is not among them).
    pub names: BTreeSet<String>,
    pub proxy: Option<String>,
    pub paused: bool,
    pub deleted: Option<Deleted>,
    /// Renamed into a name another live object's domain holds: refused (`NameTaken`).
    pub squat: Option<Squat>,
    /// Points at another object's domain (annotation or name): refused (`AlreadyOwned`).
    pub hostile: Option<Hostile>,
}

/// A rename into a taken name: the object keeps the domain it had, as it was.
#[derive(Clone, Debug)]
pub struct Squat {
    /// `namespace/name` of the object whose domain holds the name.
    pub holder: String,
    /// The name and proxy Clerk keeps for the squatter's own domain.
    pub kept_name: String,
    pub kept_proxy: Option<String>,
}

/// An object aimed at another object's domain.
#[derive(Clone, Debug)]
pub struct Hostile {
    /// `namespace/name` of the victim.
    pub victim: String,
    /// The victim's domain ID, when aimed by annotation `clerk-operator.io/domain-id`.
    pub by_annotation: Option<String>,
}

/// How an object was deleted.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// Left in Clerk: `deletionPolicy: Orphan`, or paused when deleted.
    pub orphaned: bool,
    /// `status.domainId` when it was deleted, if it had one.
    pub domain_id: Option<String>,
    /// When the workload asked for the deletion.
    pub at: jiff::Timestamp,
}

impl Obj {
    pub fn key(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }

    pub fn live(&self) -> bool {
        self.deleted.is_none()
    }

    /// What Clerk must hold for this live object: its spec, or for a refused rename the
    /// name and proxy it kept. `None` for hostile objects, which own nothing.
    pub fn expected(&self) -> Option<(&str, Option<&str>)> {
        if self.hostile.is_some() {
            return None;
        }
        Some(match &self.squat {
            Some(s) => (s.kept_name.as_str(), s.kept_proxy.as_deref()),
            None => (self.domain.as_str(), self.proxy.as_deref()),
        })
    }

    /// The condition that must be True at the end: `Ready`, or `Stalled` with this reason.
    pub fn expected_stall(&self) -> Option<&'static str> {
        if self.hostile.is_some() {
            Some("AlreadyOwned")
        } else if self.squat.is_some() {
            Some("NameTaken")
        } else {
            None
        }
    }
}

/// The object key a chaos domain name belongs to: `o3-v1.chaos-a0.chaos.example.com` ->
/// `chaos-a0/o3`.
pub fn owner_of_name(name: &str) -> Option<String> {
    let rest = name.strip_suffix(".chaos.example.com")?;
    let (obj, ns) = rest.split_once('.')?;
    let (obj, _) = obj.rsplit_once("-v")?;
    Some(format!("{ns}/{obj}"))
}

/// Invariants on every record, at the end: `live` is every live ClerkDomain as
/// (`namespace/name`, `status.instanceId`, `status.domainId`); `journals` each instance's ID and
/// journal; `instance_ids` the instance IDs by index.
pub fn check_ownership(
    objects: &[Obj],
    live: &[(String, Option<String>, Option<String>)],
    journals: &[(String, Vec<(jiff::Timestamp, String)>)],
) -> Vec<String> {
    let mut problems = vec![];
    // (i) No domain recorded by two live objects.
    let mut recorders: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (key, inst, dom) in live {
        if let (Some(i), Some(d)) = (inst, dom) {
            recorders.entry((i.clone(), d.clone())).or_default().push(key);
        }
    }
    for ((i, d), keys) in &recorders {
        if keys.len() > 1 {
            problems.push(format!("domain {d} of instance {i} is recorded by {keys:?}"));
        }
    }
    let by_key: BTreeMap<String, &Obj> = objects.iter().map(|o| (o.key(), o)).collect();
    for (instance_id, journal) in journals {
        // Who created each domain (the name encodes the object).
        let mut creator: BTreeMap<&str, String> = BTreeMap::new();
        for (_, entry) in journal {
            let mut w = entry.split(' ');
            if let (Some("created"), Some(id), Some(name)) = (w.next(), w.next(), w.next()) {
                creator.insert(id, owner_of_name(name).unwrap_or_else(|| name.to_string()));
            }
        }
        for (at, entry) in journal {
            let mut w = entry.split(' ');
            let (Some(verb), Some(id), Some(name)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            // (iv) A hostile object's own name never reaches Clerk (it adopts nothing).
            if let Some(o) = owner_of_name(name).and_then(|k| by_key.get(&k).copied())
                && o.hostile.is_some()
            {
                problems.push(format!("hostile {} reached Clerk: {entry}", o.key()));
            }
            if verb != "deleted" {
                continue;
            }
            // (ii) A deleted domain: no live object records it, and its creator's deletion
            // (policy Delete) was asked for before.
            if let Some((key, ..)) = live
                .iter()
                .find(|(_, i, d)| i.as_deref() == Some(instance_id.as_str()) && d.as_deref() == Some(id))
            {
                problems.push(format!("{entry} at {at}, but live {key} records it"));
            }
            let Some(c) = creator.get(id) else {
                problems.push(format!("{entry} at {at}: not created through the API"));
                continue;
            };
            match by_key.get(c).and_then(|o| o.deleted.as_ref().map(|d| (o, d))) {
                Some((_, del)) if !del.orphaned && del.at <= *at => {}
                Some((o, del)) => problems.push(format!(
                    "{entry} at {at}: its creator {} was deleted at {} (orphaned: {})",
                    o.key(),
                    del.at,
                    del.orphaned
                )),
                None => problems.push(format!("{entry} at {at}: its creator {c} was never deleted")),
            }
        }
    }
    problems
}

/// Check the fake's domains of `instance` against the model. `live_ids` maps each live
/// object's key to the domain ID in its status. Returns every violation found.
pub fn check_instance(
    instance: usize,
    objects: &[Obj],
    live_ids: &BTreeMap<String, String>,
    domains: &[Domain],
) -> Vec<String> {
    let mut problems = vec![];
    let satellites: Vec<&Domain> = domains.iter().filter(|d| d.is_satellite).collect();
    // 1. No duplicates.
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &satellites {
        *by_name.entry(d.name.as_str()).or_default() += 1;
    }
    for (name, n) in &by_name {
        if *n > 1 {
            problems.push(format!("instance {instance}: {n} domains named {name}"));
        }
    }
    let mine: Vec<&Obj> = objects.iter().filter(|o| o.instance == instance).collect();
    // 2. Every live object has its domain, as specified.
    let mut explained: BTreeSet<&str> = BTreeSet::new();
    check_live(&mine, live_ids, &satellites, &mut explained, &mut problems);
    // 3. Orphaned objects keep their domain; deleted ones leave nothing behind.
    for o in mine.iter().filter(|o| o.deleted.is_some()) {
        let del = o.deleted.as_ref().unwrap();
        let leftovers: Vec<&&Domain> = satellites
            .iter()
            .filter(|d| !explained.contains(d.id.as_str()))
            .filter(|d| o.names.contains(&d.name) || del.domain_id.as_deref() == Some(d.id.as_str()))
            .collect();
        if del.orphaned {
            if let Some(id) = &del.domain_id
                && !satellites.iter().any(|d| &d.id == id)
            {
                problems.push(format!(
                    "{}: orphaned domain {id} was deleted from Clerk",
                    o.key()
                ));
            }
            for d in leftovers {
                explained.insert(d.id.as_str());
            }
        } else if !leftovers.is_empty() {
            let ids: Vec<&str> = leftovers.iter().map(|d| d.id.as_str()).collect();
            problems.push(format!(
                "{}: deleted (policy Delete) but Clerk still has {ids:?}",
                o.key()
            ));
            for d in leftovers {
                explained.insert(d.id.as_str());
            }
        }
    }
    // 4. Nothing else: every satellite belongs to someone.
    for d in satellites.iter().filter(|d| !explained.contains(d.id.as_str())) {
        problems.push(format!(
            "instance {instance}: unexplained domain {} ({})",
            d.id, d.name
        ));
    }
    problems
}

/// Every live object of `mine` has its domain among `satellites`, as specified; the domains so
/// explained go into `explained`.
fn check_live<'a>(
    mine: &[&Obj],
    live_ids: &BTreeMap<String, String>,
    satellites: &[&'a Domain],
    explained: &mut BTreeSet<&'a str>,
    problems: &mut Vec<String>,
) {
    for o in mine.iter().filter(|o| o.deleted.is_none()) {
        let Some((want_name, want_proxy)) = o.expected() else {
            if let Some(id) = live_ids.get(&o.key()) {
                problems.push(format!("{}: hostile object records domain {id}", o.key()));
            }
            continue;
        };
        let Some(id) = live_ids.get(&o.key()) else {
            problems.push(format!("{}: live but no domainId in status", o.key()));
            continue;
        };
        match satellites.iter().find(|d| &d.id == id) {
            None => problems.push(format!("{}: domain {id} missing from Clerk", o.key())),
            Some(d) => {
                explained.insert(d.id.as_str());
                if d.name != want_name {
                    problems.push(format!("{}: Clerk has name {} not {want_name}", o.key(), d.name));
                }
                if d.proxy_url.as_deref() != want_proxy {
                    problems.push(format!(
                        "{}: Clerk has proxy {:?} not {want_proxy:?}",
                        o.key(),
                        d.proxy_url
                    ));
                }
            }
        }
    }
}
