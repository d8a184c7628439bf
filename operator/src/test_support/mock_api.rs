//! A mock Kubernetes API server for reconcile I/O tests (issue 22), after the pattern of kube-rs's
//! controller-rs: a `tower_test` mock service becomes the `kube::Client`, and a verifier task takes
//! the requests one by one in the order the reconcile sends them, asserts each (method, path,
//! query, body) and answers it. Any request the script does not expect fails the test; every wait
//! is bounded, and the panic names the request that was being waited for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::client::Body;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{Handle, SendResponse};

use super::fakes::ScriptedSchema;
use crate::crd::{DeletionPolicy, FINALIZER, TweetPipeline, TweetPipelineStatus};
use crate::reconcile::Shared;
use crate::reconcile::context::Context;
use crate::reconcile::dependencies::mysql::SchemaOwner;
use crate::reconcile::dependencies::topic_admin::TopicAdmin;
use crate::reconcile::observe::progress_reader::ProgressReader;
use tweetpipe_operator_core::fixtures::pipeline;

/// How long the verifier waits for any one request (the whole reconcile takes milliseconds).
pub const REQUEST_WAIT: Duration = Duration::from_secs(5);

/// Path of the fixture pipeline (namespace `tweets`, name `covid19`).
pub const PIPELINE_PATH: &str =
    "/apis/tweetpipe.io/v1beta1/namespaces/tweets/tweetpipelines/covid19";
/// The fixture pipeline's extractor StatefulSet.
pub const EXTRACTOR_PATH: &str = "/apis/apps/v1/namespaces/tweets/statefulsets/covid19-extractor";
/// The fixture pipeline's transformer Deployment.
pub const TRANSFORMER_PATH: &str =
    "/apis/apps/v1/namespaces/tweets/deployments/covid19-transformer";
/// Where the recorder posts events for the fixture pipeline.
pub const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/tweets/events";

/// The fixture pipeline, shaped step by step for a scenario.
#[derive(Clone)]
pub struct PipelineBuilder(TweetPipeline);

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineBuilder {
    /// The fixture pipeline with a resource version (the finalizer patches send it as a guard)
    /// and no finalizer.
    pub fn new() -> Self {
        let mut tp = pipeline();
        tp.metadata.resource_version = Some("41".into());
        PipelineBuilder(tp)
    }

    /// With the operator's finalizer (after any already there).
    pub fn finalized(mut self) -> Self {
        self.0.finalizers_mut().push(FINALIZER.to_string());
        self
    }

    /// With someone else's finalizer.
    pub fn with_finalizer(mut self, finalizer: &str) -> Self {
        self.0.finalizers_mut().push(finalizer.to_string());
        self
    }

    /// Deletion requested just now.
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(jiff_now()));
        self
    }

    /// With `deletionPolicy`.
    pub fn policy(mut self, policy: DeletionPolicy) -> Self {
        self.0.spec.deletion_policy = policy;
        self
    }

    /// With any other change to the fixture.
    pub fn edit(mut self, edit: impl FnOnce(&mut TweetPipeline)) -> Self {
        edit(&mut self.0);
        self
    }

    /// With a status (as a previous reconcile wrote it).
    pub fn with_status(mut self, status: TweetPipelineStatus) -> Self {
        self.0.status = Some(status);
        self
    }

    /// The pipeline.
    pub fn build(self) -> TweetPipeline {
        self.0
    }
}

fn jiff_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(Utc::now().timestamp()).expect("now is a valid time")
}

/// A Secret as the watch cache would hold it.
pub fn secret(name: &str, finalizers: &[&str]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some("tweets".into());
    secret.metadata.resource_version = Some("7".into());
    secret.metadata.finalizers = Some(finalizers.iter().map(ToString::to_string).collect());
    secret
}

/// A Secret with `data` (key, value), as the watch cache would hold it.
pub fn data_secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut secret = secret(name, &[]);
    secret.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    secret
}

/// What a reconcile needs, on a mock API server: build with [`World::new`], add Secrets to the
/// watch cache, then [`World::start`].
pub struct World {
    secrets: Vec<Secret>,
    pipelines: Vec<TweetPipeline>,
    schema: Option<Arc<dyn SchemaOwner>>,
    topics: Option<Arc<dyn TopicAdmin>>,
    progress: Option<Arc<dyn ProgressReader>>,
    settings: Vec<(&'static str, String)>,
}

/// A started world: the reconcile's shared state, on the client of a mock API server.
pub struct Started {
    /// What `reconcile` takes.
    pub shared: Arc<Shared>,
    /// The schema fake, to assert it was never called.
    pub schema: Arc<ScriptedSchema>,
    // The caches' writers (the stores stay as filled).
    _secret_writer: reflector::store::Writer<Secret>,
    _pipeline_writer: reflector::store::Writer<DeserializeGuard<TweetPipeline>>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// No Secrets in the cache.
    pub fn new() -> Self {
        World {
            secrets: Vec::new(),
            pipelines: Vec::new(),
            schema: None,
            topics: None,
            progress: None,
            settings: Vec::new(),
        }
    }

    /// With this schema owner instead of one that fails every call.
    pub fn schema(mut self, schema: Arc<dyn SchemaOwner>) -> Self {
        self.schema = Some(schema);
        self
    }

    /// With this topic admin instead of librdkafka's.
    pub fn topics(mut self, topics: Arc<dyn TopicAdmin>) -> Self {
        self.topics = Some(topics);
        self
    }

    /// With this progress reader instead of Kafka's consumers.
    pub fn progress(mut self, progress: Arc<dyn ProgressReader>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// With the operator setting `name` (an environment variable) set to `value`.
    pub fn setting(mut self, name: &'static str, value: &str) -> Self {
        self.settings.push((name, value.to_string()));
        self
    }

    /// With `secret` in the Secret watch cache.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// With `tp` in the controller's cache of pipelines (which Secrets deletion still needs).
    pub fn pipeline(mut self, tp: &TweetPipeline) -> Self {
        self.pipelines.push(tp.clone());
        self
    }

    /// A context on a mock client, with listed (ready) caches and default settings; and the
    /// API server's side of the mock, for the verifier.
    pub fn start(self) -> (Started, MockApi) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "tweetpipe-operator".into(),
                instance: Some("test".into()),
            },
        );
        let (secrets, mut secret_writer) = reflector::store::<Secret>();
        secret_writer.apply_watcher_event(&watcher::Event::Init);
        for secret in self.secrets {
            secret_writer.apply_watcher_event(&watcher::Event::InitApply(secret));
        }
        secret_writer.apply_watcher_event(&watcher::Event::InitDone);
        let (pipelines, mut pipeline_writer) =
            reflector::store::<DeserializeGuard<TweetPipeline>>();
        pipeline_writer.apply_watcher_event(&watcher::Event::Init);
        for tp in self.pipelines {
            pipeline_writer
                .apply_watcher_event(&watcher::Event::InitApply(DeserializeGuard(Ok(tp))));
        }
        pipeline_writer.apply_watcher_event(&watcher::Event::InitDone);
        // Default settings, but the fixture's simulator allowed as the X API host (else every
        // reconcile reports ApiHostNotAllowed before anything else).
        let overrides = self.settings;
        let settings = crate::settings::from_env(|name| {
            if let Some((_, value)) = overrides.iter().find(|(n, _)| *n == name) {
                return Some(value.clone());
            }
            (name == crate::api_hosts::SETTING)
                .then(|| "http://x-api-simulator.tweetpipe-system:8080".to_string())
        })
        .expect("settings parse")
        .controller;
        let metrics = crate::metrics::Metrics::register(
            &mut prometheus_client::registry::Registry::default(),
        );
        let schema = Arc::new(ScriptedSchema::unreachable());
        let owner: Arc<dyn SchemaOwner> = match self.schema {
            Some(owner) => owner,
            None => schema.clone(),
        };
        let mut ctx = Context::new(client, recorder, metrics, settings, owner, secrets);
        if let Some(topics) = self.topics {
            ctx = ctx.with_topic_admin(topics);
        }
        if let Some(progress) = self.progress {
            ctx = ctx.with_progress_reader(progress);
        }
        let started = Started {
            shared: Arc::new(Shared { ctx, pipelines }),
            schema,
            _secret_writer: secret_writer,
            _pipeline_writer: pipeline_writer,
        };
        (
            started,
            MockApi {
                handle,
                seen: Vec::new(),
            },
        )
    }
}

impl Started {
    /// Runs one reconcile of `tp` (as the controller would hand it over).
    pub async fn reconcile(
        &self,
        tp: &TweetPipeline,
    ) -> Result<kube::runtime::controller::Action, crate::reconcile::error::Error> {
        let object = Arc::new(DeserializeGuard(Ok(tp.clone())));
        tokio::time::timeout(
            Duration::from_secs(20),
            crate::reconcile::reconcile(object, self.shared.clone()),
        )
        .await
        .expect("the reconcile finished within 20s")
    }

    /// Runs the next reconcile as the watch would deliver it after the first: the pipeline with
    /// the status the verifier saw the first reconcile patch (handed over on `written`).
    pub async fn reconcile_with_written_status(
        &self,
        written: tokio::sync::oneshot::Receiver<TweetPipelineStatus>,
    ) -> Result<kube::runtime::controller::Action, crate::reconcile::error::Error> {
        let written = tokio::time::timeout(Duration::from_secs(5), written)
            .await
            .expect("the verifier hands over the status of the first reconcile")
            .expect("the verifier saw the status patch");
        let again = PipelineBuilder::new()
            .finalized()
            .with_status(written)
            .build();
        self.reconcile(&again).await
    }
}

/// The API server's end of the mock: the verifier's script calls these in order.
pub struct MockApi {
    handle: Handle<Request<Body>, Response<Body>>,
    /// `METHOD path` of every request answered so far (for failure messages).
    seen: Vec<String>,
}

/// One request the reconcile sent, waiting for its answer.
pub struct Received {
    /// The HTTP method.
    pub method: Method,
    /// The path without the query.
    pub path: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
    respond: SendResponse<Response<Body>>,
}

impl Received {
    /// Answers with `status` and `body` as JSON.
    pub fn respond(self, status: StatusCode, body: &Value) {
        let bytes = serde_json::to_vec(body).expect("a JSON answer serialises");
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .expect("a valid response");
        self.respond.send_response(response);
    }

    /// Answers 200 with `body`.
    pub fn ok(self, body: &Value) {
        self.respond(StatusCode::OK, body);
    }

    /// Answers 404 with a `Status` as the API server does.
    pub fn not_found(self) {
        self.respond(StatusCode::NOT_FOUND, &status_body(404, "NotFound"));
    }
}

/// A `Status` failure body.
pub fn status_body(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("mock API server: {reason}"), "reason": reason, "code": code
    })
}

impl MockApi {
    /// The next request, within [`REQUEST_WAIT`]; panics naming `waiting_for` when none comes.
    pub async fn next(&mut self, waiting_for: &str) -> Received {
        let next = tokio::time::timeout(REQUEST_WAIT, self.handle.next_request())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no request within {REQUEST_WAIT:?} while waiting for {waiting_for}; seen so far: {:?}",
                    self.seen
                )
            });
        let Some((request, respond)) = next else {
            panic!(
                "the reconcile ended (client dropped) while waiting for {waiting_for}; seen so far: {:?}",
                self.seen
            );
        };
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let query = request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .expect("the request body can be read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("the request body is JSON")
        };
        self.seen.push(format!("{method} {path}"));
        Received {
            method,
            path,
            query,
            content_type,
            body,
            respond,
        }
    }

    /// The next request, asserted to be `method path` (the script's expectation, in order).
    pub async fn expect(&mut self, method: Method, path: &str, waiting_for: &str) -> Received {
        let received = self.next(waiting_for).await;
        assert_eq!(
            (&received.method, received.path.as_str()),
            (&method, path),
            "expected {waiting_for}; seen so far: {:?}",
            self.seen
        );
        received
    }

    /// A merge patch of the pipeline's metadata (a finalizer change), answered with `answer`;
    /// returns the patch body.
    pub async fn expect_pipeline_finalizer_patch(&mut self, answer: &TweetPipeline) -> Value {
        let patch = self
            .expect(
                Method::PATCH,
                PIPELINE_PATH,
                "the pipeline's finalizer patch",
            )
            .await;
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        let body = patch.body.clone();
        patch.ok(&serde_json::to_value(answer).expect("pipeline serialises"));
        body
    }

    /// The observe step's reads of both workloads (sent concurrently, so in either order),
    /// answered "not found": the pipeline has no workloads yet.
    pub async fn expect_workload_reads_absent(&mut self) {
        self.expect_workload_reads(None, None).await;
    }

    /// The observe step's reads of both workloads (sent concurrently, so in either order),
    /// answered with `extractor` (the StatefulSet) and `transformer` (the Deployment); `None`:
    /// "not found".
    pub async fn expect_workload_reads(
        &mut self,
        extractor: Option<&Value>,
        transformer: Option<&Value>,
    ) {
        let mut paths = Vec::new();
        for _ in 0..2 {
            let read = self.next("the observe step's workload reads").await;
            assert_eq!(
                read.method,
                Method::GET,
                "a workload read, not a write: {}",
                read.path
            );
            paths.push(read.path.clone());
            let answer = if read.path == EXTRACTOR_PATH {
                extractor
            } else {
                transformer
            };
            match answer {
                Some(workload) => read.ok(workload),
                None => read.not_found(),
            }
        }
        paths.sort();
        assert_eq!(paths, [TRANSFORMER_PATH, EXTRACTOR_PATH]);
    }

    /// `paths.len()` server-side applies, sent concurrently (so in any order), one to each of
    /// `paths`: a PATCH of content type `application/apply-patch+yaml` by the operator's field
    /// manager, forced, each answered with the object it sent. Returns the objects by path.
    pub async fn expect_applies(
        &mut self,
        paths: &[&str],
        waiting_for: &str,
    ) -> BTreeMap<String, Value> {
        let mut applied = BTreeMap::new();
        for _ in paths {
            let apply = self.next(waiting_for).await;
            assert_eq!(apply.method, Method::PATCH, "{waiting_for}: {}", apply.path);
            assert!(
                paths.contains(&apply.path.as_str()),
                "{waiting_for}: unexpected {}; seen so far: {:?}",
                apply.path,
                self.seen
            );
            assert_eq!(
                apply.content_type.as_deref(),
                Some("application/apply-patch+yaml"),
                "{}",
                apply.path
            );
            assert_eq!(
                (
                    apply.query.get("fieldManager").map(String::as_str),
                    apply.query.get("force").map(String::as_str)
                ),
                (Some(crate::reconcile::apply::MANAGER), Some("true")),
                "{}",
                apply.path
            );
            let body = apply.body.clone();
            let path = apply.path.clone();
            apply.ok(&body);
            assert!(
                applied.insert(path.clone(), body).is_none(),
                "{waiting_for}: {path} applied twice"
            );
        }
        applied
    }

    /// The status merge patch, answered with the pipeline carrying it; returns the status sent.
    pub async fn expect_status_patch(&mut self, tp: &TweetPipeline) -> TweetPipelineStatus {
        let patch = self
            .expect(
                Method::PATCH,
                &format!("{PIPELINE_PATH}/status"),
                "the status patch",
            )
            .await;
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        let sent = patch
            .body
            .get("status")
            .cloned()
            .expect("the patch holds a status");
        let status: TweetPipelineStatus =
            serde_json::from_value(sent).expect("the status patch is a TweetPipelineStatus");
        let mut answer = tp.clone();
        answer.status = Some(status.clone());
        patch.ok(&serde_json::to_value(&answer).expect("pipeline serialises"));
        status
    }

    /// One event POST (events.k8s.io/v1), answered with itself; returns the event sent.
    pub async fn expect_event(&mut self, waiting_for: &str) -> Value {
        let post = self.expect(Method::POST, EVENTS_PATH, waiting_for).await;
        let event = post.body.clone();
        post.respond(StatusCode::CREATED, &event);
        event
    }

    /// A repeat of an event the recorder already posted (same type, reason, action and object):
    /// kube's recorder folds it into the first as a series, a merge patch of the first event
    /// (`name`) with a higher `series.count`; answered with itself; returns the event sent.
    pub async fn expect_event_repeat(&mut self, name: &str, waiting_for: &str) -> Value {
        let patch = self
            .expect(Method::PATCH, &format!("{EVENTS_PATH}/{name}"), waiting_for)
            .await;
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        let event = patch.body.clone();
        patch.ok(&event);
        event
    }

    /// Ends the script: the reconcile sends nothing more (the client must be dropped, e.g. the
    /// test drops its `Started::shared`, within [`REQUEST_WAIT`]).
    pub async fn expect_no_more(mut self) {
        match tokio::time::timeout(REQUEST_WAIT, self.handle.next_request()).await {
            Ok(None) => {}
            Ok(Some((request, _))) => panic!(
                "unexpected request {} {} after {:?}",
                request.method(),
                request.uri(),
                self.seen
            ),
            Err(_) => {
                panic!("the client was not dropped within {REQUEST_WAIT:?} (a task still holds it)")
            }
        }
    }
}

/// Runs a verifier script on its own task.
pub fn verify<F>(api: MockApi, script: impl FnOnce(MockApi) -> F) -> JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(script(api))
}

/// Waits for the verifier to finish its script (bounded), re-raising its assertion failure.
pub async fn verified(verifier: JoinHandle<()>) {
    match tokio::time::timeout(REQUEST_WAIT * 4, verifier).await {
        Err(_) => panic!("the verifier did not finish its script in time"),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("the verifier task failed: {e}"),
        Ok(Ok(())) => {}
    }
}
