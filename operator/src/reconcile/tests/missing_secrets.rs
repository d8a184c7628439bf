//! A pipeline whose Secrets do not exist: the finalizer comes first, the workloads are only
//! read, the status says which Secret is missing, and an unchanged status is not written again.

use http::{Method, StatusCode};
use serde_json::json;

use super::{condition, expect_condition_events, not_ready, reconcile_expecting};
use crate::crd::{FINALIZER, TweetPipeline, TweetPipelineStatus};
use crate::reconcile::error::Error;
use crate::test_support::mock_api::{
    MockApi, PIPELINE_PATH, PipelineBuilder, World, status_body, verified, verify,
};

/// The status of a pipeline none of whose Secrets exist.
fn assert_secret_missing(status: &TweetPipelineStatus) {
    assert_eq!(status.observed_generation, Some(3));
    for type_ in ["SecretsResolved", "Ready"] {
        let c = condition(status, type_);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "SecretMissing"),
            "{type_}: {c:?}"
        );
        assert!(
            c.message.contains(r#"Secret "x-token-a""#),
            "{type_} names the first missing Secret: {}",
            c.message
        );
        assert_eq!(c.observed_generation, Some(3), "{type_}");
    }
}

/// The missing-Secrets reconcile after the finalizer: the workloads are read (never written), the
/// status is patched, the events are posted. Returns the status sent.
async fn expect_missing_secrets_pass(api: &mut MockApi, tp: &TweetPipeline) -> TweetPipelineStatus {
    api.expect_workload_reads_absent().await;
    let status = api.expect_status_patch(tp).await;
    assert_secret_missing(&status);
    let posted = expect_condition_events(api, &status).await;
    // The SecretMissing Warning names the Secret.
    let (_, missing_note, missing_count) = posted
        .get(&("Warning", "SecretMissing".to_string()))
        .expect("a SecretMissing Warning was posted");
    let note = missing_note.as_str().unwrap_or_default();
    assert!(note.contains(r#"Secret "x-token-a""#), "{note}");
    // SecretsResolved and Ready both say SecretMissing: one event, counted twice.
    assert_eq!(*missing_count, 2);
    status
}

/// [`expect_missing_secrets_pass`], and then no other request.
async fn expect_only_missing_secrets_pass(mut api: MockApi, tp: &TweetPipeline) {
    expect_missing_secrets_pass(&mut api, tp).await;
    api.expect_no_more().await;
}

#[tokio::test]
async fn a_new_pipeline_gets_its_finalizer_first() {
    let (world, api) = World::new().start();
    let tp = PipelineBuilder::new().build();
    let finalized = PipelineBuilder::new().finalized().build();
    let verifier = verify(api, move |mut api| async move {
        let patch = api.expect_pipeline_finalizer_patch(&finalized).await;
        // A merge patch of the whole list, guarded by the resource version it was read at.
        assert_eq!(
            patch,
            json!({"metadata": {"resourceVersion": "41", "finalizers": [FINALIZER]}})
        );
        expect_only_missing_secrets_pass(api, &finalized).await;
    });
    reconcile_expecting(world, &tp, verifier, not_ready).await;
}

#[tokio::test]
async fn a_refused_finalizer_patch_ends_the_reconcile() {
    let (world, api) = World::new().start();
    let tp = PipelineBuilder::new().build();
    let verifier = verify(api, |mut api| async move {
        let patch = api
            .expect(
                Method::PATCH,
                PIPELINE_PATH,
                "the pipeline's finalizer patch",
            )
            .await;
        patch.respond(StatusCode::CONFLICT, &status_body(409, "Conflict"));
        api.expect_no_more().await;
    });
    let result = world.reconcile(&tp).await;
    drop(world);
    verified(verifier).await;
    assert!(
        matches!(&result, Err(Error::Finalizer { source: kube::Error::Api(s), .. }) if s.code == 409),
        "{result:?}"
    );
}

#[tokio::test]
async fn missing_secrets_are_reported_and_nothing_is_applied() {
    let (world, api) = World::new().start();
    let tp = PipelineBuilder::new().finalized().build();
    let answer = tp.clone();
    let verifier = verify(api, move |api| async move {
        // Workloads read (never written: no apply, no scale), status patched, events posted;
        // the Kafka and MySQL steps skipped (the schema owner is never called, asserted below).
        expect_only_missing_secrets_pass(api, &answer).await;
    });
    reconcile_expecting(world, &tp, verifier, not_ready).await;
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let (world, api) = World::new().start();
    let tp = PipelineBuilder::new().finalized().build();
    let answer = tp.clone();
    let (written_tx, written_rx) = tokio::sync::oneshot::channel();
    let verifier = verify(api, move |mut api| async move {
        let status = expect_missing_secrets_pass(&mut api, &answer).await;
        let _ = written_tx.send(status);
        // The second reconcile, with that status on the object: the workloads are read again,
        // and then nothing: no status patch, no events (no condition changed).
        api.expect_workload_reads_absent().await;
        api.expect_no_more().await;
    });
    assert!(world.reconcile(&tp).await.is_ok());
    let second = world.reconcile_with_written_status(written_rx).await;
    drop(world);
    verified(verifier).await;
    assert!(second.is_ok(), "{second:?}");
}
