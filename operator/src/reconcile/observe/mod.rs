//! Reads the world a decision needs: the Secrets the spec references (from the watch cache), the
//! accounts it should have, its progress and lag in Kafka (through the context's
//! [`progress_reader::ProgressReader`]), and its workloads. Reads only.

pub mod accounts;
mod group_offsets;
pub mod progress;
pub mod progress_reader;
pub mod secrets;
pub mod stream_apps;
pub mod workloads;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use tracing::warn;

use super::clients::KafkaClients;
use super::context::Context;
use super::dependencies::mysql::DesiredAccount;
use super::error::Error;
use crate::build::topics;
use crate::build::worker_config::group_id;
use crate::crd::{TweetPipeline, TweetPipelineStatus};
use crate::decide::conditions::{Check, SchemaState};
use crate::decide::plan::{Checkpoint, Observed};
use tweetpipe_common::contract::checkpoint::{ConnectionProgress, StreamProgress};

/// What the spec references, resolved.
#[derive(Debug, Clone)]
pub struct References {
    /// Secret values, or the first one missing.
    pub resolved: Result<secrets::Resolved, secrets::Missing>,
    /// Accounts to ensure (writer first), when the Secrets resolved.
    pub accounts: Vec<DesiredAccount>,
    /// The referenced Secrets as the cache has them (`None` = absent), for the digest of
    /// what the pods mount.
    pub secrets: BTreeMap<String, Option<Secret>>,
}

/// Resolves the spec's Secrets and the accounts from the watch cache (no API call).
pub fn references(ctx: &Context, tp: &TweetPipeline) -> References {
    let namespace = tp.namespace().unwrap_or_default();
    let fetched = secrets::fetch(&ctx.secrets, &namespace, &tp.spec);
    let resolved = secrets::resolve_from(&tp.spec, &fetched);
    let accounts = match &resolved {
        Ok(resolved) => {
            let require_tls = crate::reconcile::dependencies::mysql::tls_required(
                &tp.spec.mysql,
                resolved.mysql_admin_url.expose(),
            );
            std::iter::once(accounts::writer(&ctx.secrets, tp))
                .chain(accounts::reporting(tp, resolved))
                .map(|account| DesiredAccount {
                    require_tls,
                    ..account
                })
                .collect()
        }
        Err(_) => Vec::new(),
    };
    References {
        resolved,
        accounts,
        secrets: fetched,
    }
}

/// What the dependency step found, as the decision needs it.
pub struct DependencyState {
    /// Secrets resolved?
    pub secrets: Check,
    /// Kafka topics in shape?
    pub kafka: Check,
    /// MySQL schema and accounts in shape?
    pub mysql: Check,
    /// The post schema in the schema registry.
    pub schema: SchemaState,
    /// The endpoint's clients, when Kafka answered.
    pub kafka_clients: Option<Arc<KafkaClients>>,
    /// Partitions of the posts topic, when known.
    pub partitions: Option<i32>,
}

/// Key of a pipeline's checkpoint topic in the progress cache.
pub fn progress_key(tp: &TweetPipeline) -> String {
    format!(
        "{}|{}",
        tp.spec.kafka.bootstrap_servers,
        topics::checkpoint_topic(&tp.spec.kafka.topic)
    )
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
                    month: month.to_string(),
                    month_posts: q.month_posts,
                    stream: q.stored_until.as_ref().map(|stored_until| StreamProgress {
                        stored_until: stored_until.clone(),
                        recovered_posts: q.recovered_posts,
                        recoveries: q.recoveries,
                        rule_id: q.rule_id.clone(),
                        connection: connection_from_status(s, q.token),
                        ..StreamProgress::default()
                    }),
                    ..Checkpoint::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The connection of `token` as the previous status showed it.
fn connection_from_status(
    status: &TweetPipelineStatus,
    token: Option<i32>,
) -> Option<ConnectionProgress> {
    let c = status
        .stream
        .as_ref()?
        .connections
        .iter()
        .find(|c| Some(c.token) == token)?;
    Some(ConnectionProgress {
        reconnects: c.reconnects,
        connected_at: c.connected_at.clone(),
        last_received_at: c.last_received_at.clone(),
        backfill_minutes: u8::try_from(c.last_backfill_minutes).unwrap_or(u8::MAX),
    })
}

/// Reads progress, lag and workloads (concurrently) and assembles the decision's input.
pub async fn observe(
    ctx: &Context,
    tp: &TweetPipeline,
    dependencies: DependencyState,
    invalid_queries: Vec<String>,
    now: DateTime<Utc>,
) -> Result<Observed, Error> {
    let timeout = ctx.settings.kafka_timeout;
    let kafka = &tp.spec.kafka;
    let progress = async {
        let Some(clients) = &dependencies.kafka_clients else {
            return (None, None);
        };
        // Suspended pipelines have no workers: nothing moves, and lag is irrelevant.
        if tp.spec.suspend && tp.status.is_some() {
            return (None, None);
        }
        let partitions = dependencies.partitions.unwrap_or(kafka.partitions);
        let (cache_key, topic, group) = (
            progress_key(tp),
            topics::checkpoint_topic(&kafka.topic),
            group_id(tp),
        );
        let reader = &ctx.progress_reader;
        // Each read is timed on its own (as a phase), so every cluster sees what it costs.
        let (checkpoints, lag) = tokio::join!(
            ctx.metrics.time_phase(
                "observe-checkpoints",
                reader.read_checkpoints(clients, &ctx.progress, &cache_key, &topic, timeout),
            ),
            ctx.metrics.time_phase(
                "observe-lag",
                reader.consumer_lag(clients, &kafka.topic, &group, partitions, timeout),
            ),
        );
        let checkpoints = checkpoints
            .inspect_err(|e| warn!(error = %e, "reading checkpoints failed; keeping the last known progress"))
            .ok()
            .map(|(c, _)| c);
        let lag = lag
            .inspect_err(|e| warn!(error = %e, "reading consumer lag failed"))
            .ok();
        (checkpoints, lag)
    };
    // The reads run on the blocking pool with a timeout per Kafka call; the lag read makes one call
    // per partition, so the whole is bounded here as well, like the dependency step.
    let bound = timeout * 4;
    let progress = async {
        tokio::time::timeout(bound, progress)
            .await
            .unwrap_or_else(|_| {
                warn!(bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX), topic = %kafka.topic, "reading progress and lag from Kafka did not finish in time; keeping the last known progress");
                (None, None)
            })
    };
    let workloads = workloads::read(&ctx.client, tp);
    let ((checkpoints, lag), workloads) = tokio::join!(progress, workloads);
    let workloads = workloads.map_err(|source| Error::Observe {
        what: "workloads",
        source,
    })?;
    let month = crate::decide::monthly::month_of(now);
    let key = pipeline_key(tp);
    Ok(Observed {
        now,
        secrets: dependencies.secrets,
        kafka: dependencies.kafka,
        mysql: dependencies.mysql,
        schema: dependencies.schema,
        checkpoints: checkpoints
            .unwrap_or_else(|| checkpoints_from_status(tp.status.as_ref(), &month)),
        lag,
        partitions: dependencies.partitions,
        extractor_ready: workloads.extractor_ready,
        transformer_ready: workloads.transformer_ready,
        transformer_current: workloads.transformer_current,
        extractor_current: workloads.extractor_current,
        transformer_history: ctx.history(&key),
        scale_down_window: chrono::TimeDelta::from_std(ctx.settings.scale_down_window)
            .unwrap_or(chrono::TimeDelta::MAX),
        invalid_queries,
        api_host_refusal: None,
        image_refusal: None,
        stream_apps: None,
    })
}

/// `namespace/name`: the key of a pipeline in every cache.
pub fn pipeline_key(tp: &TweetPipeline) -> String {
    format!("{}/{}", tp.namespace().unwrap_or_default(), tp.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{QueryStatus, StreamConnectionStatus, StreamStatus};

    /// When Kafka cannot be read, the last status stands in for the checkpoints: a stream
    /// query keeps its rule id and its token's connection record.
    #[test]
    fn the_last_status_stands_in_with_the_rule_and_the_connection() {
        let status = TweetPipelineStatus {
            queries: vec![
                QueryStatus {
                    name: "covid-en".into(),
                    token: Some(1),
                    stored_until: Some("2026-12-06T06:00:00.000Z".into()),
                    rule_id: Some("17".into()),
                    ..QueryStatus::default()
                },
                QueryStatus {
                    name: "covid-pt".into(),
                    token: Some(0),
                    ..QueryStatus::default()
                },
            ],
            stream: Some(StreamStatus {
                connections: vec![StreamConnectionStatus {
                    token: 1,
                    reconnects: 4,
                    last_received_at: Some("2026-12-06T06:00:01.000Z".into()),
                    last_backfill_minutes: 5,
                    ..StreamConnectionStatus::default()
                }],
            }),
            ..TweetPipelineStatus::default()
        };
        let checkpoints = checkpoints_from_status(Some(&status), "2026-12");
        let stream = checkpoints[0].stream.as_ref().expect("stream progress");
        assert_eq!(stream.rule_id.as_deref(), Some("17"));
        let connection = stream.connection.as_ref().expect("connection");
        assert_eq!((connection.reconnects, connection.backfill_minutes), (4, 5));
        assert_eq!(
            connection.last_received_at.as_deref(),
            Some("2026-12-06T06:00:01.000Z")
        );
        assert!(checkpoints[1].stream.is_none(), "a search query");
    }
}
