//! Clerk's own view of a domain's readiness, from the Platform API (private beta), for
//! ClerkDomains whose instance object sets `spec.platform`: `ClerkDNSVerified`, `SSLIssued`,
//! `MailVerified` and (proxied domains) `ClerkProxyVerified`. They inform and never gate `Ready`.
//!
//! A DNS check (`POST …/dns_check`) is started only for a new generation, a new
//! `reconcile-requested-at`, or after the last reading failed; a 409 means one is running.
//! Otherwise the status is read (`GET …/status`), again after 15 s, 30 s, ... up to 5 minutes
//! while Clerk reports the domain incomplete or cannot be asked.

use super::Context;
use super::credentials;
use super::reason::Reason;
use crate::api::{ClerkDomain, PlatformSpec, condition, condition_type as ct};
use crate::clerk::platform::{DomainStatus, FailureHint};
use crate::clerk::{CheckStarted, ClerkError, PlatformToken};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use std::time::Duration;

/// The first recheck of an incomplete domain; it doubles up to [`MAX_RECHECK`].
pub(crate) const FIRST_RECHECK: Duration = Duration::from_secs(15);
/// The longest wait between readings while Clerk reports the domain incomplete.
pub(crate) const MAX_RECHECK: Duration = Duration::from_secs(300);

/// What the Platform step decided.
#[derive(Default, Debug)]
pub(crate) struct PlatformOutcome {
    pub(crate) conditions: Vec<Condition>,
    pub(crate) drop_conditions: Vec<&'static str>,
    /// Read again sooner than the resync while Clerk reports the domain incomplete.
    pub(crate) recheck: Option<Duration>,
}

/// The Platform conditions of `obj`, whose Clerk domain is `domain_id`; `settings` are its
/// instance object's `spec.platform` and the namespace of the token's Secret.
pub(crate) async fn reconcile(
    ctx: &Context,
    obj: &ClerkDomain,
    domain_id: &str,
    settings: Option<&(PlatformSpec, String)>,
    forced: bool,
) -> PlatformOutcome {
    let Some((spec, namespace)) = settings else {
        return PlatformOutcome {
            drop_conditions: ct::PLATFORM.to_vec(),
            ..Default::default()
        };
    };
    let at = At {
        generation: obj.metadata.generation,
        now: jiff::Timestamp::now(),
    };
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let token = match credentials::read_key(ctx, namespace, &spec.token_secret_ref.as_key_ref()).await {
        Ok((secret, _)) => PlatformToken::new(secret.expose()),
        Err(e) => {
            let message = format!("the Platform API token: {e}");
            return retried(ctx, &key, unknown(at, Reason::PlatformTokenUnreadable, message));
        }
    };
    let client = ctx.platform(token);
    let app = spec.application_id.as_str();
    let mut running = false;
    let answer = if check_due(obj, at.generation, forced) {
        match client.dns_check(app, domain_id).await {
            Ok(CheckStarted::Started(c)) => Ok(c.status),
            Ok(CheckStarted::Running) => {
                running = true;
                client.status(app, domain_id).await
            }
            Err(e) => Err(e),
        }
    } else {
        client.status(app, domain_id).await
    };
    match answer {
        Ok(status) => {
            let mut out = from_status(&status, running, at);
            let attempt = ctx.memory.platform_incomplete(&key, !settled(&out.conditions));
            if attempt > 0 {
                out.recheck = Some(recheck_after(attempt));
            }
            out
        }
        Err(e) if e.is_unsent() && !e.is_connect() => postponed(&e),
        Err(e) => {
            let (reason, message) = explain(&e, app, domain_id);
            retried(ctx, &key, unknown(at, reason, message))
        }
    }
}

/// A request the client did not send (this process does not lead, or the token's budget is
/// spent or paused by Clerk): the conditions stay as they are, and Clerk is asked when the wait
/// ends.
fn postponed(e: &ClerkError) -> PlatformOutcome {
    tracing::debug!(error = %e, "Platform API request postponed");
    PlatformOutcome {
        recheck: Some(
            e.retry_after()
                .unwrap_or(FIRST_RECHECK)
                .max(Duration::from_secs(1)),
        ),
        ..Default::default()
    }
}

/// `out` (a failed reading), asked again with the incomplete backoff: a fixed Secret, token or
/// application ID is seen soon.
fn retried(ctx: &Context, key: &str, mut out: PlatformOutcome) -> PlatformOutcome {
    out.recheck = Some(recheck_after(ctx.memory.platform_incomplete(key, true)));
    out
}

/// Whether a DNS check is due: no reading yet for this generation, a forced resync, or the last
/// reading failed (so a fixed token or application ID starts one).
pub(crate) fn check_due(obj: &ClerkDomain, generation: Option<i64>, forced: bool) -> bool {
    let previous = obj
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == ct::CLERK_DNS_VERIFIED));
    match previous {
        None => true,
        Some(c) => forced || c.observed_generation != generation || c.status == "Unknown",
    }
}

/// The wait before reading again after `attempt` consecutive incomplete readings.
pub(crate) fn recheck_after(attempt: u32) -> Duration {
    FIRST_RECHECK
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(MAX_RECHECK)
}

/// Whether every condition is settled: satisfied, or failed in Clerk's words.
fn settled(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .all(|c| c.status == "True" || c.reason == Reason::ClerkCheckFailed.as_str())
}

/// The generation and time the conditions are written for.
#[derive(Clone, Copy)]
pub(crate) struct At {
    pub(crate) generation: Option<i64>,
    pub(crate) now: jiff::Timestamp,
}

/// One part of Clerk's status as a condition: `complete` or not required is True; `failed`
/// while required is False (`ClerkCheckFailed`), anything else False (`ClerkCheckPending`, or
/// `ClerkCheckRunning` while a check runs).
fn part(
    type_: &str,
    what: &str,
    word: &str,
    required: bool,
    hints: &[FailureHint],
    ctx: &Tail<'_>,
) -> Condition {
    let (ok, reason) = match (word, required) {
        ("complete", _) => (true, Reason::ClerkCheckComplete),
        (_, false) => (true, Reason::ClerkCheckNotRequired),
        ("failed", true) => (false, Reason::ClerkCheckFailed),
        _ if ctx.running => (false, Reason::ClerkCheckRunning),
        _ => (false, Reason::ClerkCheckPending),
    };
    let mut message = match reason {
        Reason::ClerkCheckNotRequired => format!("Clerk does not require {what} for this domain ({word})"),
        _ => format!("Clerk reports {what}: {word}"),
    };
    if !ok {
        for h in hints {
            message.push_str(&format!("; {}: {}", h.code, h.message));
        }
    }
    if reason == Reason::ClerkCheckRunning {
        message.push_str("; a DNS check is running in Clerk");
    }
    message.push_str(&format!(" (Clerk's overall status: {})", ctx.overall));
    condition(type_, ok, reason.as_str(), message, ctx.at.generation, ctx.at.now)
}

/// What every part's message shares.
struct Tail<'a> {
    overall: &'a str,
    running: bool,
    at: At,
}

/// The conditions of Clerk's `status`; the proxy one is dropped when Clerk reports no proxy.
pub(crate) fn from_status(s: &DomainStatus, running: bool, at: At) -> PlatformOutcome {
    let tail = Tail {
        overall: if s.status.is_empty() { "unknown" } else { &s.status },
        running,
        at,
    };
    let dns_hints: Vec<FailureHint> = s
        .dns
        .cnames
        .values()
        .filter(|c| c.required && !c.verified)
        .flat_map(|c| c.failure_hints.clone().unwrap_or_default())
        .collect();
    let records_ok = s.dns.cnames.values().all(|c| c.verified || !c.required);
    // DNS "complete" means the check finished; it passed only if every required record verified.
    let dns_word = match s.dns.status.as_str() {
        "complete" if !records_ok => "failed",
        w => w,
    };
    let mut out = PlatformOutcome::default();
    out.conditions.push(part(
        ct::CLERK_DNS_VERIFIED,
        "DNS",
        dns_word,
        true,
        &dns_hints,
        &tail,
    ));
    let ssl_hints = s.ssl.failure_hints.clone().unwrap_or_default();
    out.conditions.push(part(
        ct::SSL_ISSUED,
        "SSL",
        &s.ssl.status,
        s.ssl.required,
        &ssl_hints,
        &tail,
    ));
    match &s.mail {
        Some(m) => out.conditions.push(part(
            ct::MAIL_VERIFIED,
            "email DNS",
            &m.status,
            m.required,
            &[],
            &tail,
        )),
        None => out.drop_conditions.push(ct::MAIL_VERIFIED),
    }
    match &s.proxy {
        Some(p) => out.conditions.push(part(
            ct::CLERK_PROXY_VERIFIED,
            "the proxy",
            &p.status,
            p.required,
            &[],
            &tail,
        )),
        None => out.drop_conditions.push(ct::CLERK_PROXY_VERIFIED),
    }
    out
}

/// The reason and message of a failed Platform API call; the token is never part of either.
fn explain(e: &ClerkError, app: &str, domain_id: &str) -> (Reason, String) {
    let reason = match e.status() {
        Some(401 | 403) => Reason::PlatformUnauthorized,
        Some(404) => Reason::PlatformNotFound,
        _ => Reason::PlatformUnavailable,
    };
    let e = e.stable_message();
    let message = match reason {
        Reason::PlatformUnauthorized => format!(
            "{e}: Clerk refused the Platform API access token (spec.platform.tokenSecretRef of the instance object)"
        ),
        Reason::PlatformNotFound => {
            format!(
                "{e}: Clerk's Platform API knows no domain {domain_id} in application {app} (spec.platform.applicationId)"
            )
        }
        _ => e,
    };
    (reason, message)
}

/// The three main conditions as Unknown with `reason`: the Platform API gave no reading.
fn unknown(at: At, reason: Reason, message: String) -> PlatformOutcome {
    debug_assert!(!matches!(
        reason,
        Reason::ClerkCheckComplete | Reason::ClerkCheckNotRequired
    ));
    let conditions = [ct::CLERK_DNS_VERIFIED, ct::SSL_ISSUED, ct::MAIL_VERIFIED]
        .into_iter()
        .map(|t| Condition {
            status: "Unknown".into(),
            ..condition(t, false, reason.as_str(), message.clone(), at.generation, at.now)
        })
        .collect();
    PlatformOutcome {
        conditions,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
