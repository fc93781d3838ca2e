use super::backoff::Retry;
use super::reason::Reason;

/// Errors that end a reconcile early; the controller retries them through `error_policy`.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// A Kubernetes API call failed (status write, finalizer, Secret read).
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer failed, or the apply/cleanup step failed.
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// Cleanup could not finish yet; the finalizer stays.
    #[error("cleanup not finished: {reason}: {message}")]
    Cleanup {
        reason: Reason,
        message: String,
        retry: Retry,
    },
    /// The reconcile panicked; the panic was contained.
    #[error("internal error (contained panic): {0}")]
    Panicked(String),
}

impl Error {
    /// How the error policy retries: cleanup failures by their reason, the rest with backoff.
    pub(crate) fn retry(&self) -> Retry {
        match self {
            Error::Cleanup { retry, .. } => *retry,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::CleanupFailed(e)
                | kube::runtime::finalizer::Error::ApplyFailed(e) => e.retry(),
                _ => Retry::Transient { after: None },
            },
            _ => Retry::Transient { after: None },
        }
    }
}
