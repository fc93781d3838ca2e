//! `spec.export`: hand the application its Clerk settings in a ConfigMap the operator owns
//! (condition `Exported`).
//!
//! [`desired_data`] and [`publishable_key`] are pure; [`reconcile`] writes the ConfigMap through
//! [`super::children`] (server-side apply with the export's field manager, only over a ConfigMap
//! this object controls), like the DNSEndpoint of [`super::dns`].

use super::Context;
use super::children::{self, Applied, apply_owned};
use super::status::Extras;
use crate::api::{ClerkDomain, ExportSpec, condition, condition_type};
use crate::clerk::{ClerkInstance, Domain};
use crate::dns::endpoint::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, Owner};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::{Api, ResourceExt};
use std::collections::BTreeMap;

/// Field manager of the exported ConfigMaps.
pub(crate) const EXPORT_FIELD_MANAGER: &str = "clerk-operator-export";

/// Names of the exported keys, before `spec.export.keyPrefix`, as Clerk's SDKs read them.
pub(crate) mod keys {
    /// The instance's publishable key (satellites use their primary's, which is the instance's).
    pub(crate) const PUBLISHABLE_KEY: &str = "CLERK_PUBLISHABLE_KEY";
    /// `true` or `false`.
    pub(crate) const IS_SATELLITE: &str = "CLERK_IS_SATELLITE";
    /// The satellite's domain; left out when a proxy is used instead.
    pub(crate) const DOMAIN: &str = "CLERK_DOMAIN";
    /// The proxy URL, only when one is set (used instead of the domain).
    pub(crate) const PROXY_URL: &str = "CLERK_PROXY_URL";
    /// Clerk's Frontend API URL for this domain (no Clerk SDK reads it; for CSP and the like).
    pub(crate) const FRONTEND_API_URL: &str = "CLERK_FRONTEND_API_URL";
    /// Satellites: the Account Portal sign-in page on the primary domain, when Clerk reports it.
    pub(crate) const SIGN_IN_URL: &str = "CLERK_SIGN_IN_URL";
    /// Satellites: the Account Portal sign-up page on the primary domain, when Clerk reports it.
    pub(crate) const SIGN_UP_URL: &str = "CLERK_SIGN_UP_URL";
    /// The primary: the origins of every satellite of the instance, comma-separated, for
    /// `allowedRedirectOrigins` of the primary app (no Clerk SDK reads it from the environment).
    pub(crate) const ALLOWED_REDIRECT_ORIGINS: &str = "CLERK_ALLOWED_REDIRECT_ORIGINS";
}

/// Standard base64 with `=` padding, as the browser's `btoa` writes it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The publishable key of an instance whose Frontend API host is `frontend_api_host` (e.g.
/// `clerk.example.com`), as Clerk's SDKs build it (`buildPublishableKey` of `@clerk/shared`):
/// `pk_live_` (production) or `pk_test_` (development), then the standard base64 of the host
/// followed by `$`.
pub fn publishable_key(frontend_api_host: &str, production: bool) -> String {
    let prefix = if production { "pk_live_" } else { "pk_test_" };
    format!("{prefix}{}", base64(format!("{frontend_api_host}$").as_bytes()))
}

/// The Frontend API host of the instance's primary domain `primary`: the host of its
/// `frontend_api_url`; for a proxied production primary (whose URL is the proxy's) the
/// Frontend API host Clerk assigns it, `clerk.<domain>`. `None` when Clerk reports no URL.
pub(crate) fn frontend_api_host(primary: &Domain, production: bool) -> Option<String> {
    let url = primary.frontend_api_url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() {
        return None;
    }
    let proxied = primary.proxy_url.as_deref().is_some_and(|p| !p.is_empty()) || !path.is_empty();
    if production && proxied {
        let name = primary.name.split(':').next().unwrap_or(&primary.name);
        return Some(format!("clerk.{name}"));
    }
    Some(host.to_string())
}

/// The origin a satellite's app is served from: `https://<name>` in production; in development
/// the origin Clerk reports (`development_origin`), else `http://<name>`.
pub(crate) fn satellite_origin(d: &Domain, production: bool) -> String {
    if production {
        format!("https://{}", d.name)
    } else if !d.development_origin.is_empty() {
        d.development_origin.clone()
    } else {
        format!("http://{}", d.name)
    }
}

/// What the exported ConfigMap holds for `domain` (as Clerk reported it after the sync) of an
/// instance whose primary domain is `primary` and whose domains are `all`: see [`keys`], each
/// with `prefix` in front.
pub(crate) fn desired_data(
    prefix: &str,
    domain: &Domain,
    primary: &Domain,
    all: &[impl std::borrow::Borrow<Domain>],
    production: bool,
) -> Result<BTreeMap<String, String>, String> {
    let host = frontend_api_host(primary, production).ok_or_else(|| {
        format!(
            "Clerk reports no Frontend API URL for the primary domain {}",
            primary.name
        )
    })?;
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        data.insert(format!("{prefix}{k}"), v);
    };
    put(keys::PUBLISHABLE_KEY, publishable_key(&host, production));
    put(keys::IS_SATELLITE, domain.is_satellite.to_string());
    let proxy = domain.proxy_url.as_deref().filter(|p| !p.is_empty());
    match proxy {
        Some(p) => put(keys::PROXY_URL, p.to_string()),
        None if domain.is_satellite => put(keys::DOMAIN, domain.name.clone()),
        None => {}
    }
    if !domain.frontend_api_url.is_empty() {
        put(keys::FRONTEND_API_URL, domain.frontend_api_url.clone());
    }
    if domain.is_satellite
        && let Some(portal) = primary.accounts_portal_url.as_deref().filter(|u| !u.is_empty())
    {
        let portal = portal.trim_end_matches('/');
        put(keys::SIGN_IN_URL, format!("{portal}/sign-in"));
        put(keys::SIGN_UP_URL, format!("{portal}/sign-up"));
    }
    if !domain.is_satellite {
        let mut origins: Vec<String> = all
            .iter()
            .map(std::borrow::Borrow::borrow)
            .filter(|d: &&Domain| d.is_satellite)
            .map(|d| satellite_origin(d, production))
            .collect();
        origins.sort();
        origins.dedup();
        put(keys::ALLOWED_REDIRECT_ORIGINS, origins.join(","));
    }
    Ok(data)
}

/// The ConfigMap the operator wants: owned (controller) by the ClerkDomain, labelled
/// `app.kubernetes.io/managed-by: clerk-operator`.
pub(crate) fn desired_config_map(owner: &Owner<'_>, name: &str, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(owner.namespace.into()),
            labels: Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into()),
            owner_references: Some(vec![owner.owner_reference()]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// Whether `current` already holds what `desired` says (data, labels, ownerReference), so no
/// write is needed.
fn up_to_date(current: &ConfigMap, desired: &ConfigMap) -> bool {
    let data_ok = current.data.clone().unwrap_or_default() == desired.data.clone().unwrap_or_default()
        && current.binary_data.as_ref().is_none_or(BTreeMap::is_empty);
    let labels = current.metadata.labels.as_ref();
    let labels_ok = desired
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    let refs = current.metadata.owner_references.as_deref().unwrap_or_default();
    let refs_ok = desired
        .metadata
        .owner_references
        .iter()
        .flatten()
        .all(|want| refs.contains(want));
    data_ok && labels_ok && refs_ok
}

/// What the export step found: a condition to set, or `Exported` to drop, and the ConfigMap to
/// remember in `status.exportedConfigMap`.
pub(crate) struct ExportOutcome {
    condition: Option<Condition>,
    exported: Option<Option<String>>,
}

impl ExportOutcome {
    /// Add this outcome to the status facts of the reconcile.
    pub(crate) fn record(self, extras: &mut Extras<'_>) {
        match self.condition {
            Some(c) => extras.conditions.push(c),
            None => extras.drop_conditions.push(condition_type::EXPORTED),
        }
        if self.exported.is_some() {
            extras.exported_config_map = self.exported;
        }
    }
}

/// Export `obj`'s settings (its Clerk domain is `domain`, on `clerk`) to the ConfigMap of
/// `spec.export`; without `spec.export`, delete the one exported before (only if owned).
pub(crate) async fn reconcile(
    ctx: &Context,
    obj: &ClerkDomain,
    domain: &Domain,
    clerk: &ClerkInstance,
    production: bool,
) -> ExportOutcome {
    let generation = obj.metadata.generation;
    let now = jiff::Timestamp::now();
    let previous = obj.status.as_ref().and_then(|s| s.exported_config_map.clone());
    let cond = |ok: bool, reason: &str, message: String| {
        Some(condition(
            condition_type::EXPORTED,
            ok,
            reason,
            message,
            generation,
            now,
        ))
    };
    let Some(spec) = &obj.spec.export else {
        let Some(old) = previous else {
            return ExportOutcome {
                condition: None,
                exported: None,
            };
        };
        return match delete_owned(ctx, obj, &old).await {
            Ok(()) => ExportOutcome {
                condition: None,
                exported: Some(None),
            },
            Err(e) => ExportOutcome {
                condition: cond(false, "ExportFailed", e),
                exported: None,
            },
        };
    };
    // A renamed export: the old ConfigMap goes first (if ours), so none is left behind.
    if let Some(old) = previous.as_deref().filter(|old| *old != spec.config_map_name)
        && let Err(e) = delete_owned(ctx, obj, old).await
    {
        return ExportOutcome {
            condition: cond(false, "ExportFailed", e),
            exported: None,
        };
    }
    let (ok, reason, message) = export(ctx, obj, spec, domain, clerk, production).await;
    ExportOutcome {
        condition: cond(ok, reason, message),
        exported: Some(Some(spec.config_map_name.clone())),
    }
}

async fn export(
    ctx: &Context,
    obj: &ClerkDomain,
    spec: &ExportSpec,
    domain: &Domain,
    clerk: &ClerkInstance,
    production: bool,
) -> (bool, &'static str, String) {
    let name = spec.config_map_name.as_str();
    let Some(owner) = Owner::of(obj) else {
        return (false, "ExportFailed", "the object has no uid yet".into());
    };
    let domains = match clerk.list_domains().await {
        Ok(d) => d,
        Err(e) => {
            return (
                false,
                "ExportFailed",
                format!("listing the instance's domains: {}", e.stable_message()),
            );
        }
    };
    let primary = if domain.is_satellite {
        domains.iter().map(|d| d.as_ref()).find(|d| !d.is_satellite)
    } else {
        Some(domain)
    };
    let Some(primary) = primary else {
        return (
            false,
            "ExportFailed",
            "the instance has no primary domain in Clerk's domain list".into(),
        );
    };
    let prefix = spec.key_prefix.as_deref().unwrap_or_default();
    let data = match desired_data(prefix, domain, primary, &domains, production) {
        Ok(d) => d,
        Err(e) => return (false, "ExportFailed", e),
    };
    // Not held across the ConfigMap's requests: a write to the instance's list copies it while
    // anybody holds it.
    drop(domains);
    let count = data.len();
    let desired = desired_config_map(&owner, name, data);
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), owner.namespace);
    let exported = (true, "Exported", format!("ConfigMap {name} holds {count} keys"));
    match apply_owned(&api, owner.uid, EXPORT_FIELD_MANAGER, desired.clone(), |cm| {
        up_to_date(cm, &desired)
    })
    .await
    {
        Ok(Applied::Written | Applied::Unchanged) => exported,
        Ok(Applied::NotOwned) => (
            false,
            "ConfigMapNotOwned",
            format!(
                "ConfigMap {name} exists and is not owned by this ClerkDomain; the operator never \
                 overwrites or deletes it: delete it or choose another spec.export.configMapName"
            ),
        ),
        Err(e) => (false, "ExportFailed", format!("writing ConfigMap {name}: {e}")),
    }
}

/// Delete ConfigMap `name` if this object controls it; one it does not own is left alone.
async fn delete_owned(ctx: &Context, obj: &ClerkDomain, name: &str) -> Result<(), String> {
    let Some(uid) = obj.metadata.uid.as_deref() else {
        return Ok(());
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    children::delete_owned(&api, name, uid)
        .await
        .map_err(|e| format!("deleting ConfigMap {name}: {e}"))
}

#[cfg(test)]
mod tests;
