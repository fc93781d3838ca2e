//! Which Clerk secret key a ClerkDomain uses: its own namespace's Secret, else the default.

use super::Context;
use super::reason::Reason;
use crate::api::ClerkDomain;
use crate::clerk::SecretKey;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Api, ResourceExt};

/// Why no key could be had. Messages name the Secret and key, never the key's value.
#[derive(thiserror::Error, Debug)]
pub enum CredentialsError {
    #[error("Secret {namespace}/{name} (secretRef) was not found")]
    SecretNotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {key:?} (secretRef.key)")]
    KeyNotFound {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("key {key:?} of Secret {namespace}/{name} is empty or not UTF-8")]
    KeyInvalid {
        namespace: String,
        name: String,
        key: String,
    },
    #[error(
        "spec.secretRef is not set and the operator has no default Clerk secret key \
         (start it with CLERK_SECRET_KEY or --secret-key-file)"
    )]
    NoDefault,
    #[error(
        "spec.secretRef is not set and the operator's default Clerk secret key may not be used \
         from namespace {namespace} (see --default-key-namespaces); set spec.secretRef"
    )]
    DefaultKeyNotAllowed { namespace: String },
    #[error("reading Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl CredentialsError {
    /// Condition reason; only API errors are transient.
    pub fn reason(&self) -> Reason {
        match self {
            CredentialsError::Kube { .. } => Reason::CredentialsUnreadable,
            CredentialsError::SecretNotFound { .. } => Reason::SecretNotFound,
            CredentialsError::DefaultKeyNotAllowed { .. } => Reason::DefaultKeyNotAllowed,
            _ => Reason::CredentialsNotFound,
        }
    }
}

/// Resolve the key for `obj`, with the metadata of the Secret it came from (none for the default
/// key). A `secretRef` is read from the object's own namespace only, and only when the Secret's
/// resourceVersion (from the watched metadata) differs from the one the key was last read at.
/// At `cleanup`, `--default-key-namespaces` is not asked again (the object's own domain is
/// deleted by its ID on the pinned instance, whatever the namespace may do now).
pub async fn resolve(
    ctx: &Context,
    obj: &ClerkDomain,
    cleanup: bool,
) -> Result<(SecretKey, Option<ObjectMeta>), CredentialsError> {
    let Some(r) = &obj.spec.secret_ref else {
        let namespace = obj.namespace().unwrap_or_default();
        if !cleanup && !ctx.config.default_key_allowed(&namespace) {
            return Err(CredentialsError::DefaultKeyNotAllowed { namespace });
        }
        return ctx
            .config
            .default_key
            .clone()
            .map(|k| (k, None))
            .ok_or(CredentialsError::NoDefault);
    };
    let namespace = obj.namespace().unwrap_or_default();
    let (key, meta) = read_key(ctx, &namespace, r).await?;
    Ok((key, Some(meta)))
}

/// Read the key `r` names from a Secret of `namespace` (a ClerkDomain's own, or an instance
/// object's) with one GET of that Secret. With Secret protection the Secret is read only when
/// its resourceVersion (from the watched metadata) differs from the one the key was last read
/// at; without it, when the key was read `secret_cache_ttl` ago or earlier.
pub async fn read_key(
    ctx: &Context,
    namespace: &str,
    r: &crate::api::SecretKeyRef,
) -> Result<(SecretKey, ObjectMeta), CredentialsError> {
    if ctx.config.secret_protection {
        if let Some(meta) = ctx.secret_meta(namespace, &r.name)
            && let Some(rv) = meta.metadata.resource_version.as_deref()
            && let Some(key) = ctx.memory.cached_key(namespace, &r.name, &r.key, rv)
        {
            return Ok((key, meta.metadata.clone()));
        }
    } else if let Some(key) = ctx
        .memory
        .fresh_key(namespace, &r.name, &r.key, ctx.config.secret_cache_ttl)
    {
        let meta = ObjectMeta {
            namespace: Some(namespace.to_string()),
            name: Some(r.name.clone()),
            ..Default::default()
        };
        return Ok((key, meta));
    }
    ctx.metrics.secret_reads.inc();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = secrets
        .get_opt(&r.name)
        .await
        .map_err(|source| CredentialsError::Kube {
            namespace: namespace.to_string(),
            name: r.name.clone(),
            source,
        })?
        .ok_or_else(|| CredentialsError::SecretNotFound {
            namespace: namespace.to_string(),
            name: r.name.clone(),
        })?;
    let key = key_from_secret(&secret, namespace, &r.name, &r.key)?;
    if !ctx.config.secret_protection {
        ctx.memory.prune_stale_keys(ctx.config.secret_cache_ttl);
    }
    if let Some(rv) = secret.metadata.resource_version.clone() {
        ctx.memory
            .remember_key(namespace, &r.name, &r.key, rv, key.clone());
    }
    Ok((key, secret.metadata))
}

/// Take `key` out of a Secret's `data` (or `stringData`, as some tools leave it).
pub fn key_from_secret(
    secret: &Secret,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretKey, CredentialsError> {
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| CredentialsError::KeyNotFound {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
        })?;
    match String::from_utf8(raw) {
        Ok(s) if !s.trim().is_empty() => Ok(SecretKey::new(s)),
        _ => Err(CredentialsError::KeyInvalid {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
        }),
    }
}

/// How soon to look again at a failure that only a Secret's creation or change fixes, when
/// nothing watches Secrets (without Secret protection): after the key cache's TTL, instead of
/// the slow recheck of other terminal failures. `None` for other reasons, or with the watch
/// (the change itself wakes the object).
pub(crate) fn secret_recheck(
    ctx: &super::Context,
    reason: super::reason::Reason,
) -> Option<std::time::Duration> {
    use super::reason::Reason;
    let fixed_by_secret = matches!(reason, Reason::SecretNotFound | Reason::CredentialsNotFound);
    (fixed_by_secret && !ctx.config.secret_protection).then_some(ctx.config.secret_cache_ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(key: &str, value: &[u8]) -> Secret {
        Secret {
            data: Some(BTreeMap::from([(key.to_string(), ByteString(value.to_vec()))])),
            ..Default::default()
        }
    }

    #[test]
    fn reads_and_trims_the_key() {
        let k = key_from_secret(&secret("k", b"sk_live_abc\n"), "ns", "s", "k").unwrap();
        assert_eq!(k.expose(), "sk_live_abc");
    }

    #[test]
    fn missing_empty_and_binary_keys_are_explained_without_values() {
        let e = key_from_secret(&secret("other", b"sk_live_abc"), "ns", "s", "k").unwrap_err();
        assert!(matches!(e, CredentialsError::KeyNotFound { .. }));
        assert_eq!(e.reason(), Reason::CredentialsNotFound);
        assert!(e.to_string().contains("ns/s") && !e.to_string().contains("sk_live"));
        let e = key_from_secret(&secret("k", b"  \n"), "ns", "s", "k").unwrap_err();
        assert!(matches!(e, CredentialsError::KeyInvalid { .. }));
        let e = key_from_secret(&secret("k", &[0xff, 0xfe]), "ns", "s", "k").unwrap_err();
        assert!(matches!(e, CredentialsError::KeyInvalid { .. }));
    }
}
