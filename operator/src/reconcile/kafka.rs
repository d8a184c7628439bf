//! Kafka through its admin API: topics (create, grow partitions, correct config drift, delete),
//! the checkpoint topic (per-query progress) and the transformers' consumer lag.
//!
//! Every call has a timeout, so an unreachable cluster costs one bounded wait per reconcile
//! and never blocks deletion.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Message, Offset, TopicPartitionList};
use thiserror::Error;

use super::secrets::Resolved;
use crate::build::topics::{self, TopicSpec};
use crate::crd::KafkaSpec;
use crate::decide::plan::{Checkpoint, parse_checkpoint};

/// Kafka failures, phrased for the status.
#[derive(Debug, Error)]
pub enum KafkaCheckError {
    /// No broker answered.
    #[error("Kafka at {bootstrap} is unreachable: {detail}")]
    Unreachable { bootstrap: String, detail: String },
    /// A topic operation failed.
    #[error("topic {topic}: {detail}")]
    Topic { topic: String, detail: String },
    /// The spec asks for fewer partitions than the topic has.
    #[error(
        "topic {topic} has {actual} partitions but the spec asks for {wanted}; Kafka cannot remove partitions, so {actual} stay"
    )]
    Shrink {
        topic: String,
        actual: i32,
        wanted: i32,
    },
    /// A blocking task failed.
    #[error("internal: {0}")]
    Join(String),
}

impl KafkaCheckError {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            KafkaCheckError::Unreachable { .. } => "KafkaUnreachable",
            KafkaCheckError::Topic { .. } | KafkaCheckError::Join(_) => "TopicError",
            KafkaCheckError::Shrink { .. } => "PartitionsCannotShrink",
        }
    }
}

/// Client settings for the operator's own connections.
pub fn client_config(kafka: &KafkaSpec, secrets: &Resolved, timeout: Duration) -> ClientConfig {
    let mut config = ClientConfig::new();
    let millis = timeout.as_millis().to_string();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("socket.timeout.ms", &millis)
        .set("socket.connection.setup.timeout.ms", &millis)
        .set("log_level", "3")
        .set("client.id", "tweetpipe-operator");
    let security = match (kafka.tls.is_some(), kafka.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    config.set("security.protocol", security);
    if let (Some(sasl), Some((user, password))) = (&kafka.sasl, &secrets.kafka_sasl) {
        config
            .set("sasl.mechanism", sasl.mechanism.as_str())
            .set("sasl.username", user.expose())
            .set("sasl.password", password.expose());
    }
    if let Some(ca) = &secrets.kafka_ca_pem {
        config.set("ssl.ca.pem", ca.expose());
    }
    config
}

fn unreachable(kafka: &KafkaSpec, e: impl std::fmt::Display) -> KafkaCheckError {
    KafkaCheckError::Unreachable {
        bootstrap: kafka.bootstrap_servers.clone(),
        detail: e.to_string(),
    }
}

fn admin_options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

/// Partition count of every existing topic (blocking metadata call).
fn partitions(
    admin: &AdminClient<DefaultClientContext>,
    timeout: Duration,
) -> Result<HashMap<String, i32>, KafkaError> {
    let metadata = admin.inner().fetch_metadata(None, timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| {
            (
                t.name().to_string(),
                i32::try_from(t.partitions().len()).unwrap_or(i32::MAX),
            )
        })
        .collect())
}

/// What `ensure_topics` found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicsReport {
    /// Partitions of the posts topic after the reconcile.
    pub partitions: i32,
    /// Topics created.
    pub created: Vec<String>,
    /// Topics whose partitions grew.
    pub grown: Vec<String>,
    /// Topics whose configs were corrected.
    pub corrected: Vec<String>,
}

/// Makes the pipeline's topics match the spec.
pub async fn ensure_topics(
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<TopicsReport, KafkaCheckError> {
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(
        client_config(kafka, secrets, timeout)
            .create()
            .map_err(|e| unreachable(kafka, e))?,
    );
    let desired = topics::desired_topics(kafka);
    let existing = {
        let admin = Arc::clone(&admin);
        tokio::task::spawn_blocking(move || partitions(&admin, timeout))
            .await
            .map_err(|e| KafkaCheckError::Join(e.to_string()))?
            .map_err(|e| unreachable(kafka, e))?
    };
    let options = admin_options(timeout);
    let mut report = TopicsReport::default();

    let missing: Vec<&TopicSpec> = desired
        .iter()
        .filter(|t| !existing.contains_key(&t.name))
        .collect();
    if !missing.is_empty() {
        let new_topics: Vec<NewTopic> = missing
            .iter()
            .map(|t| {
                t.configs.iter().fold(
                    NewTopic::new(
                        &t.name,
                        t.partitions,
                        TopicReplication::Fixed(t.replication_factor),
                    ),
                    |topic, (k, v)| topic.set(k, v),
                )
            })
            .collect();
        let results = admin
            .create_topics(new_topics.iter(), &options)
            .await
            .map_err(|e| unreachable(kafka, e))?;
        for result in results {
            match result {
                Ok(name) => report.created.push(name),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(KafkaCheckError::Topic {
                        topic: name,
                        detail: format!("create failed: {code}"),
                    });
                }
            }
        }
    }

    let mut shrink = None;
    for topic in desired.iter().filter(|t| existing.contains_key(&t.name)) {
        let actual_partitions = existing[&topic.name];
        let described = admin
            .describe_configs([&ResourceSpecifier::Topic(&topic.name)], &options)
            .await
            .map_err(|e| unreachable(kafka, e))?;
        let resource = described
            .into_iter()
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| KafkaCheckError::Topic {
                topic: topic.name.clone(),
                detail: "describe configs returned nothing".into(),
            })?;
        let actual: BTreeMap<String, String> = resource
            .entries
            .iter()
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect();
        let drift = topics::drift(topic, actual_partitions, &actual);
        if let Some(total) = drift.grow_partitions_to {
            let grow = NewPartitions::new(&topic.name, usize::try_from(total).unwrap_or(0));
            let results = admin
                .create_partitions([&grow], &options)
                .await
                .map_err(|e| unreachable(kafka, e))?;
            if let Some(Err((name, code))) = results.into_iter().next() {
                return Err(KafkaCheckError::Topic {
                    topic: name,
                    detail: format!("growing partitions failed: {code}"),
                });
            }
            report.grown.push(topic.name.clone());
        }
        if !drift.configs.is_empty() {
            // AlterConfigs replaces the whole topic config, so carry over what others set.
            let mut wanted: BTreeMap<String, String> = resource
                .entries
                .iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic && !e.is_sensitive)
                .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
                .collect();
            wanted.extend(drift.configs.clone());
            let alter = wanted.iter().fold(
                AlterConfig::new(ResourceSpecifier::Topic(&topic.name)),
                |a, (k, v)| a.set(k, v),
            );
            let results = admin
                .alter_configs([&alter], &options)
                .await
                .map_err(|e| unreachable(kafka, e))?;
            if let Some(Err((_, code))) = results.into_iter().next() {
                return Err(KafkaCheckError::Topic {
                    topic: topic.name.clone(),
                    detail: format!("correcting configs failed: {code}"),
                });
            }
            report.corrected.push(topic.name.clone());
        }
        if let Some((actual, wanted)) = drift.shrink_refused {
            shrink = Some(KafkaCheckError::Shrink {
                topic: topic.name.clone(),
                actual,
                wanted,
            });
        }
        if topic.name == kafka.topic {
            report.partitions = actual_partitions.max(drift.grow_partitions_to.unwrap_or(0));
        }
    }
    if report.partitions == 0 {
        report.partitions = kafka.partitions;
    }
    match shrink {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Deletes the pipeline's topics; missing topics count as deleted.
pub async fn delete_topics(
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<(), KafkaCheckError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka, secrets, timeout)
        .create()
        .map_err(|e| unreachable(kafka, e))?;
    let names: Vec<String> = topics::desired_topics(kafka)
        .into_iter()
        .map(|t| t.name)
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(&refs, &admin_options(timeout))
        .await
        .map_err(|e| unreachable(kafka, e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => {
                return Err(KafkaCheckError::Topic {
                    topic: name,
                    detail: format!("delete failed: {code}"),
                });
            }
        }
    }
    Ok(())
}

fn consumer(
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
    group: &str,
) -> Result<BaseConsumer, KafkaCheckError> {
    client_config(kafka, secrets, timeout)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| unreachable(kafka, e))
}

/// Latest checkpoint of each query, read from the compacted `<topic>.checkpoints`.
pub async fn read_checkpoints(
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<Vec<Checkpoint>, KafkaCheckError> {
    let kafka = kafka.clone();
    let secrets = secrets.clone();
    tokio::task::spawn_blocking(move || {
        let topic = topics::checkpoint_topic(&kafka.topic);
        let consumer = consumer(&kafka, &secrets, timeout, "tweetpipe-operator-progress")?;
        let (low, high) = consumer
            .fetch_watermarks(&topic, 0, timeout)
            .map_err(|e| unreachable(&kafka, e))?;
        let mut latest: BTreeMap<String, Checkpoint> = BTreeMap::new();
        if high > low {
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&topic, 0, Offset::Offset(low))
                .map_err(|e| KafkaCheckError::Topic {
                    topic: topic.clone(),
                    detail: e.to_string(),
                })?;
            consumer
                .assign(&assignment)
                .map_err(|e| unreachable(&kafka, e))?;
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                    continue;
                };
                let message = message.map_err(|e| unreachable(&kafka, e))?;
                if let Some(checkpoint) = message.payload().and_then(parse_checkpoint) {
                    latest.insert(checkpoint.query.clone(), checkpoint);
                }
                if message.offset() >= high - 1 {
                    break;
                }
            }
        }
        Ok(latest.into_values().collect())
    })
    .await
    .map_err(|e| KafkaCheckError::Join(e.to_string()))?
}

/// Records of the posts topic the transformers' group has not committed yet.
pub async fn consumer_lag(
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
    group: &str,
    partitions: i32,
) -> Result<i64, KafkaCheckError> {
    let kafka = kafka.clone();
    let secrets = secrets.clone();
    let group = group.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer = consumer(&kafka, &secrets, timeout, &group)?;
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(&kafka.topic, partition);
        }
        let committed = consumer
            .committed_offsets(list, timeout)
            .map_err(|e| unreachable(&kafka, e))?;
        let mut lag = 0_i64;
        for element in committed.elements() {
            let (low, high) = consumer
                .fetch_watermarks(&kafka.topic, element.partition(), timeout)
                .map_err(|e| unreachable(&kafka, e))?;
            let position = match element.offset() {
                Offset::Offset(offset) => offset,
                // Nothing committed yet: everything retained is still to do.
                _ => low,
            };
            lag += (high - position).max(0);
        }
        Ok(lag)
    })
    .await
    .map_err(|e| KafkaCheckError::Join(e.to_string()))?
}
