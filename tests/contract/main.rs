//! Contract tests: the operator's Clerk client and the fake Clerk, checked against Clerk's official
//! OpenAPI spec (`../shared/clerk-openapi/bapi-2026-05-12.yml`, or `CLERK_OPENAPI_SPEC`).
//!
//! - `fake_responses_match_the_spec_schemas`: every kind of body the fake answers with validates
//!   against the spec's schema for that operation and status (needs only the spec).
//! - `client_and_fake_agree_with_the_spec_through_prism`: the typed `ClerkClient` talks to the
//!   fake through `prism proxy --errors`, which checks every request and every response against
//!   the spec and answers with an error (plus an `sl-violations` header) when either breaks it.
//!   Each call is made twice: by the typed client (behaviour: success, or Clerk's own error) and
//!   by a raw request with the same method, headers and body shape (to read `sl-violations`).
//!   Needs prism: `PRISM_BIN`, as `make contract` sets it from `hack/prism.sh`.
//!
//! - `operator_platform_client_agrees_with_the_spec_through_prism`: the operator's Platform
//!   client through Prism against the fake.
//! - `fake_platform_endpoints_match_the_platform_spec` and
//!   `fake_platform_endpoints_agree_with_the_spec_through_prism`: the fake's Platform API
//!   readiness endpoints against Clerk's Platform API spec (`platform-beta.yml`), directly and
//!   through prism.
//!
//! They skip, with a loud message, when a spec (or prism) is absent.
#![warn(clippy::too_many_lines)]

mod error_cases;
mod platform;
mod prism;
mod schemas;
mod spec;
mod through_prism;
mod wire;

use clerk_operator::clerk::{
    ClerkClient, ClerkError, ClientConfig, CreateDomain, Domain, SecretKey, UpdateDomain,
};
use error_cases::*;
use fake_clerk::{FakeClerk, FakeConfig};
use prism::{Prism, prism_bin};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use spec::{Spec, violations};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wire::*;

const LIVE: &str = "sk_live_contract_production_key";
const DEV: &str = "sk_test_contract_development_key";
/// An instance whose state the negative control corrupts.
const CONTROL: &str = "sk_live_contract_control_key";
const WRONG: &str = "sk_live_not_a_key_of_this_fake";
const PRIMARY: &str = "example.com";

const DOMAINS: &str = "/domains";
const DOMAIN: &str = "/domains/{domain_id}";
const INSTANCE: &str = "/instance";

/// The schemas the fake's bodies must be checked against at least once.
const SCHEMAS: [&str; 5] = ["Domain", "Domains", "DeletedObject", "ClerkErrors", "Instance"];

async fn start_fake() -> FakeClerk {
    FakeClerk::start(FakeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        secret_keys: vec![LIVE.into(), DEV.into(), CONTROL.into()],
        primary_domain: PRIMARY.into(),
        ..Default::default()
    })
    .await
    .expect("fake Clerk starts")
}

fn load_spec(test: &str) -> Option<Spec> {
    match spec::spec_path() {
        Some(p) => Some(Spec::load(&p)),
        None => {
            spec::skip(
                test,
                &format!(
                    "Clerk's OpenAPI spec not found at {} (set CLERK_OPENAPI_SPEC to its path)",
                    spec::DEFAULT_SPEC
                ),
            );
            None
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Raw HTTP, shaped like the client's requests.
