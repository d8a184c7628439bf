//! Deletion: under `Retain` only our finalizer goes; under `Delete` the workers are stopped
//! first, and without the Secrets the cleanup gives up at once and says what it left.

use http::Method;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{done, reconcile_expecting};
use crate::crd::DeletionPolicy;
use crate::reconcile::finalizers::SECRET_FINALIZER;
use crate::test_support::mock_api::{MockApi, PipelineBuilder, World, secret, verified, verify};

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
