//! Stream pipelines: deletion removes the pipeline's filtered-stream rules (only its own, on
//! every app of its tokens, after the workers stopped, under `Retain` too) through a mock X API;
//! and a reconcile reports an app two pipelines stream on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use http::Method;
use serde_json::{Value, json};

use super::{done, reconcile_expecting};
use crate::crd::{DeletionPolicy, QueryDelivery};
use crate::reconcile::finalizers::SECRET_FINALIZER;
use crate::test_support::mock_api::{MockApi, PipelineBuilder, World, data_secret, verify};

/// The X API's rules endpoints, per app (bearer token): what it holds, and what it was asked.
#[derive(Default)]
struct Rules {
    /// token → rules (`id`, `value`, `tag`).
    held: BTreeMap<String, Vec<Value>>,
    /// (token, method, body) of every request.
    asked: Vec<(String, String, Value)>,
    /// Answer every request with this status instead (an outage).
    failing: Option<u16>,
}

type Shared = Arc<Mutex<Rules>>;

fn token(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

async fn list(State(rules): State<Shared>, headers: HeaderMap) -> (StatusCode, String) {
    let mut rules = rules.lock().unwrap();
    let token = token(&headers);
    rules.asked.push((token.clone(), "GET".into(), Value::Null));
    if let Some(code) = rules.failing {
        // The body echoes the token: it must reach no event.
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            format!("{{\"title\":\"down\",\"detail\":\"{token}\"}}"),
        );
    }
    let data = rules.held.get(&token).cloned().unwrap_or_default();
    let body = if data.is_empty() {
        json!({"meta": {"sent": "2026-12-06T06:00:00.000Z", "result_count": 0}})
    } else {
        json!({"data": data, "meta": {"sent": "2026-12-06T06:00:00.000Z", "result_count": data.len()}})
    };
    (StatusCode::OK, body.to_string())
}

async fn change(
    State(rules): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let mut rules = rules.lock().unwrap();
    let token = token(&headers);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    rules
        .asked
        .push((token.clone(), "POST".into(), body.clone()));
    let ids: Vec<String> = body["delete"]["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(String::from))
        .collect();
    let held = rules.held.entry(token).or_default();
    held.retain(|r| !ids.iter().any(|id| r["id"] == json!(id)));
    let summary = json!({"meta": {"sent": "2026-12-06T06:00:00.000Z", "summary": {"deleted": ids.len(), "not_deleted": 0}}});
    (StatusCode::OK, summary.to_string())
}

/// Serves the rules endpoints on a free local port; returns its base URL.
async fn serve(rules: Shared) -> String {
    let app = Router::new()
        .route("/2/tweets/search/stream/rules", get(list).post(change))
        .with_state(rules);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn rule(id: &str, value: &str, tag: Option<&str>) -> Value {
    match tag {
        Some(tag) => json!({"id": id, "value": value, "tag": tag}),
        None => json!({"id": id, "value": value}),
    }
}

/// The workloads' deletion and the pods list (none left).
async fn expect_workers_stopped(api: &mut MockApi) {
    for path in [
        "/apis/apps/v1/namespaces/tweets/statefulsets/covid19-extractor",
        "/apis/apps/v1/namespaces/tweets/deployments/covid19-transformer",
    ] {
        api.expect(Method::DELETE, path, "a workload's deletion")
            .await
            .not_found();
    }
    api.expect(
        Method::GET,
        "/api/v1/namespaces/tweets/pods",
        "the worker pods' list",
    )
    .await
    .ok(&json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": []}));
}

/// Under `Retain`, a pipeline with a stream query stops its workers, deletes its own rules on
/// both apps (and no other rule), says so, releases its token Secret and then its finalizer.
#[tokio::test]
async fn deletion_removes_the_pipelines_stream_rules_and_no_other() {
    let rules: Shared = Arc::default();
    {
        let mut held = rules.lock().unwrap();
        held.held.insert(
            "AAA".into(),
            vec![
                rule("1", "covid", Some("tweetpipe:tweets/covid19:covid-en")),
                rule("2", "flu", Some("tweetpipe:tweets/covid19x:flu")),
                rule("3", "cats", None),
                rule("4", "dogs", Some("someone-elses")),
            ],
        );
        // A rule left by a query that streamed on the other token earlier.
        held.held.insert(
            "BBB".into(),
            vec![rule(
                "5",
                "quarantine",
                Some("tweetpipe:tweets/covid19:quarantine-en"),
            )],
        );
    }
    let base_url = serve(rules.clone()).await;
    let tp = PipelineBuilder::new()
        .finalized()
        .policy(DeletionPolicy::Retain)
        .deleting()
        .edit(|tp| {
            tp.spec.source.base_url = base_url.clone();
            tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
        })
        .build();
    let mut token_a = data_secret("x-token-a", &[("token", "AAA")]);
    token_a.metadata.finalizers = Some(vec![SECRET_FINALIZER.into()]);
    let (world, api) = World::new()
        .setting(crate::api_hosts::SETTING, "http://127.0.0.1")
        .secret(token_a)
        .secret(data_secret("x-token-b", &[("bearer", "BBB")]))
        .pipeline(&tp)
        .start();
    let mut released = tp.clone();
    released.metadata.finalizers = Some(Vec::new());
    let verifier = verify(api, move |mut api| async move {
        expect_workers_stopped(&mut api).await;
        let event = api.expect_event("the CleanupDone event").await;
        assert_eq!(
            (&event["type"], &event["reason"]),
            (&json!("Normal"), &json!("CleanupDone")),
            "{event}"
        );
        let note = event["note"].as_str().unwrap_or_default();
        assert!(note.contains("stream rules deleted"), "{note}");
        assert!(!note.contains("AAA") && !note.contains("BBB"), "{note}");
        let secret_patch = api
            .expect(
                Method::PATCH,
                "/api/v1/namespaces/tweets/secrets/x-token-a",
                "the token Secret's finalizer release",
            )
            .await;
        assert_eq!(
            secret_patch.body,
            json!({"metadata": {"resourceVersion": "7", "finalizers": []}})
        );
        secret_patch.ok(&serde_json::to_value(data_secret("x-token-a", &[])).unwrap());
        api.expect_pipeline_finalizer_patch(&released).await;
        api.expect_no_more().await;
    });
    reconcile_expecting(world, &tp, verifier, done).await;

    let rules = rules.lock().unwrap();
    let left: Vec<&str> = rules.held["AAA"]
        .iter()
        .chain(&rules.held["BBB"])
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(left, ["2", "3", "4"], "only this pipeline's rules go");
    let deletes: Vec<(&str, &Value)> = rules
        .asked
        .iter()
        .filter(|(_, method, _)| method == "POST")
        .map(|(token, _, body)| (token.as_str(), body))
        .collect();
    assert_eq!(
        deletes,
        [
            ("AAA", &json!({"delete": {"ids": ["1"]}})),
            ("BBB", &json!({"delete": {"ids": ["5"]}})),
        ]
    );
}

/// Under `Retain` a search-only pipeline never calls X on deletion (the first test of
/// `deletion.rs` shows its requests: only the finalizer); its token Secrets are not kept.
#[test]
fn a_search_only_pipeline_keeps_no_token_secret() {
    let search = PipelineBuilder::new().finalized().build();
    let stream = PipelineBuilder::new()
        .finalized()
        .edit(|tp| tp.spec.source.queries[1].delivery = QueryDelivery::Stream)
        .build();
    let protected = crate::reconcile::finalizers::protected([&search], "tweets", None);
    assert!(protected.is_empty(), "{protected:?}");
    let protected = crate::reconcile::finalizers::protected([&stream], "tweets", None);
    assert_eq!(
        protected.into_iter().collect::<Vec<_>>(),
        ["x-token-a", "x-token-b"]
    );
}

/// An X API that fails, or a base URL whose host is not allowed: the pipeline stays (its
/// finalizer and its token Secret's are kept) and retries while X fails, naming the failure and
/// never the token; a host that may not receive the tokens is not called at all and the
/// pipeline goes, naming the rules left.
#[tokio::test]
async fn deletion_retries_a_failing_x_and_never_calls_a_host_not_allowed() {
    use crate::crd::TweetPipeline;

    let rules: Shared = Arc::default();
    rules.lock().unwrap().failing = Some(503);
    let base_url = serve(rules.clone()).await;
    let pipeline = |base_url: &str| {
        let base_url = base_url.to_string();
        PipelineBuilder::new()
            .finalized()
            .policy(DeletionPolicy::Retain)
            .deleting()
            .edit(move |tp: &mut TweetPipeline| {
                tp.spec.source.base_url = base_url;
                tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
            })
            .build()
    };
    let world = |tp: &TweetPipeline, allowed: &str| {
        World::new()
            .setting(crate::api_hosts::SETTING, allowed)
            .secret(data_secret("x-token-a", &[("token", "AAA")]))
            .secret(data_secret("x-token-b", &[("bearer", "BBB")]))
            .pipeline(tp)
            .start()
    };

    // X answers 503: retried (a Normal event), nothing released.
    let tp = pipeline(&base_url);
    let (started, api) = world(&tp, "http://127.0.0.1");
    let verifier = verify(api, |mut api| async move {
        expect_workers_stopped(&mut api).await;
        let event = api.expect_event("the CleanupRetrying event").await;
        assert_eq!(event["reason"], json!("CleanupRetrying"), "{event}");
        let note = event["note"].as_str().unwrap_or_default();
        assert!(
            note.contains("stream rules not deleted: token 0: the X API answered the rules lookup with HTTP 503"),
            "{note}"
        );
        assert!(!note.contains("AAA") && !note.contains("BBB"), "{note}");
        api.expect_no_more().await;
    });
    let action = started.reconcile(&tp).await.expect("a requeue");
    drop(started);
    crate::test_support::mock_api::verified(verifier).await;
    assert_ne!(action, kube::runtime::controller::Action::await_change());
    assert_eq!(
        rules.lock().unwrap().asked.len(),
        2,
        "each token asked once"
    );

    // The host is not on the list: X is not called, the pipeline goes and says what is left.
    rules.lock().unwrap().asked.clear();
    let tp = pipeline(&base_url);
    let (started, api) = world(&tp, "https://api.x.com");
    let mut released = tp.clone();
    released.metadata.finalizers = Some(Vec::new());
    let verifier = verify(api, move |mut api| async move {
        expect_workers_stopped(&mut api).await;
        let event = api.expect_event("the CleanupIncomplete event").await;
        assert_eq!(
            (&event["type"], &event["reason"]),
            (&json!("Warning"), &json!("CleanupIncomplete")),
            "{event}"
        );
        let note = event["note"].as_str().unwrap_or_default();
        assert!(
            note.contains("stream rules not deleted") && note.contains("tweetpipe:tweets/covid19:"),
            "{note}"
        );
        api.expect_pipeline_finalizer_patch(&released).await;
        api.expect_no_more().await;
    });
    reconcile_expecting(started, &tp, verifier, done).await;
    assert!(rules.lock().unwrap().asked.is_empty(), "no token sent");
}
