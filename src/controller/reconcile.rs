//! The entry point of one reconcile: the finalizer decides between [`apply`](super::apply) and
//! [`cleanup`](super::cleanup); a panic is contained and reported; errors get backoff.

use super::backoff::{self, Retry};
use super::steps::key;
use super::{Context, Error, apply, cleanup, events};
use crate::api::{ClerkDomain, FINALIZER};
use futures::FutureExt;
use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use std::sync::Arc;

/// Reconcile one ClerkDomain.
pub async fn reconcile(obj: Arc<ClerkDomain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let object = key(obj.as_ref());
    let result = match contain(reconcile_inner(obj.clone(), &ctx)).await {
        Ok(r) => r,
        Err(what) => Err(contained(&obj, &ctx, what).await),
    };
    // `failure`: handled and reported in status (e.g. Clerk refused); `error`: the reconcile
    // itself failed (e.g. a Kubernetes API error) and goes to the error policy.
    let label = match &result {
        Ok(_) if ctx.memory.is_failing(&object) => "failure",
        Ok(_) => "success",
        Err(_) => "error",
    };
    let labels = crate::metrics::ResultLabels { result: label };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Run `fut`, turning a panic inside it into `Err` with the panic's message.
async fn contain<F: std::future::Future>(fut: F) -> Result<F::Output, String> {
    std::panic::AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into())
        })
}

/// A panic inside one reconcile: logged, reported as an Event, retried with backoff; the
/// process and every other object go on.
async fn contained(obj: &ClerkDomain, ctx: &Context, what: String) -> Error {
    tracing::error!(object = %key(obj), panic = %what, "reconcile panicked; contained");
    ctx.metrics.reconcile_panics.inc();
    let note = format!("the operator hit an internal error on this object and will retry: {what}");
    events::warning(ctx, obj, "InternalError", "Reconcile", note).await;
    Error::Panicked(what)
}

async fn reconcile_inner(obj: Arc<ClerkDomain>, ctx: &Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<ClerkDomain> = Api::namespaced(ctx.client.clone(), &ns);
    let adding =
        obj.metadata.deletion_timestamp.is_none() && !obj.finalizers().iter().any(|f| f == FINALIZER);
    let action = finalizer(&api, FINALIZER, obj.clone(), |event| async {
        match event {
            Finalizer::Apply(obj) => apply::apply(&obj, ctx).await,
            Finalizer::Cleanup(obj) => cleanup::cleanup(&obj, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    if !adding {
        return Ok(action);
    }
    // The finalizer is on now (the helper only adds it): apply in this same reconcile, since
    // adding the operator's own finalizer asks for no other (see `watch::asks_for_work`).
    let mut with = (*obj).clone();
    with.finalizers_mut().push(FINALIZER.to_string());
    apply::apply(&with, ctx).await
}

/// Retry delay for errors that ended a reconcile (Kubernetes API errors, unfinished cleanup).
pub fn error_policy(obj: Arc<ClerkDomain>, err: &Error, ctx: Arc<Context>) -> Action {
    let attempt = ctx.memory.note_failure(&key(obj.as_ref()));
    let retry = err.retry();
    let mut delay = backoff::delay(retry, attempt, rand::random());
    if retry == Retry::Terminal {
        delay = delay.min(backoff::TERMINAL_RECHECK);
    }
    tracing::warn!(object = %key(obj.as_ref()), error = %err, attempt, retry_in_secs = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_contained_with_its_message() {
        let boom = async {
            let v: Vec<u8> = vec![];
            #[allow(clippy::indexing_slicing)]
            v[3]
        };
        let err = contain(boom).await.unwrap_err();
        assert!(err.contains("index out of bounds"), "{err}");
        assert_eq!(contain(async { 7 }).await, Ok(7));
        let formatted = contain(async { panic!("bad {}", "data") }).await;
        assert_eq!(formatted, Err::<(), _>("bad data".to_string()));
    }
}
