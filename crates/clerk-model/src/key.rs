use std::fmt;

/// A Clerk secret key. Its `Debug` and `Display` never show the key itself, so it cannot leak
/// into logs, events or status by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretKey(String);

/// Whether a key belongs to a development or a production instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstanceKind {
    /// `sk_test_...`
    Development,
    /// `sk_live_...`
    Production,
}

impl SecretKey {
    /// Wrap a key, trimming surrounding whitespace (keys are often stored with a newline).
    pub fn new(key: impl AsRef<str>) -> Self {
        Self(key.as_ref().trim().to_string())
    }

    /// The key itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Development or production, judged by the key's prefix (`sk_live_` is production).
    pub fn kind(&self) -> InstanceKind {
        if self.0.starts_with("sk_live_") {
            InstanceKind::Production
        } else {
            InstanceKind::Development
        }
    }

    /// A short, stable, non-reversible fingerprint for logs and cache keys.
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut h);
        format!("{:08x}", h.finish() as u32)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?}, {})", self.kind(), self.fingerprint())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_key() {
        let k = SecretKey::new("sk_live_supersecretvalue\n");
        assert_eq!(k.expose(), "sk_live_supersecretvalue");
        assert!(!format!("{k:?} {k}").contains("supersecret"));
        assert_eq!(k.kind(), InstanceKind::Production);
        assert_eq!(SecretKey::new("sk_test_x").kind(), InstanceKind::Development);
    }
}
