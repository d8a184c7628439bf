//! One reconcile of one `TweetPipeline`, as a short pipeline of steps:
//!
//! 1. **references** — resolve the Secrets the spec names and the accounts it needs (watch cache);
//! 2. **dependencies** — bring Kafka topics and the MySQL schema in line (idempotent, cheap at rest);
//! 3. **observe** — read progress, lag and workloads into [`Observed`];
//! 4. **decide** — [`plan::plan`], pure;
//! 5. **build** — [`build::resources::resources`], pure;
//! 6. **apply** — server-side apply;
//! 7. **status** — written only when it changed;
//! 8. **events** — [`decide::events`], pure, then published.
//!
//! Deletion is its own path ([`cleanup`]). Layers depend downward only:
//! crd → labels → decide → build → reconcile.

pub mod apply;
pub mod backoff;
pub mod cleanup;
pub mod clients;
pub mod context;
pub mod controller;
pub mod deadline;
pub mod dependencies;
pub mod error;
pub mod events;
pub mod finalizers;
pub mod observe;
mod rdkafka_c;
pub mod schema_owner;
pub mod served_version;
pub mod status;
pub mod stream_rules;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use self::context::Context;
use self::deadline::Steps;
use self::error::Error;
use self::observe::pipeline_key;
use crate::build::resources::{self, BuildInputs};
use crate::crd::TweetPipeline;
use crate::decide::conditions::{PROGRESSING_REASONS, types};
use crate::decide::events::{EventSpec, Severity, condition_events, gap_events};
use crate::decide::plan::{self, Observed};
use crate::metrics::{ErrorLabels, PipelineLabels};

/// What the controller hands every reconcile besides the object.
pub struct Shared {
    /// Caches, clients, settings.
    pub ctx: Context,
    /// The controller's cache of pipelines (for which Secrets deletion still needs).
    pub pipelines: Store<DeserializeGuard<TweetPipeline>>,
}

fn guard_key(object: &DeserializeGuard<TweetPipeline>) -> String {
    format!(
        "{}/{}",
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default()
    )
}

fn guard_reference(object: &DeserializeGuard<TweetPipeline>) -> ObjectReference {
    let meta = object.meta();
    ObjectReference {
        api_version: Some(TweetPipeline::api_version(&()).into_owned()),
        kind: Some("TweetPipeline".into()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Entry point for one object. Objects that do not deserialize are reported and skipped, so they
/// never stall the others. Every reconcile is bounded by the reconcile deadline, counted in the
/// in-flight gauge while it runs, and logged once when it ends (pipeline, duration, result, next
/// run), so a stall shows within seconds rather than as a quiet log.
pub async fn reconcile(
    object: Arc<DeserializeGuard<TweetPipeline>>,
    shared: Arc<Shared>,
) -> Result<Action, Error> {
    let ctx = &shared.ctx;
    let steps = Steps::default();
    ctx.metrics.reconciles.inc();
    let _in_flight = ctx.metrics.reconcile_started();
    let key = guard_key(&object);
    let result = match &object.0 {
        Ok(tp) => {
            let span = info_span!("reconcile", pipeline = %pipeline_key(tp), generation = tp.metadata.generation.unwrap_or(0));
            deadline::within(
                ctx.settings.reconcile_timeout,
                &steps,
                reconcile_valid(tp, &shared, &steps),
            )
            .instrument(span)
            .await
        }
        Err(invalid) => {
            warn!(pipeline = %key, error = %invalid.error, "TweetPipeline does not match the operator's types; skipped");
            let note = format!("the operator cannot read this object: {}", invalid.error);
            events::publish_invalid(ctx, &guard_reference(&object), note).await;
            Ok(Action::await_change())
        }
    };
    let elapsed = steps.elapsed();
    ctx.metrics.duration.observe(elapsed.as_secs_f64());
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match &result {
        Ok(action) => {
            ctx.failures.reset(&key);
            info!(pipeline = %key, duration_ms, result = "ok", next = ?action, "reconciled");
        }
        // The error policy logs the error itself with its retry delay.
        Err(e) => {
            info!(pipeline = %key, duration_ms, result = e.kind(), step = steps.current(), "reconciled")
        }
    }
    result
}

/// Requeue after an error, with per-object exponential backoff and jitter, and tell the user on
/// the object (a Warning event; the recorder folds repeats into a count).
pub fn error_policy(
    object: Arc<DeserializeGuard<TweetPipeline>>,
    error: &Error,
    shared: Arc<Shared>,
) -> Action {
    let ctx = &shared.ctx;
    let key = guard_key(&object);
    let attempt = ctx.failures.record(&key);
    let delay = backoff::delay(attempt, rand::random::<f64>());
    ctx.metrics
        .errors
        .get_or_create(&ErrorLabels {
            reason: error.kind().to_string(),
        })
        .inc();
    warn!(pipeline = %key, attempt, retry_in_ms = delay.as_millis() as u64, error = %error, "reconcile failed");
    let event = EventSpec::new(
        Severity::Warning,
        error.reason(),
        format!("{error}; retrying in {}s", delay.as_secs()),
    );
    let reference = guard_reference(&object);
    tokio::spawn(async move {
        events::publish(&shared.ctx, &reference, &event).await;
    });
    Action::requeue(delay)
}

async fn reconcile_valid(
    tp: &TweetPipeline,
    shared: &Shared,
    steps: &Steps,
) -> Result<Action, Error> {
    let ctx = &shared.ctx;
    steps.enter("secret-cache");
    // Right after start the Secret cache may still be filling: reading it then would report
    // present Secrets as missing (a false SecretMissing and a Warning on every restart).
    // Bounded: a Secret watch that cannot list (RBAC, API down) must say so, not hold the slot.
    match tokio::time::timeout(ctx.settings.api_timeout, ctx.secrets.wait_until_ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Ok(Action::requeue(ctx.settings.requeue_not_ready)),
        Err(_) => {
            warn!(
                waited_ms = u64::try_from(ctx.settings.api_timeout.as_millis()).unwrap_or(u64::MAX),
                "the Secret watch has not listed yet (is listing Secrets allowed, is the API server up?); retrying"
            );
            return Ok(Action::requeue(ctx.settings.requeue_not_ready));
        }
    }
    if tp.meta().deletion_timestamp.is_some() {
        if !tp.finalizers().iter().any(|f| f == crate::crd::FINALIZER) {
            return Ok(Action::await_change());
        }
        ctx.metrics.forget(&labels(tp));
        steps.enter("cleanup");
        let started = Instant::now();
        let action = cleanup::cleanup(ctx, tp, &shared.pipelines).await;
        phase(ctx, "cleanup", started);
        return action;
    }
    steps.enter("finalizer");
    finalizers::ensure_pipeline_finalizer(&ctx.client, tp).await?;
    reconcile_steps(tp, shared, steps).await
}

fn phase(ctx: &Context, name: &str, started: Instant) -> Instant {
    let now = Instant::now();
    ctx.metrics
        .observe_phase(name, (now - started).as_secs_f64());
    now
}

async fn reconcile_steps(
    tp: &TweetPipeline,
    shared: &Shared,
    steps: &Steps,
) -> Result<Action, Error> {
    let ctx = &shared.ctx;
    let namespace = tp.namespace().ok_or(Error::NoNamespace)?;
    let now = Utc::now();
    let t = Instant::now();

    steps.enter("secrets");
    let references = observe::references(ctx, tp);
    let t = phase(ctx, "secrets", t);

    steps.enter("dependencies");
    let (dependencies, mut to_publish) = dependencies::ensure(ctx, tp, &references).await;
    let t = phase(ctx, "dependencies", t);

    steps.enter("observe");

    let invalid_queries = crate::admission::rules::query_refusals(&tp.spec)
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut observed: Observed =
        observe::observe(ctx, tp, dependencies, invalid_queries, now).await?;
    // Judged on every reconcile, not only at admission: the webhook may be off, or the
    // allow-list may have changed since. A refused host gets no extractor replica.
    observed.api_host_refusal =
        crate::admission::rules::api_host_refusal(&tp.spec, &ctx.settings.allowed_api_hosts)
            .map(|refusal| refusal.message);
    // Likewise the per-pipeline images: a refused one is never applied (the workloads stay as
    // they were), since its pods would mount every Secret the pipeline names.
    let image_refusals =
        crate::admission::rules::image_refusals(&tp.spec, &ctx.settings.allowed_worker_images);
    observed.image_refusal = (!image_refusals.is_empty()).then(|| {
        image_refusals
            .iter()
            .map(|r| r.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    });
    // Which apps the stream queries use, against every pipeline this controller sees.
    observed.stream_apps = observe::stream_apps::judge(tp, &shared.pipelines, &ctx.secrets);
    let t = phase(ctx, "observe", t);

    let plan = plan::plan(tp, &observed);

    steps.enter("apply");
    match &references.resolved {
        Ok(_) if observed.image_refusal.is_some() => {
            warn!("a worker image is not allowed; workloads left as they are");
        }
        Ok(resolved) => {
            let writer = &references.accounts[0];
            let writer_url = dependencies::mysql::writer_url(
                resolved.mysql_admin_url.expose(),
                &tp.spec.mysql.database,
                writer,
                tp.spec.mysql.tls.is_some(),
            )
            .unwrap_or_default();
            let built = resources::resources(
                tp,
                &plan,
                BuildInputs {
                    defaults: &ctx.settings.workers,
                    writer_url: &writer_url,
                    writer_password: writer.password.expose(),
                    secrets: &references.secrets,
                },
            )?;
            let fingerprint = clients::fingerprint(&[&serde_json::to_string(&built)?]);
            let in_place = observed.extractor_current == Some(plan.scaling.replicas)
                && observed.transformer_current == Some(plan.transformer_replicas);
            let key = pipeline_key(tp);
            if ctx.needs_apply(&key, fingerprint, in_place) {
                apply::apply(&ctx.client, &namespace, &built).await?;
                ctx.applied(&key, fingerprint);
            }
        }
        Err(_) if tp.spec.suspend => apply::scale_to_zero(&ctx.client, tp).await?,
        Err(_) => {}
    }
    finalizers::sync_secret_finalizers(
        &ctx.client,
        &ctx.secrets,
        &shared.pipelines,
        &namespace,
        None,
    )
    .await?;
    let t = phase(ctx, "apply", t);

    steps.enter("status");
    if status::write(&ctx.client, tp, &plan.status).await? {
        info!(
            extractors = plan.scaling.replicas,
            cap = %plan.scaling.reason,
            transformers = plan.transformer_replicas,
            "status updated"
        );
    }
    let t = phase(ctx, "status", t);

    let previous = tp
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    to_publish.extend(condition_events(previous, &plan.status.conditions));
    let previous_queries = tp
        .status
        .as_ref()
        .map(|s| s.queries.as_slice())
        .unwrap_or_default();
    to_publish.extend(gap_events(previous_queries, &plan.status.queries));
    steps.enter("events");
    events::publish_all(ctx, &tp.object_ref(&()), &to_publish).await;
    phase(ctx, "events", t);

    ctx.remember(&pipeline_key(tp), now, plan.transformer_recommendation);
    record_metrics(ctx, tp, &plan);

    // Settled: Ready, suspended, or only waiting for pods (owned workloads wake the pipeline
    // when pods become ready, so polling would add nothing). Refresh those rarely; poll
    // faster only while a dependency or a Secret is wrong.
    let settled = tp.spec.suspend
        || plan.status.conditions.iter().any(|c| {
            c.type_ == types::READY
                && (c.status == "True" || PROGRESSING_REASONS.contains(&c.reason.as_str()))
        });
    Ok(Action::requeue(if settled {
        ctx.settings.requeue_ready
    } else {
        ctx.settings.requeue_not_ready
    }))
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
    let ready = plan
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == types::READY && c.status == "True");
    m.ready.get_or_create(&labels).set(i64::from(ready));
    match plan.monthly.as_ref().and_then(|f| f.cap_reached_at) {
        Some(at) => {
            let seconds = (at - chrono::Utc::now()).num_seconds().max(0);
            m.monthly_cap_forecast.get_or_create(&labels).set(seconds);
        }
        // No cap, or not reached this month: no series (an alert on "within N days" stays quiet).
        None => {
            m.monthly_cap_forecast.remove(&labels);
        }
    }
}

#[cfg(test)]
mod tests;
