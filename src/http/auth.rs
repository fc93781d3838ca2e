//! Kubernetes authentication and authorization of `/metrics`, as controller-runtime's secure
//! metrics filter (`WithAuthenticationAndAuthorization`) does it: the caller's bearer token is
//! reviewed by the API server (TokenReview), and the user it names must be allowed `get` on the
//! non-resource URL `/metrics` (SubjectAccessReview). No token, or one the API server does not
//! accept: 401; a user without that permission: 403; the API server not answering: 503. The
//! operator's identity needs `create` on `tokenreviews` and `subjectaccessreviews`. The token is
//! never logged nor kept: verdicts are remembered by the token's SHA-256, an allowed caller for
//! [`ALLOW_TTL`], any other for [`DENY_TTL`] (as controller-runtime's filter caches them), so a
//! scrape every few seconds does not cost two API requests each time.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an allowed caller's verdict is reused.
pub const ALLOW_TTL: Duration = Duration::from_secs(60);
/// How long a refused caller's verdict is reused.
pub const DENY_TTL: Duration = Duration::from_secs(10);
/// Verdicts kept at most; the oldest half goes beyond it.
const CACHE_MAX: usize = 1024;

/// Recent verdicts by SHA-256 of path and token, with when they were given.
type Seen = HashMap<[u8; 32], (Verdict, Instant)>;

/// Reviews callers through the API server (`client`), remembering recent verdicts.
#[derive(Clone)]
pub struct Reviewer {
    client: kube::Client,
    seen: Arc<Mutex<Seen>>,
}

impl Reviewer {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            seen: Arc::default(),
        }
    }

    /// The verdict on `token` for `path`: remembered, or asked.
    async fn verdict(&self, token: &str, path: &str) -> Result<Verdict, kube::Error> {
        let mut key = [0u8; 32];
        let digest = ring::digest::digest(&ring::digest::SHA256, format!("{path}\n{token}").as_bytes());
        key.copy_from_slice(digest.as_ref());
        let now = Instant::now();
        {
            let seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((v, at)) = seen.get(&key) {
                let ttl = if matches!(v, Verdict::Allowed) {
                    ALLOW_TTL
                } else {
                    DENY_TTL
                };
                if now.duration_since(*at) < ttl {
                    return Ok(v.clone());
                }
            }
        }
        let v = allowed(&self.client, token, path).await?;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= CACHE_MAX {
            let mut ages: Vec<Instant> = seen.values().map(|(_, at)| *at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            seen.retain(|_, (_, at)| *at > cut);
        }
        seen.insert(key, (v.clone(), now));
        Ok(v)
    }
}

/// The middleware: pass the request on only for an authenticated and authorized caller.
pub async fn require(State(reviewer): State<Reviewer>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return (
            StatusCode::UNAUTHORIZED,
            "Unauthorized: a bearer token is required\n",
        )
            .into_response();
    };
    let path = req.uri().path().to_string();
    match reviewer.verdict(token, &path).await {
        Ok(Verdict::Allowed) => next.run(req).await,
        Ok(Verdict::Unauthenticated) => (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response(),
        Ok(Verdict::Forbidden(user)) => (
            StatusCode::FORBIDDEN,
            format!("Forbidden: user {user:?} may not get {path}\n"),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "could not review a /metrics caller");
            (StatusCode::SERVICE_UNAVAILABLE, "authorization failed\n").into_response()
        }
    }
}

/// What the API server says of a caller.
#[derive(Clone)]
enum Verdict {
    Allowed,
    Unauthenticated,
    Forbidden(String),
}

/// Review `token`, then ask whether its user may `get` the non-resource URL `path`.
async fn allowed(client: &kube::Client, token: &str, path: &str) -> Result<Verdict, kube::Error> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_string(),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviewed = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    let status = reviewed.status.unwrap_or_default();
    let user = match (status.authenticated, status.user) {
        (Some(true), Some(user)) => user,
        _ => return Ok(Verdict::Unauthenticated),
    };
    let access = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &access_review(&user, path))
        .await?;
    let name = user.username.unwrap_or_default();
    Ok(match access.status.is_some_and(|s| s.allowed) {
        true => Verdict::Allowed,
        false => Verdict::Forbidden(name),
    })
}

/// "May `user` get `path`?"
fn access_review(user: &UserInfo, path: &str) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(path.to_string()),
                verb: Some("get".into()),
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}
