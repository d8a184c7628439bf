//! The operator's two Kubernetes clients, each with a deadline on every read.
//!
//! kube's default client has no read timeout and retries 429/503/504 answers itself, silently, up
//! to 15 times with a backoff that can add up to minutes: a reconcile stuck in one API call looks
//! like an operator that went quiet. Here nothing is retried below the reconcile (whose error
//! policy logs, posts a Warning event, counts the error and backs off with jitter), and:
//! - **requests** (get, apply, status, events, Lease) fail after `api_timeout` without an answer;
//! - **watches** stay open for minutes by design, so their read timeout is longer than the API
//!   server's watch timeout (kube-runtime asks for 290 s) and bookmark interval, and the watcher
//!   re-lists with backoff when one fails.

use std::time::Duration;

use kube::{Client, Config};
use thiserror::Error;

/// Longest silence a healthy watch can have: kube-runtime's watch request lasts at most 290 s
/// and the API server sends bookmarks about once a minute within it.
pub const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// Clients for requests and for watches.
#[derive(Clone)]
pub struct KubeClients {
    /// Every request/response call: bounded by the API timeout, never retried silently.
    pub requests: Client,
    /// Long-lived watches.
    pub watches: Client,
}

/// No usable client configuration.
#[derive(Debug, Error)]
pub enum KubeClientError {
    /// Neither in-cluster nor KUBECONFIG configuration was found or readable.
    #[error("no Kubernetes client configuration (in-cluster or KUBECONFIG): {0}")]
    Config(#[from] kube::config::InferConfigError),
    /// The client could not be built from it (TLS, auth plugin).
    #[error("building the Kubernetes client failed: {0}")]
    Client(#[from] kube::Error),
}

/// The request and watch configurations derived from one inferred configuration (pure, tested).
pub fn configs(base: Config, api_timeout: Duration) -> (Config, Config) {
    let mut requests = base;
    requests.default_retry = false;
    requests.connect_timeout = Some(api_timeout);
    requests.read_timeout = Some(api_timeout);
    requests.write_timeout = Some(api_timeout);
    // The timeout counts from when a request was written, not from when its pooled connection
    // went idle.
    requests.reset_reader_on_write = true;
    let mut watches = requests.clone();
    watches.read_timeout = Some(WATCH_READ_TIMEOUT.max(api_timeout));
    (requests, watches)
}

/// Both clients from the environment (in-cluster, else KUBECONFIG).
pub async fn infer(api_timeout: Duration) -> Result<KubeClients, KubeClientError> {
    let (requests, watches) = configs(Config::infer().await?, api_timeout);
    Ok(KubeClients {
        requests: Client::try_from(requests)?,
        watches: Client::try_from(watches)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_bounded_and_never_retried_silently_and_watches_outlive_the_watch_timeout() {
        let base = Config::new("https://127.0.0.1:6443".parse().expect("uri"));
        assert!(
            base.read_timeout.is_none() && base.default_retry,
            "kube's defaults"
        );
        let (requests, watches) = configs(base, Duration::from_secs(20));
        assert_eq!(requests.read_timeout, Some(Duration::from_secs(20)));
        assert_eq!(requests.connect_timeout, Some(Duration::from_secs(20)));
        assert!(!requests.default_retry && !watches.default_retry);
        assert!(requests.reset_reader_on_write);
        assert_eq!(watches.read_timeout, Some(WATCH_READ_TIMEOUT));
        assert!(WATCH_READ_TIMEOUT > Duration::from_secs(290));
    }
}
