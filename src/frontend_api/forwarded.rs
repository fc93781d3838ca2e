//! What kind of address a proxy forwarded to Clerk in `X-Forwarded-For`.
//!
//! Clerk's proxy guide asks for the original end user's address as the first (leftmost) value:
//! Clerk uses it for security and rate limits, so a proxy that forwards its own peer (a load
//! balancer's private address, a CDN's edge) makes every user look like one automated client.
//! [`classify`] flags such values: addresses no end user on the internet has (loopback, private,
//! link-local, shared CGNAT, unique-local, unspecified) and the published ranges of a CDN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloudflare's published edge ranges (<https://www.cloudflare.com/ips/>: `ips-v4`, `ips-v6`).
/// A small table on purpose: one well-known CDN whose edges are what a proxy behind it sees as
/// `$remote_addr`; other CDNs are not listed.
const CLOUDFLARE_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(173, 245, 48, 0), 20),
    (Ipv4Addr::new(103, 21, 244, 0), 22),
    (Ipv4Addr::new(103, 22, 200, 0), 22),
    (Ipv4Addr::new(103, 31, 4, 0), 22),
    (Ipv4Addr::new(141, 101, 64, 0), 18),
    (Ipv4Addr::new(108, 162, 192, 0), 18),
    (Ipv4Addr::new(190, 93, 240, 0), 20),
    (Ipv4Addr::new(188, 114, 96, 0), 20),
    (Ipv4Addr::new(197, 234, 240, 0), 22),
    (Ipv4Addr::new(198, 41, 128, 0), 17),
    (Ipv4Addr::new(162, 158, 0, 0), 15),
    (Ipv4Addr::new(104, 16, 0, 0), 13),
    (Ipv4Addr::new(104, 24, 0, 0), 14),
    (Ipv4Addr::new(172, 64, 0, 0), 13),
    (Ipv4Addr::new(131, 0, 72, 0), 22),
];

/// See [`CLOUDFLARE_V4`].
const CLOUDFLARE_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2400, 0xcb00, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2606, 0x4700, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2803, 0xf800, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2405, 0xb500, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2405, 0x8100, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2a06, 0x98c0, 0, 0, 0, 0, 0, 0), 29),
    (Ipv6Addr::new(0x2c0f, 0xf248, 0, 0, 0, 0, 0, 0), 32),
];

/// What the first `X-Forwarded-For` value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// A public address: plausibly the end user's.
    Public(IpAddr),
    /// An address no end user on the internet has; the kind is named (`loopback`, `private`, ...).
    Private(IpAddr, &'static str),
    /// An edge address of a CDN (the CDN's name).
    Cdn(IpAddr, &'static str),
    /// Empty, or not an IP address.
    NotAnAddress(String),
}

impl Forwarded {
    /// Whether the value deserves a warning.
    pub fn is_suspect(&self) -> bool {
        !matches!(self, Forwarded::Public(_))
    }
}

/// Classify the first (leftmost) value of an `X-Forwarded-For` header; a port (`1.2.3.4:5`,
/// `[::1]:5`) is ignored.
pub fn classify(header: &str) -> Forwarded {
    let first = header.split(',').next().unwrap_or_default().trim();
    let Some(ip) = parse(first) else {
        return Forwarded::NotAnAddress(first.to_string());
    };
    // An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is its IPv4 address.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if let Some(kind) = special(ip) {
        return Forwarded::Private(ip, kind);
    }
    let cdn = match ip {
        IpAddr::V4(a) => CLOUDFLARE_V4.iter().any(|(net, len)| in_v4(a, *net, *len)),
        IpAddr::V6(a) => CLOUDFLARE_V6.iter().any(|(net, len)| in_v6(a, *net, *len)),
    };
    if cdn {
        Forwarded::Cdn(ip, "Cloudflare")
    } else {
        Forwarded::Public(ip)
    }
}

fn parse(value: &str) -> Option<IpAddr> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = value.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    value.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The kind of a non-public address, `None` for a public one.
fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) if a.is_loopback() => Some("loopback"),
        IpAddr::V4(a) if a.is_private() => Some("private (RFC 1918)"),
        IpAddr::V4(a) if a.is_link_local() => Some("link-local"),
        IpAddr::V4(a) if in_v4(a, Ipv4Addr::new(100, 64, 0, 0), 10) => Some("shared (CGNAT, RFC 6598)"),
        IpAddr::V4(a) if a.is_unspecified() => Some("unspecified"),
        IpAddr::V6(a) if a.is_loopback() => Some("loopback"),
        IpAddr::V6(a) if a.is_unspecified() => Some("unspecified"),
        IpAddr::V6(a) if a.is_unique_local() => Some("unique-local (ULA)"),
        IpAddr::V6(a) if a.is_unicast_link_local() => Some("link-local"),
        _ => None,
    }
}

fn in_v4(a: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(a) & mask == u32::from(net) & mask
}

fn in_v6(a: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(a) & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leftmost_value_is_classified() {
        let private = |s: &str| matches!(classify(s), Forwarded::Private(..));
        let cdn = |s: &str| matches!(classify(s), Forwarded::Cdn(_, "Cloudflare"));
        let public = |s: &str| matches!(classify(s), Forwarded::Public(_));
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1, 203.0.113.9",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "10.0.0.1:4567",
            "[::1]:80",
            "0.0.0.0",
        ] {
            assert!(private(s), "{s}: {:?}", classify(s));
        }
        for s in [
            "104.16.1.1",
            "162.159.255.1",
            "172.71.0.1",
            "2606:4700::6810:1",
            "2a06:98c7::1",
        ] {
            assert!(cdn(s), "{s}: {:?}", classify(s));
        }
        for s in [
            "203.0.113.7",
            "198.51.100.1, 10.0.0.1",
            "100.128.0.1",
            "172.32.0.1",
            "2001:db8::1",
            "104.32.0.1",
        ] {
            assert!(public(s), "{s}: {:?}", classify(s));
        }
        for s in ["", "unknown", " , 1.2.3.4"] {
            assert!(matches!(classify(s), Forwarded::NotAnAddress(_)), "{s}");
            assert!(classify(s).is_suspect());
        }
        assert!(!classify("203.0.113.7").is_suspect());
    }
}
