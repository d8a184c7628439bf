//! Deletion: stop the workers, then (under `Delete`) delete topics, database and accounts and
//! (under either policy, for a pipeline that streams) its filtered-stream rules, retrying
//! outages until the deadline, then let the pipeline and its Secrets go. The decisions
//! are the table in [`crate::decide::cleanup`]; this module does the I/O.

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use tracing::info;

use super::backoff;
use super::context::Context;
use super::dependencies::{kafka, mysql};
use super::error::Error;
use super::events::publish;
use super::finalizers;
use super::observe::{pipeline_key, progress_key, secrets};
use super::stream_rules;
use crate::crd::{DeletionPolicy, TweetPipeline};
use crate::decide::cleanup::{self, Attempt, CleanupFacts, CleanupOutcome};
use crate::decide::events::{EventSpec, Severity};
use crate::decide::stream;
use crate::decide::topic_owner::{Release, TopicOwner};
use crate::labels::{Component, PIPELINE_LABEL, object_name};
use tweetpipe_schema::Release as DatabaseRelease;

fn gone<T>(result: Result<T, kube::Error>) -> Result<(), Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::Observe {
            what: "workloads (deleting)",
            source,
        }),
    }
}

/// Deletes the workloads (once) and counts the worker pods still there.
async fn stop_workers(ctx: &Context, tp: &TweetPipeline) -> Result<usize, Error> {
    let namespace = tp.namespace().unwrap_or_default();
    let client = &ctx.client;
    let params = DeleteParams::background();
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    gone(
        statefulsets
            .delete(&object_name(tp, Component::Extractor), &params)
            .await,
    )?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    gone(
        deployments
            .delete(&object_name(tp, Component::Transformer), &params)
            .await,
    )?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let selector = format!("{PIPELINE_LABEL}={}", tp.name_any());
    let listed = pods
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Observe {
            what: "worker pods",
            source,
        })?;
    Ok(listed.items.len())
}

fn attempt<E: std::fmt::Display>(
    result: Result<Result<(), E>, tokio::time::error::Elapsed>,
    what: &str,
) -> Attempt {
    match result {
        Ok(Ok(())) => Attempt::Done,
        Ok(Err(e)) => Attempt::Failed(e.to_string()),
        Err(_) => Attempt::Failed(format!("{what} did not answer in time")),
    }
}

/// One pass of deletion. Returns how to requeue; the pipeline's finalizer goes when the table says
/// `Finish`.
pub async fn cleanup(
    ctx: &Context,
    tp: &TweetPipeline,
    pipelines: &Store<DeserializeGuard<TweetPipeline>>,
) -> Result<Action, Error> {
    let settings = &ctx.settings;
    let namespace = tp.namespace().ok_or(Error::NoNamespace)?;
    let reference = tp.object_ref(&());
    let elapsed = tp
        .meta()
        .deletion_timestamp
        .as_ref()
        .map(|t| {
            Duration::from_secs(
                u64::try_from(Utc::now().timestamp() - t.0.as_second()).unwrap_or(0),
            )
        })
        .unwrap_or(Duration::ZERO);
    let policy = tp.spec.deletion_policy;
    // Stream rules go under either policy, and only once no extractor can add them back.
    let stream_rules = stream::had_stream_rules(tp);
    let workers_left = if policy == DeletionPolicy::Delete || stream_rules {
        stop_workers(ctx, tp).await?
    } else {
        0
    };
    let mut facts = CleanupFacts {
        policy,
        workers_left,
        missing_secret: None,
        topics: Attempt::NotNeeded,
        database: Attempt::NotNeeded,
        stream_rules,
        rules: Attempt::NotNeeded,
        elapsed,
        deadline: settings.cleanup_deadline,
    };
    if cleanup::deletes_now(&facts) && stream_rules {
        facts.rules = tokio::time::timeout(
            stream_rules::RULES_TIMEOUT * 3,
            stream_rules::delete_rules(tp, &ctx.secrets, &settings.allowed_api_hosts),
        )
        .await
        .unwrap_or_else(|_| Attempt::Failed("the X API did not answer in time".into()));
    }
    if cleanup::deletes_now(&facts) && policy == DeletionPolicy::Delete {
        match secrets::resolve(&ctx.secrets, &namespace, &tp.spec) {
            Err(missing) => {
                facts.missing_secret = Some(crate::decide::conditions::message(&missing.to_check()))
            }
            Ok(resolved) => {
                let spec = &tp.spec;
                let topics = async {
                    let clients = kafka::clients_for(
                        &ctx.clients,
                        &spec.kafka,
                        &resolved,
                        settings.kafka_timeout,
                    )?;
                    kafka::delete_topics(
                        &clients,
                        &spec.kafka,
                        &TopicOwner::of(tp),
                        settings.kafka_timeout,
                    )
                    .await
                };
                let database = async {
                    mysql::drop_schema(
                        &ctx.clients,
                        &spec.mysql,
                        &resolved,
                        mysql::pipeline_owner(tp),
                        ctx.schema.as_ref(),
                        settings.mysql_timeout,
                    )
                    .await
                    .map(|released| {
                        info!(database = %spec.mysql.database, ?released, "database cleanup");
                        released
                    })
                };
                let (topics, database) = tokio::join!(
                    tokio::time::timeout(settings.kafka_timeout * 3, topics),
                    tokio::time::timeout(settings.mysql_timeout * 3, database),
                );
                facts.topics = match topics {
                    Ok(Ok(Release::LeaveAlone(why))) => Attempt::LeftAlone(why),
                    other => attempt(other.map(|r| r.map(|_| ())), "Kafka"),
                };
                facts.database = match database {
                    Ok(Ok(DatabaseRelease::OwnedByAnother(why))) => Attempt::LeftAlone(why),
                    Ok(Ok(DatabaseRelease::NotRecorded)) => Attempt::LeftAlone(format!(
                        "database `{}` carries no ownership record of this pipeline; left as it is",
                        spec.mysql.database
                    )),
                    other => attempt(other.map(|r| r.map(|_| ())), "MySQL"),
                };
            }
        }
    }
    let key = pipeline_key(tp);
    match cleanup::decide(&facts) {
        CleanupOutcome::WaitForWorkers => {
            info!(
                pods = workers_left,
                "waiting for worker pods to stop before deleting topics"
            );
            Ok(Action::requeue(Duration::from_secs(2)))
        }
        CleanupOutcome::Retry { why } => {
            let attempt = ctx.failures.record(&format!("{key}#cleanup"));
            let delay = backoff::delay(attempt, rand::random::<f64>());
            let note = format!(
                "{why}; retrying in {}s (gives up after {}s)",
                delay.as_secs(),
                settings.cleanup_deadline.as_secs()
            );
            publish(
                ctx,
                &reference,
                &EventSpec::new(Severity::Normal, "CleanupRetrying", note),
            )
            .await;
            Ok(Action::requeue(delay))
        }
        CleanupOutcome::Finish { left_behind } => {
            if policy == DeletionPolicy::Delete || stream_rules {
                if left_behind.is_empty() {
                    let done = match (policy, stream_rules) {
                        (DeletionPolicy::Delete, false) => {
                            "deletionPolicy Delete: workers stopped, topics, database and accounts deleted"
                        }
                        (DeletionPolicy::Delete, true) => {
                            "deletionPolicy Delete: workers stopped, topics, database, accounts and stream rules deleted"
                        }
                        (DeletionPolicy::Retain, _) => {
                            "workers stopped and stream rules deleted; topics and database kept (deletionPolicy Retain)"
                        }
                    };
                    publish(
                        ctx,
                        &reference,
                        &EventSpec::new(Severity::Normal, "CleanupDone", done),
                    )
                    .await;
                } else {
                    publish(
                        ctx,
                        &reference,
                        &EventSpec::new(
                            Severity::Warning,
                            "CleanupIncomplete",
                            left_behind.join("; "),
                        ),
                    )
                    .await;
                }
            }
            finalizers::sync_secret_finalizers(
                &ctx.client,
                &ctx.secrets,
                pipelines,
                &namespace,
                tp.uid().as_deref(),
            )
            .await?;
            finalizers::remove_pipeline_finalizer(&ctx.client, tp).await?;
            ctx.failures.reset(&format!("{key}#cleanup"));
            ctx.forget(&key, &progress_key(tp));
            Ok(Action::await_change())
        }
    }
}
