//! The reconcile loop: one `TweetPipeline` at a time, read → decide → apply, behind a finalizer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use thiserror::Error;
use tracing::{Instrument, info, info_span, warn};

use super::apply;
use super::backoff::{self, Failures};
use super::kafka;
use super::mysql::{self, SchemaOwner};
use super::secrets;
use crate::build::workloads::WorkerDefaults;
use crate::crd::{Condition, DeletionPolicy, FINALIZER, TweetPipeline, TweetPipelineStatus};
use crate::decide::conditions::{self, Check};
use crate::decide::plan::{self, Checkpoint, Observed};
use crate::metrics::{ErrorLabels, Metrics, PipelineLabels};

/// Reconcile failures. Dependency outages are not errors (they become conditions); these are
/// failures to talk to Kubernetes itself.
#[derive(Debug, Error)]
pub enum Error {
    /// The Kubernetes API refused or failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A worker config did not serialize.
    #[error("serializing a worker config: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The object has no namespace (the CRD is namespaced, so this is a bug upstream).
    #[error("the object has no namespace")]
    NoNamespace,
}

impl Error {
    /// Metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::Serialize(_) => "serialize",
            Error::NoNamespace => "no_namespace",
        }
    }
}

/// Tunables of the loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Images and settings handed to workers.
    pub workers: WorkerDefaults,
    /// Timeout of every Kafka call.
    pub kafka_timeout: Duration,
    /// Timeout of every MySQL connection.
    pub mysql_timeout: Duration,
    /// Requeue when all is well (progress and lag refresh).
    pub requeue_ready: Duration,
    /// Requeue while something is wrong or starting.
    pub requeue_not_ready: Duration,
    /// Pipelines reconciled at the same time (each holds Kafka and MySQL connections).
    pub concurrency: u16,
}

/// Shared state of all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Tunables.
    pub settings: Settings,
    /// Migrations and reporting user.
    pub schema: Arc<dyn SchemaOwner>,
    /// Per-object failure counts for backoff.
    pub failures: Failures,
}

fn key(meta: &kube::core::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// Entry point for one object. Objects that do not deserialize are reported and skipped, so they
/// never stall the others.
pub async fn reconcile(
    object: Arc<DeserializeGuard<TweetPipeline>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let result = match &object.0 {
        Ok(tp) => {
            let span = info_span!("reconcile", pipeline = %key(&tp.metadata), generation = tp.metadata.generation.unwrap_or(0));
            reconcile_valid(Arc::new(tp.clone()), &ctx)
                .instrument(span)
                .await
        }
        Err(invalid) => {
            warn!(pipeline = %key(&invalid.metadata), error = %invalid.error, "TweetPipeline does not match the operator's types; skipped");
            let reference = ObjectReference {
                api_version: Some("tweetpipe.io/v1alpha1".into()),
                kind: Some("TweetPipeline".into()),
                name: invalid.metadata.name.clone(),
                namespace: invalid.metadata.namespace.clone(),
                uid: invalid.metadata.uid.clone(),
                ..ObjectReference::default()
            };
            let event = Event {
                type_: EventType::Warning,
                reason: "InvalidSpec".into(),
                note: Some(truncate(&format!(
                    "the operator cannot read this object: {}",
                    invalid.error
                ))),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &reference).await {
                warn!(error = %e, "publishing an event failed");
            }
            Ok(Action::await_change())
        }
    };
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.failures.reset(&key(object.meta()));
    }
    result
}

/// Requeue after an error, with per-object exponential backoff and jitter.
pub fn error_policy(
    object: Arc<DeserializeGuard<TweetPipeline>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = key(object.meta());
    let attempt = ctx.failures.record(&key);
    let delay = backoff::delay(attempt, rand::random::<f64>());
    ctx.metrics
        .errors
        .get_or_create(&ErrorLabels {
            reason: error.kind().to_string(),
        })
        .inc();
    warn!(pipeline = %key, attempt, retry_in_ms = delay.as_millis() as u64, error = %error, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_valid(tp: Arc<TweetPipeline>, ctx: &Context) -> Result<Action, Error> {
    tracing::debug!("reconcile started");
    let namespace = tp.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<TweetPipeline> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, tp, |event| async move {
        match event {
            FinalizerEvent::Apply(tp) => apply(&tp, ctx).await,
            FinalizerEvent::Cleanup(tp) => cleanup(&tp, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))
}

/// Progress from the previous status, for when Kafka cannot be read this time.
fn checkpoints_from_status(status: Option<&TweetPipelineStatus>, month: &str) -> Vec<Checkpoint> {
    status
        .map(|s| {
            s.queries
                .iter()
                .map(|q| Checkpoint {
                    query: q.name.clone(),
                    newest_id: q.newest_id.clone(),
                    posts_total: q.posts_total,
                    last_poll_at: q.last_poll_at.clone(),
                    month: Some(month.to_string()),
                    month_posts: q.month_posts,
                    ..Checkpoint::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn apply(tp: &TweetPipeline, ctx: &Context) -> Result<Action, Error> {
    let client = &ctx.client;
    let namespace = tp.namespace().ok_or(Error::NoNamespace)?;
    let spec = &tp.spec;
    let now = Utc::now();
    let settings = &ctx.settings;

    // Read.
    let mut timer = PhaseTimer::new();
    let resolved = secrets::resolve(client, &namespace, spec).await?;
    let secrets_check = match &resolved {
        Ok(_) => Check::Ok,
        Err(missing) => missing.to_check(),
    };
    timer.lap("secrets");
    // Kafka and MySQL are independent: check them concurrently.
    let (kafka, mysql_check) = match &resolved {
        Ok(resolved) => tokio::join!(
            read_kafka(ctx, tp, resolved),
            ensure_mysql(ctx, tp, resolved)
        ),
        Err(_) => {
            let waiting = Check::Skipped("waiting for the referenced Secrets".into());
            (KafkaObservation::skipped(waiting.clone()), waiting)
        }
    };
    timer.lap("dependencies");
    let month = crate::decide::monthly::month_of(now);
    let checkpoints = kafka
        .checkpoints
        .unwrap_or_else(|| checkpoints_from_status(tp.status.as_ref(), &month));
    let (extractor_ready, transformer_ready, transformer_current) =
        apply::workload_state(client, tp).await?;
    let (kafka_check, lag, partitions) = (kafka.check, kafka.lag, kafka.partitions);
    timer.lap("read_workloads");

    // Decide.
    let observed = Observed {
        now,
        secrets: secrets_check,
        kafka: kafka_check,
        mysql: mysql_check,
        checkpoints,
        lag,
        partitions,
        extractor_ready,
        transformer_ready,
        transformer_current,
    };
    let plan = plan::plan(tp, &observed);

    // Apply.
    match &resolved {
        Ok(resolved) => {
            apply::apply_workloads(client, tp, &plan, resolved, &settings.workers).await?
        }
        Err(_) if spec.suspend => apply::scale_to_zero(client, tp).await?,
        Err(_) => {}
    }
    let previous: &[Condition] = tp
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    for (condition, _) in conditions::transitions(previous, &plan.status.conditions) {
        let bad = matches!(
            (condition.type_.as_str(), condition.status.as_str()),
            (
                "Ready" | "SecretsResolved" | "KafkaReady" | "MySQLReady",
                "False"
            ) | ("MonthlyCap", "True")
        ) && condition.reason != "WorkloadsNotReady";
        let kind = if bad {
            EventType::Warning
        } else {
            EventType::Normal
        };
        let note = format!(
            "{} is {}: {}",
            condition.type_, condition.status, condition.message
        );
        publish(ctx, tp, kind, &condition.reason, &note).await;
    }
    timer.lap("apply");
    if apply::write_status(client, tp, &plan.status).await? {
        info!(
            extractors = plan.scaling.replicas,
            cap = %plan.scaling.reason,
            transformers = plan.transformer_replicas,
            "status updated"
        );
    }
    record_metrics(ctx, tp, &plan);

    timer.lap("status");
    timer.log();
    // A suspended pipeline is as settled as a ready one: no reason to poll it often.
    let settled = spec.suspend
        || plan
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == conditions::types::READY && c.status == "True");
    Ok(Action::requeue(if settled {
        settings.requeue_ready
    } else {
        settings.requeue_not_ready
    }))
}

/// Label that assigns a pipeline to a named operator instance (like an ingress class).
pub const INSTANCE_LABEL: &str = "tweetpipe.io/operator-instance";

/// Pipelines an operator reconciles: those labelled with its instance, or, for the default
/// operator (no instance), those without the label. Two installations never fight over one pipeline.
pub fn instance_selector(instance: Option<&str>) -> String {
    match instance {
        Some(name) => format!("{INSTANCE_LABEL}={name}"),
        None => format!("!{INSTANCE_LABEL}"),
    }
}

/// What the Kafka side of a reconcile saw.
struct KafkaObservation {
    check: Check,
    partitions: Option<i32>,
    checkpoints: Option<Vec<Checkpoint>>,
    lag: Option<i64>,
}

impl KafkaObservation {
    fn skipped(check: Check) -> Self {
        KafkaObservation {
            check,
            partitions: None,
            checkpoints: None,
            lag: None,
        }
    }
}

/// [`read_kafka_unbounded`] with an overall bound, so no Kafka call can hold a reconcile slot forever.
async fn read_kafka(
    ctx: &Context,
    tp: &TweetPipeline,
    resolved: &secrets::Resolved,
) -> KafkaObservation {
    let bound = ctx.settings.kafka_timeout * 4;
    match tokio::time::timeout(bound, read_kafka_unbounded(ctx, tp, resolved)).await {
        Ok(observation) => observation,
        Err(_) => KafkaObservation::skipped(Check::failed(
            "KafkaUnreachable",
            format!(
                "Kafka at {} did not complete the topic checks within {bound:?}",
                tp.spec.kafka.bootstrap_servers
            ),
        )),
    }
}

/// Topics in shape, then progress and lag (concurrently).
async fn read_kafka_unbounded(
    ctx: &Context,
    tp: &TweetPipeline,
    resolved: &secrets::Resolved,
) -> KafkaObservation {
    let spec = &tp.spec;
    let timeout = ctx.settings.kafka_timeout;
    let report = match kafka::ensure_topics(&spec.kafka, resolved, timeout).await {
        Ok(report) => report,
        Err(e) => return KafkaObservation::skipped(Check::failed(e.reason(), e.to_string())),
    };
    for (reason, what, topics) in [
        ("TopicsCreated", "Kafka topics created", &report.created),
        (
            "PartitionsGrown",
            "partitions grown to the spec on",
            &report.grown,
        ),
        (
            "TopicConfigCorrected",
            "config drift corrected on",
            &report.corrected,
        ),
    ] {
        if !topics.is_empty() {
            publish(
                ctx,
                tp,
                EventType::Normal,
                reason,
                &format!("{what}: {}", topics.join(", ")),
            )
            .await;
        }
    }
    let group = crate::build::worker_config::group_id(tp);
    let (checkpoints, lag) = tokio::join!(
        kafka::read_checkpoints(&spec.kafka, resolved, timeout),
        kafka::consumer_lag(&spec.kafka, resolved, timeout, &group, report.partitions),
    );
    let checkpoints = checkpoints
        .inspect_err(
            |e| warn!(error = %e, "reading checkpoints failed; keeping the last known progress"),
        )
        .ok();
    let lag = lag
        .inspect_err(|e| warn!(error = %e, "reading consumer lag failed"))
        .ok();
    KafkaObservation {
        check: Check::Ok,
        partitions: Some(report.partitions),
        checkpoints,
        lag,
    }
}

/// Database, migrations and reporting user, within an overall bound (migrations may take a while,
/// a hung server must not).
async fn ensure_mysql(ctx: &Context, tp: &TweetPipeline, resolved: &secrets::Resolved) -> Check {
    let bound = ctx.settings.mysql_timeout * 12;
    match tokio::time::timeout(bound, ensure_mysql_unbounded(ctx, tp, resolved)).await {
        Ok(check) => check,
        Err(_) => Check::failed(
            "MySQLUnreachable",
            format!("MySQL did not complete the schema checks within {bound:?}"),
        ),
    }
}

async fn ensure_mysql_unbounded(
    ctx: &Context,
    tp: &TweetPipeline,
    resolved: &secrets::Resolved,
) -> Check {
    match mysql::ensure_schema(
        &tp.spec.mysql,
        resolved,
        ctx.schema.as_ref(),
        ctx.settings.mysql_timeout,
    )
    .await
    {
        Ok(()) => Check::Ok,
        Err(e) => Check::failed(e.reason(), e.to_string()),
    }
}

/// Durations of the reconcile phases, logged at debug level to find where time goes.
struct PhaseTimer {
    last: Instant,
    laps: Vec<(&'static str, u128)>,
}

impl PhaseTimer {
    fn new() -> Self {
        PhaseTimer {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.laps.push((phase, (now - self.last).as_millis()));
        self.last = now;
    }

    fn log(&self) {
        let phases: Vec<String> = self
            .laps
            .iter()
            .map(|(p, ms)| format!("{p}={ms}ms"))
            .collect();
        tracing::debug!(phases = %phases.join(" "), "reconcile phases");
    }
}

fn labels(tp: &TweetPipeline) -> PipelineLabels {
    PipelineLabels {
        namespace: tp.namespace().unwrap_or_default(),
        pipeline: tp.name_any(),
    }
}

fn record_metrics(ctx: &Context, tp: &TweetPipeline, plan: &plan::Plan) {
    let labels = labels(tp);
    let m = &ctx.metrics;
    m.budget
        .get_or_create(&labels)
        .set(i64::try_from(plan.scaling.budget_total).unwrap_or(i64::MAX));
    m.budget_in_use
        .get_or_create(&labels)
        .set(i64::try_from(plan.status.extractor.requests_per_window_in_use).unwrap_or(i64::MAX));
    m.extractor_replicas
        .get_or_create(&labels)
        .set(i64::from(plan.scaling.replicas));
    m.transformer_replicas
        .get_or_create(&labels)
        .set(i64::from(plan.transformer_replicas));
    m.lag
        .get_or_create(&labels)
        .set(plan.status.transformer.lag);
}

/// Deletion. Workloads go with their owner (garbage collection); topics and the database only
/// under `Delete`. Never fails because Kafka or MySQL is gone: the pipeline must be deletable.
async fn cleanup(tp: &TweetPipeline, ctx: &Context) -> Result<Action, Error> {
    ctx.metrics.forget(&labels(tp));
    if tp.spec.deletion_policy == DeletionPolicy::Retain {
        info!("deletionPolicy Retain: topics and database kept");
        return Ok(Action::await_change());
    }
    let namespace = tp.namespace().ok_or(Error::NoNamespace)?;
    let resolved = match secrets::resolve(&ctx.client, &namespace, &tp.spec).await {
        Ok(Ok(resolved)) => resolved,
        Ok(Err(missing)) => {
            let message = format!(
                "topics and database not deleted: {}",
                check_message(&missing.to_check())
            );
            publish(ctx, tp, EventType::Warning, "CleanupIncomplete", &message).await;
            return Ok(Action::await_change());
        }
        Err(e) => {
            warn!(error = %e, "cannot read Secrets during cleanup; topics and database not deleted");
            return Ok(Action::await_change());
        }
    };
    let settings = &ctx.settings;
    let bound = settings.kafka_timeout * 3;
    match tokio::time::timeout(
        bound,
        kafka::delete_topics(&tp.spec.kafka, &resolved, settings.kafka_timeout),
    )
    .await
    {
        Ok(Ok(())) => {
            publish(
                ctx,
                tp,
                EventType::Normal,
                "TopicsDeleted",
                "deletionPolicy Delete: topics deleted",
            )
            .await
        }
        Ok(Err(e)) => {
            publish(
                ctx,
                tp,
                EventType::Warning,
                "CleanupIncomplete",
                &format!("topics not deleted: {e}"),
            )
            .await
        }
        Err(_) => {
            publish(
                ctx,
                tp,
                EventType::Warning,
                "CleanupIncomplete",
                "topics not deleted: Kafka did not answer in time",
            )
            .await
        }
    }
    match tokio::time::timeout(
        settings.mysql_timeout * 3,
        mysql::drop_schema(&tp.spec.mysql, &resolved, settings.mysql_timeout),
    )
    .await
    {
        Ok(Ok(())) => {
            publish(
                ctx,
                tp,
                EventType::Normal,
                "DatabaseDropped",
                "deletionPolicy Delete: database and reporting user dropped",
            )
            .await
        }
        Ok(Err(e)) => {
            publish(
                ctx,
                tp,
                EventType::Warning,
                "CleanupIncomplete",
                &format!("database not dropped: {e}"),
            )
            .await
        }
        Err(_) => {
            publish(
                ctx,
                tp,
                EventType::Warning,
                "CleanupIncomplete",
                "database not dropped: MySQL did not answer in time",
            )
            .await
        }
    }
    Ok(Action::await_change())
}

fn check_message(check: &Check) -> String {
    match check {
        Check::Ok => "ok".into(),
        Check::Skipped(why) => why.clone(),
        Check::Failed { message, .. } => message.clone(),
    }
}

/// Event notes are limited to 1 kB.
fn truncate(note: &str) -> String {
    if note.len() <= 1000 {
        return note.to_string();
    }
    let mut end = 1000;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

async fn publish(ctx: &Context, tp: &TweetPipeline, type_: EventType, reason: &str, note: &str) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(truncate(note)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &tp.object_ref(&())).await {
        warn!(error = %e, reason, "publishing an event failed");
    }
}

/// Runs the controller until shutdown. Owned workloads are watched (by label) so pod readiness
/// changes reach the status without waiting for the periodic requeue.
/// `namespace` limits the operator to one namespace (all when `None`).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    instance: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let namespace = namespace.as_deref();
    let pipelines: Api<DeserializeGuard<TweetPipeline>> = api(&client, namespace);
    let owned =
        watcher::Config::default().labels("app.kubernetes.io/managed-by=tweetpipe-operator");
    let concurrency = ctx.settings.concurrency;
    let selector = instance_selector(instance.as_deref());
    Controller::new(
        pipelines,
        watcher::Config::default().labels(&selector).any_semantic(),
    )
    .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
    .owns(api::<StatefulSet>(&client, namespace), owned.clone())
    .owns(api::<Deployment>(&client, namespace), owned)
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        match result {
            // A requeue for an object deleted meanwhile: expected, not a problem.
            Err(kube::runtime::controller::Error::ObjectNotFound(object)) => {
                tracing::debug!(%object, "object gone before its requeue")
            }
            // Reconcile errors were already logged by the error policy.
            Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
            Err(e) => warn!(error = %e, "controller stream error"),
            Ok(_) => {}
        }
    })
    .await;
}
