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
    /// Every name the object ever had (a pending rename may not have reached Clerk).
    pub names: BTreeSet<String>,
    pub proxy: Option<String>,
    pub paused: bool,
    pub deleted: Option<Deleted>,
}

/// How an object was deleted.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// Left in Clerk: `deletionPolicy: Orphan`, or paused when deleted.
    pub orphaned: bool,
    /// `status.domainId` when it was deleted, if it had one.
    pub domain_id: Option<String>,
}

impl Obj {
    pub fn key(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }
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
    for o in mine.iter().filter(|o| o.deleted.is_none()) {
        let Some(id) = live_ids.get(&o.key()) else {
            problems.push(format!("{}: live but no domainId in status", o.key()));
            continue;
        };
        match satellites.iter().find(|d| &d.id == id) {
            None => problems.push(format!("{}: domain {id} missing from Clerk", o.key())),
            Some(d) => {
                explained.insert(d.id.as_str());
                if d.name != o.domain {
                    problems.push(format!("{}: Clerk has name {} not {}", o.key(), d.name, o.domain));
                }
                if d.proxy_url != o.proxy {
                    problems.push(format!(
                        "{}: Clerk has proxy {:?} not {:?}",
                        o.key(),
                        d.proxy_url,
                        o.proxy
                    ));
                }
            }
        }
    }
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
