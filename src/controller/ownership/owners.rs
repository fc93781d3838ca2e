//! The compact parts of the ownership index: an object's uid, and the owners of one domain.
//!
//! The index holds an entry per ClerkDomain and per domain for the life of the process; at
//! 10,000 objects its strings and tables were 5.2 MB of a 23.5 MB heap (heaptrack, fresh
//! process). A Kubernetes uid is a UUID: 16 bytes in place, where its 36 characters took an
//! allocation of 64. A domain almost always has one owner, held in place rather than in a list.

use std::sync::Arc;

/// An object's `metadata.uid`: the 16 bytes of a UUID in its canonical (lower-case, hyphenated)
/// form, as the API server writes it; any other string as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Uid {
    Uuid(uuid::Uuid),
    Other(Arc<str>),
}

impl Uid {
    pub(crate) fn new(uid: &str) -> Self {
        match uuid::Uuid::try_parse(uid) {
            // Only the form that prints back as `uid`, so that two strings are never one uid.
            Ok(u) if u.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()) == uid => Self::Uuid(u),
            _ => Self::Other(uid.into()),
        }
    }
}

impl std::fmt::Display for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Uuid(u) => u.hyphenated().fmt(f),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// The objects that record or claim one domain, oldest first, without repeats.
#[derive(Debug)]
pub(super) enum Owners {
    One(Uid),
    /// Two or more (state written before the index existed, or a claim racing a recorder).
    Many(Vec<Uid>),
}

impl Owners {
    pub(super) fn as_slice(&self) -> &[Uid] {
        match self {
            Self::One(u) => std::slice::from_ref(u),
            Self::Many(v) => v,
        }
    }

    /// Add `uid` in its place by `rank` (oldest first); a uid already here stays as it is.
    pub(super) fn insert<R: Ord>(&mut self, uid: &Uid, rank: impl Fn(&Uid) -> R) {
        let list = self.as_slice();
        if list.contains(uid) {
            return;
        }
        let at = list.partition_point(|o| rank(o) < rank(uid));
        match self {
            Self::One(first) => {
                let mut v = vec![first.clone()];
                v.insert(at, uid.clone());
                *self = Self::Many(v);
            }
            Self::Many(v) => v.insert(at, uid.clone()),
        }
    }

    /// Take `uid` out; false when none is left.
    pub(super) fn remove(&mut self, uid: &Uid) -> bool {
        let Self::Many(v) = self else {
            return self.as_slice() != std::slice::from_ref(uid);
        };
        v.retain(|o| o != uid);
        if let [only] = v.as_slice() {
            let only = only.clone();
            *self = Self::One(only);
            return true;
        }
        !v.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canonical_uuid_is_held_in_place_and_prints_back() {
        let s = "0b7a5d8e-3c1f-4e2a-9d6b-5f4e3d2c1b0a";
        let uid = Uid::new(s);
        assert!(matches!(uid, Uid::Uuid(_)), "{uid:?}");
        assert_eq!(uid.to_string(), s);
        assert_eq!(uid, Uid::new(s));
        // Other spellings of the same UUID stay distinct strings.
        for other in [&s.to_uppercase(), &s.replace('-', ""), "uid-a", ""] {
            let o = Uid::new(other);
            assert!(matches!(o, Uid::Other(_)), "{other}");
            assert_eq!(o.to_string(), *other);
            assert_ne!(o, uid);
        }
        assert!(size_of::<Uid>() <= 24);
    }

    #[test]
    fn owners_stay_ordered_without_repeats() {
        let u = |s: &str| Uid::new(s);
        // Rank by name, backwards, to show the order is the rank's and not the uid's.
        let rank = |x: &Uid| std::cmp::Reverse(x.to_string());
        let mut o = Owners::One(u("b"));
        o.insert(&u("b"), rank);
        assert!(matches!(o, Owners::One(_)));
        o.insert(&u("a"), rank);
        o.insert(&u("c"), rank);
        o.insert(&u("a"), rank);
        assert_eq!(o.as_slice(), [u("c"), u("b"), u("a")]);
        assert!(o.remove(&u("b")));
        assert!(o.remove(&u("x")));
        assert!(o.remove(&u("c")));
        assert!(matches!(&o, Owners::One(only) if *only == u("a")));
        assert!(!o.remove(&u("a")));
    }
}
