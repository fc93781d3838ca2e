//! Check that a domain's required CNAME (and TXT) records resolve to what Clerk expects.
//!
//! Each required host is asked for its CNAME record (or, for a TXT record, its TXT records) (as an absolute name, so no search domains
//! apply), all hosts at once. The resolver keeps no cache that could hide a change: its cache
//! holds nothing and is cleared before every verification.
//!
//! What is verified is the *value* of each CNAME record, the part the user controls: a record
//! that is missing (NXDOMAIN, or no CNAME at the name) or points elsewhere is a [`Problem`].
//! Whether Clerk's own target resolves is Clerk's side: a record that points at the right
//! target verifies even while that target does not resolve (Clerk's `frontend-api` target had an
//! NXDOMAIN outage in May 2026). The targets of the verified records are looked up as well, and
//! those that answer NXDOMAIN are listed in [`Verification::unresolved_targets`], so the
//! condition can say that Clerk's side is down without calling the user's records wrong.

use super::{CnameLike, normalize_name};
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::net::SocketAddr;
use std::time::Duration;

/// How to build a [`Verifier`].
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The DNS server to ask (UDP, then TCP on truncation or error); `None` reads the system's
    /// `/etc/resolv.conf`.
    pub server: Option<SocketAddr>,
    /// Timeout of one query attempt.
    pub timeout: Duration,
    /// Attempts per query (at least 1).
    pub attempts: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            server: None,
            timeout: Duration::from_secs(2),
            attempts: 2,
        }
    }
}

/// Resolves CNAME records to verify a domain's DNS. Cheap to clone; share one.
#[derive(Clone)]
pub struct Verifier {
    resolver: TokioResolver,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// The outcome of one verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// True when every required target resolves as expected (vacuously true without any).
    pub verified: bool,
    /// What is wrong, one entry per failing required target, in the targets' order.
    pub problems: Vec<Problem>,
    /// Clerk's targets (normalized, sorted) that right records point to but that do not exist
    /// right now (NXDOMAIN): Clerk's side, not a problem of the records. Lookups of them that
    /// fail otherwise (timeout, REFUSED by an authoritative-only server, ...) are not listed.
    pub unresolved_targets: Vec<String>,
}

/// Why one required target does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The name does not exist (NXDOMAIN) or has no CNAME record.
    Missing { host: String },
    /// The CNAME points elsewhere: `found` is what it points to, `want` is Clerk's target.
    /// Both are normalized (lowercase, no trailing dot).
    Wrong {
        host: String,
        found: Vec<String>,
        want: String,
    },
    /// The lookup failed (timeout, SERVFAIL, refused, ...): the record's state is unknown.
    Error { host: String, message: String },
    /// The name does not exist or has no TXT record.
    MissingTxt { host: String },
    /// The name has TXT records, none with Clerk's text: `found` are their texts.
    WrongTxt {
        host: String,
        found: Vec<String>,
        want: String,
    },
}

impl Problem {
    /// The host the problem is about.
    pub fn host(&self) -> &str {
        match self {
            Problem::Missing { host }
            | Problem::Wrong { host, .. }
            | Problem::Error { host, .. }
            | Problem::MissingTxt { host }
            | Problem::WrongTxt { host, .. } => host,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { host } => write!(f, "{host}: no CNAME record"),
            Problem::Wrong { host, found, want } => {
                write!(f, "{host}: CNAME points to {}, expected {want}", found.join(", "))
            }
            Problem::Error { host, message } => write!(f, "{host}: lookup failed: {message}"),
            Problem::MissingTxt { host } => write!(f, "{host}: no TXT record"),
            Problem::WrongTxt { host, found, want } => {
                let found: Vec<String> = found.iter().map(|t| format!("{t:?}")).collect();
                write!(f, "{host}: TXT is {}, expected {want:?}", found.join(", "))
            }
        }
    }
}

impl Verification {
    /// The problems for a condition message, e.g. `clerk.a.example.com: no CNAME record;
    /// clkmail.a.example.com: CNAME points to x, expected y`; empty when verified.
    pub fn summary(&self) -> String {
        self.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// True when some lookups failed rather than answered: worth retrying sooner.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| matches!(p, Problem::Error { .. }))
    }

    /// The `DNSVerified` reason of an unverified result: `LookupFailed` when a lookup failed,
    /// else `RecordsMissing` when a record is missing, else `WrongTarget` (a record points
    /// elsewhere). `Verified` when verified.
    pub fn reason(&self) -> &'static str {
        let any = |f: fn(&Problem) -> bool| self.problems.iter().any(f);
        if self.verified {
            "Verified"
        } else if any(|p| matches!(p, Problem::Error { .. })) {
            "LookupFailed"
        } else if any(|p| matches!(p, Problem::Missing { .. } | Problem::MissingTxt { .. })) {
            "RecordsMissing"
        } else {
            "WrongTarget"
        }
    }

    /// A note about Clerk's side for a verified result's message, e.g. `Clerk's target
    /// frontend-api.clerk.services does not resolve (NXDOMAIN) right now: that is on Clerk's
    /// side, the records are right`; `None` when every target resolved or could not be checked.
    pub fn clerk_side_note(&self) -> Option<String> {
        if self.unresolved_targets.is_empty() {
            return None;
        }
        let (noun, verb) = if self.unresolved_targets.len() == 1 {
            ("target", "does")
        } else {
            ("targets", "do")
        };
        Some(format!(
            "Clerk's {noun} {} {verb} not resolve (NXDOMAIN) right now: that is on Clerk's side, the records are right",
            self.unresolved_targets.join(", ")
        ))
    }
}

impl Verifier {
    /// A verifier asking `config.server`, or the system's resolvers.
    pub fn new(config: VerifierConfig) -> Result<Self, NetError> {
        let (resolver_config, mut opts) = match config.server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                (
                    ResolverConfig::from_name_servers(vec![ns]),
                    ResolverOpts::default(),
                )
            }
            None => hickory_resolver::system_conf::read_system_conf()?,
        };
        opts.timeout = config.timeout;
        opts.attempts = config.attempts.max(1);
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.use_hosts_file = ResolveHosts::Never;
        opts.try_tcp_on_error = true;
        opts.ndots = 0;
        let resolver = Resolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()?;
        Ok(Self { resolver })
    }

    /// A verifier asking one server (e.g. a test's), with the default timeouts.
    pub fn with_server(server: SocketAddr) -> Result<Self, NetError> {
        Self::new(VerifierConfig {
            server: Some(server),
            ..Default::default()
        })
    }

    /// A verifier using `/etc/resolv.conf`, with the default timeouts.
    pub fn system() -> Result<Self, NetError> {
        Self::new(VerifierConfig::default())
    }

    /// Check every *required* CNAME and TXT target: a CNAME's host must have a CNAME to its
    /// value (compared case-insensitively, ignoring a trailing dot), a TXT's host a TXT record
    /// whose text is its value. Optional targets and other types are not looked up. Then the
    /// values of the right CNAME records are looked up (A) to fill
    /// [`Verification::unresolved_targets`]; that never makes a record a problem.
    pub async fn verify<T: CnameLike>(&self, targets: &[T]) -> Verification {
        self.resolver.clear_cache();
        let required: Vec<&T> = targets
            .iter()
            .filter(|t| t.required() && (is_cname(*t) || is_txt(*t)))
            .collect();
        let checks = required.iter().map(|t| async move {
            if is_txt(*t) {
                self.check_txt(t.host(), t.value()).await
            } else {
                self.check(t.host(), t.value()).await
            }
        });
        let results = futures::future::join_all(checks).await;
        let mut right: Vec<String> = required
            .iter()
            .zip(&results)
            .filter(|(t, problem)| problem.is_none() && is_cname(**t))
            .map(|(t, _)| normalize_name(t.value()))
            .collect();
        right.sort();
        right.dedup();
        let lookups = right.iter().map(|value| async move {
            let fqdn = format!("{value}.");
            match self.resolver.lookup(fqdn.as_str(), RecordType::A).await {
                Err(e) if e.is_nx_domain() => Some(value.clone()),
                _ => None,
            }
        });
        let unresolved_targets = futures::future::join_all(lookups)
            .await
            .into_iter()
            .flatten()
            .collect();
        let problems: Vec<Problem> = results.into_iter().flatten().collect();
        Verification {
            verified: problems.is_empty(),
            problems,
            unresolved_targets,
        }
    }

    /// The addresses of `host` (A and AAAA, following CNAMEs), or `Ok(empty)` when it has none
    /// or does not exist.
    pub async fn addresses(&self, host: &str) -> Result<Vec<std::net::IpAddr>, NetError> {
        let fqdn = format!("{}.", normalize_name(host));
        match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    /// The TXT texts at `host` (each record's strings joined), or `Ok(empty)` when it has none
    /// or does not exist.
    pub async fn txts(&self, host: &str) -> Result<Vec<String>, NetError> {
        self.answers(host, RecordType::TXT, |data| match data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .await
    }

    /// The answers of type `kind` at `host` itself (not at names it points to), read by `read`,
    /// sorted and without repeats; `Ok(empty)` when it has none or does not exist.
    async fn answers(
        &self,
        host: &str,
        kind: RecordType,
        read: impl Fn(&RData) -> Option<String>,
    ) -> Result<Vec<String>, NetError> {
        let fqdn = format!("{}.", normalize_name(host));
        match self.resolver.lookup(fqdn.as_str(), kind).await {
            Ok(lookup) => {
                let mut found: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter(|r| normalize_name(&r.name.to_ascii()) == normalize_name(host))
                    .filter_map(|r| read(&r.data))
                    .collect();
                found.sort();
                found.dedup();
                Ok(found)
            }
            Err(e) if e.is_no_records_found() => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    async fn check_txt(&self, host: &str, value: &str) -> Option<Problem> {
        let display = normalize_name(host);
        match self.txts(host).await {
            Ok(found) if found.is_empty() => Some(Problem::MissingTxt { host: display }),
            Ok(found) if found.iter().any(|f| f == value) => None,
            Ok(found) => Some(Problem::WrongTxt {
                host: display,
                found,
                want: value.to_string(),
            }),
            Err(e) => Some(Problem::Error {
                host: display,
                message: e.to_string(),
            }),
        }
    }

    /// The CNAME targets of `host` (normalized), or `Ok(empty)` when it has none or does not exist.
    pub async fn cnames(&self, host: &str) -> Result<Vec<String>, NetError> {
        self.answers(host, RecordType::CNAME, |data| match data {
            RData::CNAME(c) => Some(normalize_name(&c.0.to_ascii())),
            _ => None,
        })
        .await
    }

    async fn check(&self, host: &str, value: &str) -> Option<Problem> {
        let display = normalize_name(host);
        let want = normalize_name(value);
        match self.cnames(host).await {
            Ok(found) if found.is_empty() => Some(Problem::Missing { host: display }),
            Ok(found) if found.iter().all(|f| *f == want) => None,
            Ok(found) => Some(Problem::Wrong {
                host: display,
                found,
                want,
            }),
            Err(e) => Some(Problem::Error {
                host: display,
                message: e.to_string(),
            }),
        }
    }
}

fn is_cname<T: CnameLike>(t: &T) -> bool {
    t.record_type().eq_ignore_ascii_case("CNAME")
}

fn is_txt<T: CnameLike>(t: &T) -> bool {
    t.record_type().eq_ignore_ascii_case("TXT")
}

#[cfg(test)]
mod tests;
