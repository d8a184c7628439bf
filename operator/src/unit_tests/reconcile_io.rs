//! One reconcile's I/O against a mock API server ([`super::mock_api`]): which requests it sends,
//! in which order, with which bodies; and that it sends nothing else. Only paths that do not reach
//! Kafka or MySQL (the dependency step needs fakes for those; see issue 22).

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::mock_api::{
    MockApi, PIPELINE_PATH, PipelineBuilder, Started, World, secret, status_body, verified, verify,
};
use crate::crd::{Condition, DeletionPolicy, FINALIZER, TweetPipeline, TweetPipelineStatus};
use crate::decide::events::{Severity, condition_events};
use crate::reconcile::error::Error;
use crate::reconcile::finalizers::SECRET_FINALIZER;

fn condition<'a>(status: &'a TweetPipelineStatus, type_: &str) -> &'a Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", status.conditions))
}

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

/// After the status patch of a first reconcile: the events of the new conditions (each is new,
/// so each has one; which and what they say is `decide::events`' business, tested there), in the
/// conditions' order. The I/O asserted here: a first event of a (type, reason) is a POST; a later
/// one with the same type and reason is folded by kube's recorder into the first (a PATCH of that
/// event's series count, which keeps the first event's note). The SecretMissing Warning names the
/// Secret.
async fn expect_condition_events(api: &mut MockApi, status: &TweetPipelineStatus) {
    let specs = condition_events(&[], &status.conditions);
    assert_eq!(
        specs.len(),
        status.conditions.len(),
        "one event per new condition"
    );
    // (type, reason) -> (name of the event posted, its note, times seen)
    let mut posted: BTreeMap<(&str, String), (String, Value, i64)> = BTreeMap::new();
    for spec in &specs {
        let type_ = match spec.severity {
            Severity::Normal => "Normal",
            Severity::Warning => "Warning",
        };
        let waiting_for = format!("the {type_} event {}", spec.reason);
        let key = (type_, spec.reason.clone());
        let event = match posted.get_mut(&key) {
            None => {
                let event = api.expect_event(&waiting_for).await;
                assert_eq!(event["note"], json!(spec.note), "{event}");
                assert!(event.get("series").is_none(), "{event}");
                let name = event["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                posted.insert(key, (name, event["note"].clone(), 1));
                event
            }
            Some((name, first_note, count)) => {
                let event = api.expect_event_repeat(name, &waiting_for).await;
                *count += 1;
                assert_eq!(event["series"]["count"], json!(*count), "{event}");
                assert_eq!(&event["note"], first_note, "a repeat keeps the first note");
                event
            }
        };
        assert_eq!(event["type"], json!(type_), "{event}");
        assert_eq!(event["reason"], json!(spec.reason), "{event}");
        assert_eq!(event["action"], json!("Reconcile"));
        assert_eq!(event["regarding"]["kind"], json!("TweetPipeline"));
        assert_eq!(event["regarding"]["name"], json!("covid19"));
        assert_eq!(event["regarding"]["namespace"], json!("tweets"));
    }
    let (_, missing_note, missing_count) = posted
        .get(&("Warning", "SecretMissing".to_string()))
        .expect("a SecretMissing Warning was posted");
    let note = missing_note.as_str().unwrap_or_default();
    assert!(note.contains(r#"Secret "x-token-a""#), "{note}");
    // SecretsResolved and Ready both say SecretMissing: one event, counted twice.
    assert_eq!(*missing_count, 2);
}

/// The missing-Secrets reconcile after the finalizer: the workloads are read (never written), the
/// status is patched, the events are posted. Returns the status sent.
async fn expect_missing_secrets_pass(api: &mut MockApi, tp: &TweetPipeline) -> TweetPipelineStatus {
    api.expect_workload_reads_absent().await;
    let status = api.expect_status_patch(tp).await;
    assert_secret_missing(&status);
    expect_condition_events(api, &status).await;
    status
}

/// [`expect_missing_secrets_pass`], and then no other request.
async fn expect_only_missing_secrets_pass(mut api: MockApi, tp: &TweetPipeline) {
    expect_missing_secrets_pass(&mut api, tp).await;
    api.expect_no_more().await;
}

/// The pods list of deletion's `stop_workers`, answered with `pods` worker pods.
async fn expect_worker_stop(api: &mut MockApi, pods: usize) {
    for (path, what) in [
        (
            "/apis/apps/v1/namespaces/tweets/statefulsets/covid19-extractor",
            "the extractor StatefulSet's deletion",
        ),
        (
            "/apis/apps/v1/namespaces/tweets/deployments/covid19-transformer",
            "the transformer Deployment's deletion",
        ),
    ] {
        let delete = api.expect(Method::DELETE, path, what).await;
        assert_eq!(
            delete.body["propagationPolicy"],
            json!("Background"),
            "{what}"
        );
        delete.not_found();
    }
    let list = api
        .expect(
            Method::GET,
            "/api/v1/namespaces/tweets/pods",
            "the worker pods' list",
        )
        .await;
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("tweetpipe.io%2Fpipeline%3Dcovid19")
    );
    let items: Vec<Value> = (0..pods)
        .map(|i| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("covid19-extractor-{i}"), "namespace": "tweets"}}))
        .collect();
    list.ok(&json!({
        "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
        "metadata": {}, "items": items
    }));
}

/// One reconcile of `tp` that must end with `expected` (given the settings) without the schema
/// owner being called, the verifier's script done.
async fn reconcile_expecting(
    world: Started,
    tp: &TweetPipeline,
    verifier: tokio::task::JoinHandle<()>,
    expected: impl FnOnce(&crate::settings::Settings) -> Action,
) {
    let action = world.reconcile(tp).await;
    let expected = expected(&world.shared.ctx.settings);
    assert_eq!(world.schema.calls(), Vec::<&str>::new(), "MySQL was asked");
    drop(world);
    verified(verifier).await;
    assert_eq!(action.ok(), Some(expected));
}

/// Requeued as not ready.
fn not_ready(settings: &crate::settings::Settings) -> Action {
    Action::requeue(settings.requeue_not_ready)
}

/// Done: nothing to come back for.
fn done(_: &crate::settings::Settings) -> Action {
    Action::await_change()
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
    let written = tokio::time::timeout(std::time::Duration::from_secs(5), written_rx)
        .await
        .expect("the verifier hands over the status of the first reconcile")
        .expect("the verifier saw the status patch");
    let again = PipelineBuilder::new()
        .finalized()
        .with_status(written)
        .build();
    let second = world.reconcile(&again).await;
    drop(world);
    verified(verifier).await;
    assert!(second.is_ok(), "{second:?}");
}

#[tokio::test]
async fn deletion_under_retain_only_releases_the_finalizer() {
    let (world, api) = World::new().secret(secret("mysql-admin", &[])).start();
    let tp = PipelineBuilder::new()
        .with_finalizer("example.com/keep")
        .finalized()
        .policy(DeletionPolicy::Retain)
        .deleting()
        .build();
    let mut released = tp.clone();
    released.metadata.finalizers = Some(vec!["example.com/keep".into()]);
    let verifier = verify(api, move |mut api| async move {
        // Nothing deleted (no workload, topic or database): the workloads go with the pipeline
        // through garbage collection. Only the operator's finalizer is taken off, others kept.
        let patch = api.expect_pipeline_finalizer_patch(&released).await;
        assert_eq!(
            patch,
            json!({"metadata": {"resourceVersion": "41", "finalizers": ["example.com/keep"]}})
        );
        api.expect_no_more().await;
    });
    reconcile_expecting(world, &tp, verifier, done).await;
}

#[tokio::test]
async fn deletion_under_delete_with_missing_secrets_gives_up_at_once() {
    let tp = PipelineBuilder::new()
        .finalized()
        .policy(DeletionPolicy::Delete)
        .deleting()
        .build();
    // The Secret the operator kept for this cleanup is there; the token Secrets are not. The
    // pipeline is in the controller's cache: its own cleanup must not count it as still needing
    // the Secret.
    let (world, api) = World::new()
        .secret(secret("mysql-reporting", &[SECRET_FINALIZER]))
        .pipeline(&tp)
        .start();
    let mut released = tp.clone();
    released.metadata.finalizers = Some(Vec::new());
    let verifier = verify(api, move |mut api| async move {
        expect_worker_stop(&mut api, 0).await;
        // Kafka and MySQL cannot be reached without the Secrets: the cleanup does not retry
        // until its deadline, it finishes now and says what it left behind.
        let event = api.expect_event("the CleanupIncomplete event").await;
        assert_eq!(event["type"], json!("Warning"), "{event}");
        assert_eq!(event["reason"], json!("CleanupIncomplete"), "{event}");
        let note = event["note"].as_str().unwrap_or_default();
        assert!(
            note.contains("topics and database not deleted")
                && note.contains(r#"Secret "x-token-a""#),
            "{note}"
        );
        let secret_patch = api
            .expect(
                Method::PATCH,
                "/api/v1/namespaces/tweets/secrets/mysql-reporting",
                "the Secret's finalizer release",
            )
            .await;
        assert_eq!(
            secret_patch.body,
            json!({"metadata": {"resourceVersion": "7", "finalizers": []}})
        );
        secret_patch.ok(&serde_json::to_value(secret("mysql-reporting", &[])).expect("serialises"));
        let patch = api.expect_pipeline_finalizer_patch(&released).await;
        assert_eq!(
            patch,
            json!({"metadata": {"resourceVersion": "41", "finalizers": []}})
        );
        api.expect_no_more().await;
    });
    reconcile_expecting(world, &tp, verifier, done).await;
}

#[tokio::test]
async fn deletion_under_delete_waits_for_worker_pods() {
    let (world, api) = World::new().start();
    let tp = PipelineBuilder::new()
        .finalized()
        .policy(DeletionPolicy::Delete)
        .deleting()
        .build();
    let verifier = verify(api, |mut api| async move {
        // Pods still stopping: no event, no finalizer change; look again shortly.
        expect_worker_stop(&mut api, 2).await;
        api.expect_no_more().await;
    });
    let action = world.reconcile(&tp).await;
    drop(world);
    verified(verifier).await;
    assert_eq!(
        action.ok(),
        Some(Action::requeue(std::time::Duration::from_secs(2)))
    );
}
