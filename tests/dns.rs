//! The DNS verifier against a real (test) authoritative DNS server.
#![warn(clippy::too_many_lines)]

use clerk_operator::dns::{Problem, Verification, Verifier, VerifierConfig};
use std::time::Duration;
use test_kit::dns_server::DnsServer;

const FAPI: &str = "frontend-api.clerk.services";
const MAIL: &str = "mail.abc.clerk.services";

fn verifier(server: &DnsServer) -> Verifier {
    Verifier::new(VerifierConfig {
        server: Some(server.addr()),
        timeout: Duration::from_secs(2),
        attempts: 1,
    })
    .unwrap()
}

fn targets() -> Vec<(&'static str, &'static str, bool)> {
    vec![
        ("clerk.a.example.com", FAPI, true),
        ("clkmail.a.example.com", MAIL, true),
        ("optional.a.example.com", "x.clerk.services", false),
    ]
}

#[tokio::test]
async fn missing_wrong_and_right_records() {
    let dns = DnsServer::start().await.unwrap();
    let v = verifier(&dns);

    // Nothing published: NXDOMAIN for both required hosts; the optional one is not looked up.
    let out = v.verify(&targets()).await;
    assert_eq!(
        out.problems,
        vec![
            Problem::Missing {
                host: "clerk.a.example.com".into()
            },
            Problem::Missing {
                host: "clkmail.a.example.com".into()
            },
        ]
    );
    assert!(!out.verified);
    assert_eq!(dns.queries(), 2);

    // One right (different case, trailing dot), one wrong.
    dns.set_cname("Clerk.A.Example.com.", "FRONTEND-API.clerk.services.");
    dns.set_cname("clkmail.a.example.com", "mail.other.clerk.services");
    let out = v.verify(&targets()).await;
    assert_eq!(
        out.problems,
        vec![Problem::Wrong {
            host: "clkmail.a.example.com".into(),
            found: vec!["mail.other.clerk.services".into()],
            want: MAIL.into(),
        }]
    );
    assert_eq!(
        out.summary(),
        "clkmail.a.example.com: CNAME points to mail.other.clerk.services, expected mail.abc.clerk.services"
    );

    // Fixed. Clerk's targets themselves answer NXDOMAIN from this server: the records are
    // still right, and the targets are listed as Clerk's side.
    dns.set_cname("clkmail.a.example.com", MAIL);
    let out = v.verify(&targets()).await;
    assert_eq!(
        out,
        Verification {
            verified: true,
            problems: vec![],
            unresolved_targets: vec![FAPI.into(), MAIL.into()],
        }
    );
    assert_eq!(out.reason(), "Verified");
    assert!(
        out.clerk_side_note()
            .unwrap()
            .contains("frontend-api.clerk.services, mail.abc.clerk.services do not resolve"),
        "{out:?}"
    );
    // Targets given with a trailing dot and in uppercase verify too.
    let out = v
        .verify(&[("CLERK.a.example.com.", "frontend-api.clerk.services.", true)])
        .await;
    assert!(out.verified, "{out:?}");
}

#[tokio::test]
async fn changes_at_run_time_are_seen_at_once() {
    let dns = DnsServer::start().await.unwrap();
    let v = verifier(&dns);
    let want = [("clerk.b.example.com", FAPI, true)];

    dns.set_cname("clerk.b.example.com", FAPI);
    assert!(v.verify(&want).await.verified);

    dns.set_cname("clerk.b.example.com", "old.example.net");
    let out = v.verify(&want).await;
    assert!(
        matches!(&out.problems[..], [Problem::Wrong { found, .. }] if found == &["old.example.net"]),
        "{out:?}"
    );

    assert!(dns.remove("clerk.b.example.com"));
    let out = v.verify(&want).await;
    assert_eq!(
        out.problems,
        vec![Problem::Missing {
            host: "clerk.b.example.com".into()
        }]
    );
    assert_eq!(out.summary(), "clerk.b.example.com: no CNAME record");

    dns.set_cname("clerk.b.example.com", FAPI);
    assert!(v.verify(&want).await.verified);
    // Every verification asked the server: nothing came from a cache. One CNAME query each,
    // plus one lookup of Clerk's target for each of the two that verified.
    assert_eq!(dns.queries(), 6);
}

#[tokio::test]
async fn the_clients_cname_targets_verify_directly() {
    let dns = DnsServer::start().await.unwrap();
    let v = verifier(&dns);
    let targets = vec![clerk_operator::clerk::CnameTarget {
        host: "clerk.c.example.com".into(),
        value: FAPI.into(),
        required: true,
    }];
    assert!(!v.verify(&targets).await.verified);
    dns.set_cname("clerk.c.example.com", FAPI);
    assert!(v.verify(&targets).await.verified);
}

#[tokio::test]
async fn a_stopped_server_is_an_error() {
    let dns = DnsServer::start().await.unwrap();
    let addr = dns.addr();
    drop(dns);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let v = Verifier::new(VerifierConfig {
        server: Some(addr),
        timeout: Duration::from_millis(300),
        attempts: 1,
    })
    .unwrap();
    let out = v.verify(&[("clerk.d.example.com", FAPI, true)]).await;
    assert!(out.has_errors(), "{out:?}");
    assert!(
        out.summary().starts_with("clerk.d.example.com: lookup failed"),
        "{}",
        out.summary()
    );
}

#[tokio::test]
async fn the_server_answers_over_tcp_too() {
    use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    use hickory_resolver::proto::rr::{RData, RecordType};
    let dns = DnsServer::start().await.unwrap();
    dns.set_cname("clerk.e.example.com", FAPI);
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = dns.addr().port();
    let ns = NameServerConfig::new(dns.addr().ip(), true, vec![tcp]);
    let resolver = hickory_resolver::Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .build()
    .unwrap();
    let lookup = resolver
        .lookup("clerk.e.example.com.", RecordType::CNAME)
        .await
        .unwrap();
    let found: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(found, vec![format!("{FAPI}.")]);
    let err = resolver
        .lookup("nope.e.example.com.", RecordType::CNAME)
        .await
        .unwrap_err();
    assert!(err.is_nx_domain(), "{err}");
}
