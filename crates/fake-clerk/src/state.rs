use super::names::new_id;
use clerk_model::{CnameTarget, DnsTarget, Domain, InstanceKind, ProxyCheck, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One Clerk instance: its key, kind and domains (the primary first).
#[derive(Clone, Debug)]
pub struct InstanceState {
    pub id: String,
    pub kind: InstanceKind,
    pub domains: Vec<Domain>,
    /// `is_secondary` per domain ID, which Clerk stores but does not report.
    pub secondary: BTreeMap<String, bool>,
    /// The latest proxy check per domain ID (`POST /proxy_checks`).
    pub proxy_checks: BTreeMap<String, ProxyCheck>,
    /// Every change made through the API, with its time, for tests that investigate.
    pub journal: Vec<(jiff::Timestamp, String)>,
    /// The instance sends email from its domains with a DMARC policy: its production domains
    /// carry the typed `dns_targets` list, with a TXT record at `_dmarc.<domain>` besides the
    /// CNAMEs. Without it, domains have `cname_targets` only, as older answers do.
    pub dmarc: bool,
    /// The Clerk application the instance belongs to (`app_...`), for the Platform API.
    pub application_id: String,
    /// When the latest Platform API DNS check of each domain started (Unix ms), by domain ID.
    pub dns_checks: BTreeMap<String, crate::platform::CheckStart>,
}

impl InstanceState {
    /// An instance `id` of `kind` in application `application_id`, without domains or history.
    pub fn empty(id: String, kind: InstanceKind, application_id: String) -> Self {
        InstanceState {
            id,
            kind,
            domains: vec![],
            secondary: BTreeMap::new(),
            proxy_checks: BTreeMap::new(),
            journal: vec![],
            dmarc: false,
            application_id,
            dns_checks: BTreeMap::new(),
        }
    }
}

/// How the fake decides a proxy check's `successful`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyCheckRule {
    /// GET the proxy URL (short timeout, any certificate): successful when it answers with a
    /// status below 500.
    #[default]
    Probe,
    /// Every check succeeds.
    AlwaysSucceed,
    /// Every check fails.
    AlwaysFail,
}

/// Requests served, by operation and status code.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// operation (e.g. `ListDomains`) -> status code -> count.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Sum of all counts.
    pub total: u64,
}

impl Stats {
    /// Requests of one operation, any status.
    pub fn count(&self, operation: &str) -> u64 {
        self.requests.get(operation).map_or(0, |m| m.values().sum())
    }

    /// Requests of one operation with one status.
    pub fn count_status(&self, operation: &str, status: u16) -> u64 {
        self.requests
            .get(operation)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }
}

/// One API request as the fake received it (before faults or processing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: jiff::Timestamp,
    /// HTTP method, e.g. `PATCH`.
    pub method: String,
    /// The Clerk operation (see [`operation`](super::faults::operation)), e.g. `UpdateDomain`.
    pub operation: String,
    /// The `User-Agent` header (the operator sends its identity there).
    pub user_agent: String,
    /// ID of the instance the key belongs to; `None` for an unknown or missing key.
    pub instance: Option<String>,
}

impl RequestRecord {
    /// POST, PATCH or DELETE.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PATCH" | "DELETE" | "PUT")
    }
}

/// How many [`RequestRecord`]s the fake keeps (the oldest are dropped).
pub const REQUEST_LOG_LIMIT: usize = 100_000;

/// The whole fake: instances by secret key, and counters.
#[derive(Debug, Default)]
pub struct State {
    pub instances: BTreeMap<String, InstanceState>,
    /// More keys of an existing instance: extra key -> the key the instance is stored under
    /// (Clerk lets an instance have several secret keys; they share its rate limit).
    pub aliases: BTreeMap<String, String>,
    pub stats: Stats,
    /// Every API request received, oldest first (at most [`REQUEST_LOG_LIMIT`]).
    pub requests: std::collections::VecDeque<RequestRecord>,
    pub faults: super::Faults,
    pub fault_stats: super::FaultStats,
    pub windows: std::collections::HashMap<String, super::fault_settings::Window>,
    /// How proxy checks are decided (`PUT /__fake/proxy-check-rule`).
    pub proxy_check_rule: ProxyCheckRule,
    /// Platform API access tokens the fake accepts (any of them reaches every application).
    pub platform_tokens: std::collections::BTreeSet<String>,
    /// How the Platform API decides readiness (`PUT /__fake/platform-rule`).
    pub platform_rule: crate::platform::PlatformRule,
}

/// State shared between the server and the test that embeds it.
pub type SharedState = Arc<Mutex<State>>;

impl State {
    /// A fake with one instance per key, each with a primary domain named `primary`.
    pub fn new(keys: &[String], primary: &str) -> Self {
        let mut state = State::default();
        for key in keys {
            state.add_instance(key, primary);
        }
        state
    }

    /// Add an instance for `key` with a primary domain.
    pub fn add_instance(&mut self, key: &str, primary: &str) {
        let kind = SecretKey::new(key).kind();
        let mut inst = InstanceState::empty(new_id("ins"), kind, new_id("app"));
        let d = make_domain(&inst, primary, false, None);
        inst.domains.push(d);
        self.instances.insert(key.to_string(), inst);
    }

    /// Give the instance of `existing` another secret key. False when `existing` is unknown or
    /// `key` is already in use.
    pub fn add_key(&mut self, key: &str, existing: &str) -> bool {
        let Some(canonical) = self.canonical(existing).map(str::to_string) else {
            return false;
        };
        if self.canonical(key).is_some() {
            return false;
        }
        self.aliases.insert(key.to_string(), canonical);
        true
    }

    /// Revoke `key`, a key added with [`add_key`](Self::add_key) (as deleting it in Clerk's
    /// dashboard): it is refused from now on. False when it is not such a key.
    pub fn revoke_key(&mut self, key: &str) -> bool {
        self.aliases.remove(key).is_some()
    }

    /// The key an instance is stored under, for any of its keys; `None` for an unknown key.
    pub fn canonical<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        if self.instances.contains_key(key) {
            return Some(key);
        }
        self.aliases.get(key).map(String::as_str)
    }

    /// The instance any of its keys belongs to.
    pub fn instance(&self, key: &str) -> Option<&InstanceState> {
        self.instances.get(self.canonical(key)?)
    }

    /// The instance any of its keys belongs to, to change it.
    pub fn instance_mut(&mut self, key: &str) -> Option<&mut InstanceState> {
        let canonical = self.canonical(key)?.to_string();
        self.instances.get_mut(&canonical)
    }

    /// Append to the request log; `key` names the instance.
    pub fn log_request(&mut self, mut record: RequestRecord, key: Option<&str>) {
        record.instance = key.and_then(|k| self.instance(k)).map(|i| i.id.clone());
        if self.requests.len() >= REQUEST_LOG_LIMIT {
            self.requests.pop_front();
        }
        self.requests.push_back(record);
    }

    pub fn record(&mut self, operation: &str, status: u16) {
        *self
            .stats
            .requests
            .entry(operation.to_string())
            .or_default()
            .entry(status)
            .or_default() += 1;
        self.stats.total += 1;
    }
}

/// A domain as Clerk would describe it: Frontend API URL, CNAME targets and, for a primary
/// domain of a production instance, the Account Portal, mail and DKIM records (see
/// [`describe`] for which records which domain needs).
pub fn make_domain(inst: &InstanceState, name: &str, satellite: bool, proxy_url: Option<String>) -> Domain {
    let id = new_id("dmn");
    let mut d = Domain {
        object: "domain".into(),
        id,
        name: name.to_string(),
        is_satellite: satellite,
        frontend_api_url: String::new(),
        accounts_portal_url: None,
        proxy_url,
        development_origin: String::new(),
        cname_targets: None,
        dns_targets: None,
    };
    describe(inst, &mut d);
    d
}

/// Recompute the derived fields of `d` from its name, kind and proxy.
///
/// CNAME targets, as Clerk documents them: a development instance needs none. A production
/// *primary* domain needs `clerk.<domain>` (Frontend API; not when it is proxied),
/// `accounts.<domain>` (Account Portal) and the email records `clkmail`, `clk._domainkey` and
/// `clk2._domainkey`. A production *satellite* needs only the Frontend API record
/// `clerk.<domain>` ("add a CNAME record for the `clerk` subdomain", Clerk's satellite-domains
/// guide), and none when it is proxied (the proxy replaces that record): sign-in, the Account
/// Portal and email all live on the primary domain.
///
/// For an instance with [`InstanceState::dmarc`], a production domain also carries
/// `dns_targets`: every CNAME above, typed, then a required TXT record `_dmarc.<domain>` with
/// a DMARC policy.
pub fn describe(inst: &InstanceState, d: &mut Domain) {
    describe_cnames(inst, d);
    d.dns_targets = match (inst.kind, inst.dmarc) {
        (InstanceKind::Production, true) => {
            let host = d.name.split(':').next().unwrap_or(&d.name).to_string();
            let mut typed: Vec<DnsTarget> = d.cname_targets.iter().flatten().map(DnsTarget::from).collect();
            typed.push(DnsTarget {
                host: format!("_dmarc.{host}"),
                value: DMARC_POLICY.into(),
                required: true,
                record_type: "TXT".into(),
                automation_disposition: Some("manual".into()),
            });
            Some(typed)
        }
        _ => None,
    };
}

/// The DMARC policy of [`describe`]'s TXT record.
pub const DMARC_POLICY: &str = "v=DMARC1; p=none";

fn describe_cnames(inst: &InstanceState, d: &mut Domain) {
    let host = d.name.split(':').next().unwrap_or(&d.name).to_string();
    let tag: String = inst.id.chars().skip(4).take(8).collect::<String>().to_lowercase();
    match inst.kind {
        InstanceKind::Development => {
            d.frontend_api_url = format!("https://{}.clerk.accounts.dev", slug(&inst.id));
            d.development_origin = format!("http://{}", d.name);
            d.accounts_portal_url =
                (!d.is_satellite).then(|| format!("https://{}.accounts.dev", slug(&inst.id)));
            d.cname_targets = None;
        }
        InstanceKind::Production => {
            d.frontend_api_url = match &d.proxy_url {
                Some(p) => p.clone(),
                None => format!("https://clerk.{host}"),
            };
            d.development_origin = String::new();
            d.accounts_portal_url = (!d.is_satellite).then(|| format!("https://accounts.{host}"));
            let mut targets = vec![];
            if d.proxy_url.is_none() {
                targets.push(target(
                    format!("clerk.{host}"),
                    "frontend-api.clerk.services",
                    true,
                ));
            }
            if !d.is_satellite {
                targets.push(target(
                    format!("accounts.{host}"),
                    "accounts.clerk.services",
                    true,
                ));
                targets.push(target(
                    format!("clkmail.{host}"),
                    &format!("mail.{tag}.clerk.services"),
                    true,
                ));
                targets.push(target(
                    format!("clk._domainkey.{host}"),
                    &format!("dkim1.{tag}.clerk.services"),
                    true,
                ));
                targets.push(target(
                    format!("clk2._domainkey.{host}"),
                    &format!("dkim2.{tag}.clerk.services"),
                    true,
                ));
            }
            d.cname_targets = Some(targets);
        }
    }
}

fn target(host: String, value: &str, required: bool) -> CnameTarget {
    CnameTarget {
        host,
        value: value.to_string(),
        required,
    }
}

/// A stable, Clerk-like development slug for an instance, e.g. `brave-otter-42`.
fn slug(instance_id: &str) -> String {
    const ADJ: [&str; 8] = [
        "brave", "calm", "eager", "gentle", "happy", "lucky", "proud", "witty",
    ];
    const ANIMAL: [&str; 8] = [
        "otter", "falcon", "lynx", "heron", "panda", "koala", "marten", "ibis",
    ];
    let h = instance_id
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    format!(
        "{}-{}-{}",
        ADJ[(h % 8) as usize],
        ANIMAL[((h / 8) % 8) as usize],
        h % 100
    )
}

#[cfg(test)]
mod tests;
