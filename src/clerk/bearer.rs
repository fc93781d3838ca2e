//! What a Clerk client authenticates with. Neither credential's `Debug` or `Display` shows it,
//! so it cannot leak into logs, Events, status or metrics by accident.

use super::SecretKey;
use std::fmt;

/// A Platform API access token (a workspace's, not an instance's).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PlatformToken(String);

impl PlatformToken {
    /// Wrap a token, trimming surrounding whitespace.
    pub fn new(token: impl AsRef<str>) -> Self {
        Self(token.as_ref().trim().to_string())
    }
}

impl fmt::Debug for PlatformToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformToken(redacted)")
    }
}

impl fmt::Display for PlatformToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The bearer of a client's requests: a secret key for the Backend API (whose requests carry
/// `Clerk-API-Version`), or a Platform API access token.
#[derive(Clone, Debug)]
pub(crate) enum Bearer {
    Secret(SecretKey),
    Platform(PlatformToken),
}

impl Bearer {
    /// The credential as sent in `Authorization: Bearer …`.
    pub(crate) fn expose(&self) -> &str {
        match self {
            Bearer::Secret(key) => key.expose(),
            Bearer::Platform(token) => &token.0,
        }
    }

    /// Whether requests carry `Clerk-API-Version` (the Backend API's dated versions).
    pub(crate) fn versioned(&self) -> bool {
        matches!(self, Bearer::Secret(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_token() {
        let t = PlatformToken::new(" ak_platform_supersecret\n");
        assert_eq!(t.0, "ak_platform_supersecret");
        let b = Bearer::Platform(t.clone());
        assert_eq!(b.expose(), "ak_platform_supersecret");
        assert!(!format!("{t:?} {t} {b:?}").contains("supersecret"));
    }
}
