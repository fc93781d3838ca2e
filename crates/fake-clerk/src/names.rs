//! Identifiers and validation rules the fake shares with Clerk.

use rand::RngExt;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A Clerk-style ID: prefix, underscore, 27 base62 characters (e.g. `dmn_2abc...`).
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..27)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

/// Whether `name` is a domain Clerk accepts: a hostname, with a `:port` only on development
/// instances, no scheme, path, wildcard or uppercase.
pub fn valid_domain_name(name: &str, allow_port: bool) -> Result<(), String> {
    let (host, port) = match name.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (name, None),
    };
    if let Some(port) = port {
        if !allow_port {
            return Err(format!(
                "{name} is invalid: a port is only allowed for development instances"
            ));
        }
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u32>().map_or(true, |p| p == 0 || p > 65535)
        {
            return Err(format!(
                "{name} is invalid: the port must be a number between 1 and 65535"
            ));
        }
    }
    if host.is_empty() || host.len() > 253 {
        return Err(format!("{name:?} is not a valid domain name"));
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{name:?} is not a valid domain name"));
        }
    }
    if !host.contains('.') && host != "localhost" {
        return Err(format!(
            "{name:?} is not a valid domain name: it needs a top-level domain"
        ));
    }
    Ok(())
}

/// Whether `url` is an https URL with a host.
pub fn valid_proxy_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Ok(()),
        _ => Err(format!(
            "{url:?} is not a valid proxy URL: it must be an https URL"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_clerks() {
        let id = new_id("dmn");
        assert!(id.starts_with("dmn_") && id.len() == 31, "{id}");
    }

    #[test]
    fn domain_names() {
        for ok in ["example.com", "a-b.example.co.uk", "localhost", "x1.io"] {
            assert!(valid_domain_name(ok, false).is_ok(), "{ok}");
        }
        assert!(valid_domain_name("localhost:3000", true).is_ok());
        for bad in [
            "",
            "https://a.com",
            "a.com/x",
            "*.a.com",
            "A.com",
            "a..com",
            "-a.com",
            "a.com:3000",
            "nodot",
            "a b.com",
        ] {
            assert!(valid_domain_name(bad, false).is_err(), "{bad}");
        }
        assert!(valid_domain_name("a.com:0", true).is_err());
        assert!(valid_domain_name("a.com:99999", true).is_err());
    }
}
