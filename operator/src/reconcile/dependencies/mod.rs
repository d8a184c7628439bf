//! The external systems a pipeline needs, brought in line before workloads run: its Kafka topics
//! its MySQL schema and accounts, and its post schema in the schema registry (idempotent, and
//! cheap when nothing changed). Each answers
//! with a [`Check`] for the status: an outage is a condition, never a reconcile error.

pub mod incremental_configs;
pub mod kafka;
pub mod kafka_error;
pub mod mysql;
pub mod registry;
pub mod topic_admin;
pub mod topic_owner;

#[cfg(test)]
mod tests;

use kube::ResourceExt;

use super::context::Context;
use super::observe::{DependencyState, References, pipeline_key};
use crate::crd::TweetPipeline;
use crate::decide::conditions::{Check, SchemaState};
use crate::decide::events::{self, EventSpec};

/// Ensures topics and schema concurrently, each within an overall bound, so no dependency can
/// hold a reconcile slot forever. Returns the state for the decision and the events to publish.
pub async fn ensure(
    ctx: &Context,
    tp: &TweetPipeline,
    references: &References,
) -> (DependencyState, Vec<EventSpec>) {
    let resolved = match &references.resolved {
        Ok(resolved) => resolved,
        Err(missing) => {
            let waiting = Check::Skipped("waiting for the referenced Secrets".into());
            let state = DependencyState {
                secrets: missing.to_check(),
                kafka: waiting.clone(),
                mysql: waiting.clone(),
                schema: SchemaState::Problem(waiting),
                kafka_clients: None,
                partitions: None,
            };
            return (state, Vec::new());
        }
    };
    let settings = &ctx.settings;
    let spec = &tp.spec;
    let topics = async {
        // Above the administrator's maxima: no topic is created or changed (the spec must).
        let over = crate::admission::rules::kafka_limit_refusals(spec, &settings.kafka_limits);
        if !over.is_empty() {
            let messages: Vec<String> = over.into_iter().map(|r| r.message).collect();
            return Err(kafka::KafkaCheckError::LimitExceeded(messages.join("; ")));
        }
        // Metadata, creation, the ownership record (read, write, read back), configs.
        let bound = settings.kafka_timeout * 6;
        let clients =
            ctx.topics
                .clients(&ctx.clients, &spec.kafka, resolved, settings.kafka_timeout)?;
        match tokio::time::timeout(
            bound,
            ctx.topics.ensure_topics(
                &clients,
                &spec.kafka,
                spec.source.queries.len(),
                &crate::decide::topic_owner::TopicOwner::of(tp),
                settings.kafka_timeout,
            ),
        )
        .await
        {
            Ok(report) => report.map(|r| (clients, r)),
            Err(_) => Err(kafka::KafkaCheckError::Unreachable {
                bootstrap: spec.kafka.bootstrap_servers.clone(),
                detail: format!("the topic checks did not complete within {bound:?}"),
            }),
        }
    };
    // A connection failure is told apart (password, certificate, host) for the condition.
    let topics = async {
        match topics.await {
            Err(failure) if failure.is_undiagnosed() => {
                let (kafka, secrets) = (spec.kafka.clone(), resolved.clone());
                let timeout = settings.kafka_timeout;
                let admin = ctx.topics.clone();
                let diagnosed = tokio::task::spawn_blocking(move || {
                    admin.diagnose(&kafka, &secrets, timeout, failure)
                })
                .await
                .unwrap_or_else(|e| kafka::KafkaCheckError::Join(e.to_string()));
                Err(diagnosed)
            }
            other => other,
        }
    };
    let schema = async {
        let bound = settings.mysql_timeout * 12;
        match tokio::time::timeout(
            bound,
            mysql::ensure_schema(
                &ctx.clients,
                &ctx.schemas,
                mysql::SchemaTarget {
                    pipeline_key: &pipeline_key(tp),
                    owner: mysql::pipeline_owner(tp),
                    spec: &spec.mysql,
                    secrets: resolved,
                    accounts: &references.accounts,
                },
                &ctx.schema,
                settings.mysql_timeout,
            ),
        )
        .await
        {
            Ok(Ok(())) => Check::Ok,
            Ok(Err(e)) => Check::failed(e.reason(), e.to_string()),
            Err(_) => Check::failed(
                "MySQLUnreachable",
                format!("MySQL did not complete the schema checks within {bound:?}"),
            ),
        }
    };
    // Independent of Kafka and MySQL: the registry is its own service.
    let post_schema = async {
        let bound = settings.kafka_timeout * 4;
        let ensure = registry::ensure_post_schema(
            &ctx.registered,
            spec.kafka.schema_registry_url.as_deref(),
            &settings.allowed_registry_hosts,
            &spec.kafka.topic,
            settings.kafka_timeout,
        );
        tokio::time::timeout(bound, ensure)
            .await
            .unwrap_or_else(|_| {
                SchemaState::Problem(Check::failed(
                    crate::decide::conditions::reasons::SCHEMA_REGISTRY_UNREACHABLE,
                    format!("the schema registry did not answer within {bound:?}"),
                ))
            })
    };
    // Each timed on its own: the step costs the slowest, and the bench shows which that is.
    let (topics, mysql, schema) = tokio::join!(
        ctx.metrics.time_phase("dependencies-kafka", topics),
        ctx.metrics.time_phase("dependencies-mysql", schema),
        ctx.metrics.time_phase("dependencies-registry", post_schema),
    );
    match topics {
        Ok((clients, report)) => {
            let events = events::topic_events(&report.created, &report.grown, &report.corrected);
            let state = DependencyState {
                secrets: Check::Ok,
                kafka: Check::Ok,
                mysql,
                schema,
                kafka_clients: Some(clients),
                partitions: Some(report.partitions),
            };
            (state, events)
        }
        Err(e) => {
            tracing::debug!(pipeline = %tp.name_any(), error = %e, "Kafka check failed");
            let state = DependencyState {
                secrets: Check::Ok,
                kafka: Check::failed(e.reason(), e.to_string()),
                mysql,
                schema,
                kafka_clients: None,
                partitions: None,
            };
            (state, Vec::new())
        }
    }
}
