//! Kubernetes authentication and authorization of `/metrics`, as controller-runtime's secure
//! metrics filter (`WithAuthenticationAndAuthorization`) does it: the caller's bearer token is
//! reviewed by the API server (TokenReview), and the user it names must be allowed `get` on the
//! non-resource URL `/metrics` (SubjectAccessReview). No token, or one the API server does not
//! accept: 401; a user without that permission: 403; the API server not answering: 503. The
//! operator's identity needs `create` on `tokenreviews` and `subjectaccessreviews`. The token is
//! never logged.

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

/// The middleware: pass the request on only for an authenticated and authorized caller.
pub async fn require(State(client): State<kube::Client>, req: Request, next: Next) -> Response {
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
    match allowed(&client, token, &path).await {
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
