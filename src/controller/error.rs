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
    Cleanup { reason: String, message: String },
}
