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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Api;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A stand-in API server on loopback: it counts requests and answers each with `answer`, or
    /// never answers at all when `answer` is `None` (a hung connection).
    async fn api_server(answer: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let mut buffer = vec![0_u8; 16 * 1024];
                    loop {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {
                                counted.fetch_add(1, Ordering::SeqCst);
                                match answer {
                                    Some(text) => {
                                        let _ = socket.write_all(text.as_bytes()).await;
                                    }
                                    None => std::future::pending::<()>().await,
                                }
                            }
                        }
                    }
                });
            }
        });
        (url, requests)
    }

    fn client(config: Config) -> Api<ConfigMap> {
        Api::namespaced(Client::try_from(config).expect("client"), "default")
    }

    const TOO_MANY: &str = concat!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: 122\r\n\r\n",
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests","reason":"TooManyRequests","code":429}"#
    );

    /// The failure first: kube's default client waits for ever on an API server that stops
    /// answering; ours gives up after the API timeout with an error the reconcile reports.
    #[tokio::test]
    async fn a_request_to_an_api_server_that_never_answers_fails_after_the_timeout() {
        let (url, _) = api_server(None).await;
        let base = Config::new(url.parse().expect("uri"));
        let default = client(base.clone());
        let waited = tokio::time::timeout(Duration::from_secs(3), default.get_opt("x")).await;
        assert!(
            waited.is_err(),
            "kube's default client should still be waiting after 3 s (no read timeout)"
        );
        let (requests, _) = configs(base, Duration::from_secs(1));
        let bounded = client(requests);
        let answer = tokio::time::timeout(Duration::from_secs(10), bounded.get_opt("x"))
            .await
            .expect("the API timeout ends the request, not this test's bound");
        assert!(answer.is_err(), "a hung request is an error: {answer:?}");
    }

    /// The failure first: kube's default client retries a 429 by itself without a word; ours
    /// sends the request once and hands the 429 to the reconcile's error policy.
    #[tokio::test]
    async fn a_429_is_returned_to_the_reconcile_not_retried_silently() {
        let (url, counted) = api_server(Some(TOO_MANY)).await;
        let base = Config::new(url.parse().expect("uri"));
        let default = client(base.clone());
        let _ = tokio::time::timeout(Duration::from_secs(2), default.get_opt("x")).await;
        let silent_retries = counted.swap(0, Ordering::SeqCst);
        assert!(
            silent_retries > 1,
            "kube's default client retries 429s itself ({silent_retries} requests seen)"
        );
        let (requests, _) = configs(base, Duration::from_secs(5));
        let answer = client(requests).get_opt("x").await;
        assert!(
            matches!(&answer, Err(kube::Error::Api(status)) if status.code == 429),
            "{answer:?}"
        );
        assert_eq!(counted.load(Ordering::SeqCst), 1, "sent exactly once");
    }

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
