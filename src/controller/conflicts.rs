//! Two ClerkDomains naming the same domain of the same Clerk instance: the oldest owns it, the
//! others stand by (no Clerk writes, no deletes) until it is gone.

use crate::api::ClerkDomain;
use jiff::Timestamp;
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::Mutex;

/// One object's claim on a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `namespace/name`.
    pub object: String,
    pub instance_id: String,
    /// Lowercase domain name.
    pub domain: String,
    pub created: Option<Timestamp>,
}

impl Claim {
    /// The claim `obj` makes on `instance_id`.
    pub fn of(obj: &ClerkDomain, instance_id: &str) -> Self {
        Claim {
            object: format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()),
            instance_id: instance_id.to_string(),
            domain: obj.spec.domain.to_ascii_lowercase(),
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
        }
    }

    /// The claim recorded in `obj`'s status, if it has learnt its instance.
    pub fn from_status(obj: &ClerkDomain) -> Option<Self> {
        let id = obj.status.as_ref()?.instance_id.as_deref()?;
        Some(Claim::of(obj, id))
    }

    fn rank(&self) -> (Option<Timestamp>, &str) {
        (self.created, &self.object)
    }
}

/// The owner of `me`'s domain when it is another object: the oldest claim (creation time,
/// then `namespace/name`) on the same instance and domain.
pub fn owner<'a>(me: &Claim, others: impl IntoIterator<Item = &'a Claim>) -> Option<&'a Claim> {
    others
        .into_iter()
        .filter(|c| c.object != me.object && c.instance_id == me.instance_id && c.domain == me.domain)
        .filter(|c| c.rank() < me.rank())
        .min_by(|a, b| a.rank().cmp(&b.rank()))
}

/// Claims made by reconciles in this process (they may not be in any status yet).
#[derive(Default)]
pub struct Claims(Mutex<HashMap<String, Claim>>);

impl Claims {
    /// Record `claim` and return every claim known on the same instance and domain (`claim`
    /// included), from this process and from `from_store`. Only those are copied: this runs on
    /// every reconcile, so its cost must not grow with the number of objects.
    pub fn register(&self, claim: &Claim, from_store: impl IntoIterator<Item = Claim>) -> Vec<Claim> {
        let same = |c: &Claim| c.instance_id == claim.instance_id && c.domain == claim.domain;
        let mut map = self.0.lock().unwrap();
        map.insert(claim.object.clone(), claim.clone());
        let mut all: HashMap<String, Claim> = from_store
            .into_iter()
            .filter(|c| same(c))
            .map(|c| (c.object.clone(), c))
            .collect();
        for (k, c) in map.iter().filter(|(_, c)| same(c)) {
            all.insert(k.clone(), c.clone());
        }
        all.into_values().collect()
    }

    /// Forget `object`'s claim (it is gone).
    pub fn release(&self, object: &str) {
        self.0.lock().unwrap().remove(object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(object: &str, instance: &str, domain: &str, created: i64) -> Claim {
        Claim {
            object: object.into(),
            instance_id: instance.into(),
            domain: domain.into(),
            created: Some(Timestamp::from_second(created).unwrap()),
        }
    }

    #[test]
    fn oldest_claim_on_the_same_instance_and_domain_owns() {
        let me = claim("b/me", "ins_1", "a.example.com", 20);
        let older = claim("a/first", "ins_1", "a.example.com", 10);
        let oldest_elsewhere = claim("c/x", "ins_2", "a.example.com", 1);
        let other_domain = claim("d/y", "ins_1", "b.example.com", 1);
        let younger = claim("e/z", "ins_1", "a.example.com", 30);
        let all = [
            older.clone(),
            oldest_elsewhere,
            other_domain,
            younger.clone(),
            me.clone(),
        ];
        assert_eq!(owner(&me, &all), Some(&older));
        assert_eq!(owner(&older, &all), None);
        assert_eq!(owner(&younger, &all), Some(&older));
    }

    #[test]
    fn ties_break_on_namespace_and_name() {
        let a = claim("ns/a", "ins_1", "x.io", 10);
        let b = claim("ns/b", "ins_1", "x.io", 10);
        assert_eq!(owner(&b, [&a]), Some(&a));
        assert_eq!(owner(&a, [&b]), None);
    }

    #[test]
    fn registry_merges_store_and_own_claims() {
        let claims = Claims::default();
        let a = claim("ns/a", "ins_1", "x.io", 10);
        let b = claim("ns/b", "ins_1", "x.io", 20);
        claims.register(&a, []);
        let seen = claims.register(&b, [claim("ns/c", "ins_1", "x.io", 5)]);
        assert_eq!(seen.len(), 3);
        claims.release("ns/a");
        assert_eq!(claims.register(&b, []).len(), 1);
    }
}
