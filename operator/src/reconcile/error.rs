//! Reconcile failures, typed by the step that failed, with their sources kept. Dependency
//! outages (Kafka, MySQL, a missing Secret) are not errors: they become conditions. These are
//! failures to talk to Kubernetes itself, shown to users as Warning events and counted by kind.

use thiserror::Error;

/// What went wrong in one reconcile.
#[derive(Debug, Error)]
pub enum Error {
    /// Reading the world (workloads, Secrets) from the Kubernetes API failed.
    #[error("reading {what} from the Kubernetes API failed: {source}")]
    Observe {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// A worker config did not serialize (a bug: the types are ours).
    #[error("rendering the worker configs failed: {0}")]
    Build(#[from] serde_json::Error),
    /// A server-side apply was refused.
    #[error("applying {kind} {name} failed: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Writing the status failed.
    #[error("writing the status failed: {0}")]
    Status(#[source] kube::Error),
    /// Adding or removing a finalizer (on the pipeline or a Secret it uses) failed.
    #[error("updating the finalizer of {what} failed: {source}")]
    Finalizer {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The object has no namespace (the CRD is namespaced, so this is a bug upstream).
    #[error("the object has no namespace")]
    NoNamespace,
    /// The reconcile did not finish within its overall deadline (every call inside has a shorter
    /// bound, so this names a step that waited on something without one).
    #[error("the reconcile did not finish within {deadline:?}: it was still in step {step:?}")]
    Timeout {
        step: &'static str,
        deadline: std::time::Duration,
    },
}

impl Error {
    /// Metric label and event reason suffix: one per step.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Observe { .. } => "observe",
            Error::Build(_) => "build",
            Error::Apply { .. } => "apply",
            Error::Status(_) => "status",
            Error::Finalizer { .. } => "finalizer",
            Error::NoNamespace => "no_namespace",
            Error::Timeout { .. } => "timeout",
        }
    }

    /// Event reason shown on the object.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Observe { .. } => "ObserveFailed",
            Error::Build(_) => "BuildFailed",
            Error::Apply { .. } => "ApplyFailed",
            Error::Status(_) => "StatusWriteFailed",
            Error::Finalizer { .. } => "FinalizerFailed",
            Error::NoNamespace => "NoNamespace",
            Error::Timeout { .. } => "ReconcileTimedOut",
        }
    }
}
