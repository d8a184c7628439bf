//! Start-up gate: the controllers start only once the API server serves the TweetPipeline version
//! this build reads and writes. An operator upgraded before its CRD (Helm never upgrades `crds/`)
//! would otherwise only repeat watch errors; this says what to do, and keeps saying it until the
//! CRD is applied, while probes and the webhook keep serving.

use std::time::Duration;

use kube::api::ListParams;
use kube::{Api, Resource};
use tracing::{error, info, warn};
use tweetpipe_common::backoff::Backoff;

use crate::crd::TweetPipeline;

/// Bound of one probing request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What an operator facing a CRD without its version tells the user to do.
pub fn missing_version_message() -> String {
    format!(
        "the API server does not serve {} TweetPipelines: this operator needs this release's CRD. \
         Apply it first (Helm never upgrades CRDs): kubectl apply --server-side --force-conflicts \
         -f crds/tweetpipe.io_tweetpipelines.yaml",
        TweetPipeline::api_version(&())
    )
}

/// Returns once listing TweetPipelines through `api` (one controller's scope, `namespace` in the
/// logs) succeeds, retrying with backoff and a log line per failure.
pub async fn wait_until_served(api: &Api<TweetPipeline>, namespace: Option<&str>) {
    let scope = namespace.unwrap_or("*");
    let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
    let one = ListParams::default().limit(1);
    loop {
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, api.list_metadata(&one)).await;
        if matches!(outcome, Ok(Ok(_))) {
            if backoff.failures() > 0 {
                info!(namespace = scope, "the TweetPipeline CRD is served now");
            }
            return;
        }
        let retry_in = backoff.next_delay();
        match outcome {
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => error!(
                namespace = scope,
                retry_in_seconds = retry_in.as_secs(),
                "{}",
                missing_version_message()
            ),
            Ok(Err(e)) => warn!(
                namespace = scope,
                error = %e,
                retry_in_seconds = retry_in.as_secs(),
                "listing TweetPipelines failed; retrying before the controller starts"
            ),
            _ => warn!(
                namespace = scope,
                timeout_seconds = PROBE_TIMEOUT.as_secs(),
                retry_in_seconds = retry_in.as_secs(),
                "listing TweetPipelines got no answer within the timeout; retrying before the controller starts"
            ),
        }
        tokio::time::sleep(retry_in).await;
    }
}

#[cfg(test)]
mod tests {
    use http::{Request, Response};
    use kube::client::Body;

    use super::*;

    /// Against a mock API server: a 404 (the CRD without this version) is retried, and the gate
    /// opens at the first successful list.
    #[tokio::test]
    async fn a_missing_version_is_retried_until_the_crd_serves_it() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = Api::namespaced(kube::Client::new(service, "default"), "tweets");
        let gate = tokio::spawn(async move { wait_until_served(&api, Some("tweets")).await });
        let not_found = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server could not find the requested resource",
            "reason": "NotFound", "code": 404
        });
        let empty = serde_json::json!({
            "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
            "metadata": {}, "items": []
        });
        for (status, body) in [(404, not_found), (200, empty)] {
            let (request, send) =
                tokio::time::timeout(Duration::from_secs(10), handle.next_request())
                    .await
                    .expect("the gate asks again within its backoff")
                    .expect("a request");
            assert_eq!(
                request.uri().path(),
                "/apis/tweetpipe.io/v1beta1/namespaces/tweets/tweetpipelines"
            );
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
                    .expect("response"),
            );
        }
        tokio::time::timeout(Duration::from_secs(5), gate)
            .await
            .expect("the gate opens after a successful list")
            .expect("the gate task");
    }

    #[test]
    fn the_message_names_the_version_and_the_command() {
        let message = missing_version_message();
        assert!(message.contains("tweetpipe.io/v1beta1"), "{message}");
        assert!(
            message.contains("kubectl apply --server-side --force-conflicts -f crds/tweetpipe.io_tweetpipelines.yaml"),
            "{message}"
        );
    }
}
