//! The Kafka topics a pipeline needs, as plain data; `reconcile::kafka` makes Kafka match them.

use std::collections::BTreeMap;

use crate::crd::KafkaSpec;

/// One topic as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partitions (only ever grown).
    pub partitions: i32,
    /// Replication factor (set at creation; Kafka changes it only by reassignment).
    pub replication_factor: i32,
    /// Topic configs the operator owns; others are left alone.
    pub configs: BTreeMap<String, String>,
    /// More partitions than asked for are fine (the slots topic keeps the slots of removed
    /// queries, which nobody runs).
    pub extra_partitions_ok: bool,
}

pub use tweetpipe_common::contract::topics::{checkpoint_topic, dlq_topic, slots_topic};

/// Posts, checkpoints (compacted, one partition so progress reads are cheap), dead letters and
/// the extractors' query slots (one partition per query, see the extractor's `ownership.rs`).
pub fn desired_topics(kafka: &KafkaSpec, queries: usize) -> Vec<TopicSpec> {
    let retention_ms = (u64::from(kafka.retention_hours) * 3_600_000).to_string();
    let delete = |retention: &str| {
        BTreeMap::from([
            ("cleanup.policy".to_string(), "delete".to_string()),
            ("retention.ms".to_string(), retention.to_string()),
        ])
    };
    vec![
        TopicSpec {
            name: kafka.topic.clone(),
            partitions: kafka.partitions,
            replication_factor: kafka.replication_factor,
            configs: delete(&retention_ms),
            extra_partitions_ok: false,
        },
        TopicSpec {
            name: checkpoint_topic(&kafka.topic),
            partitions: 1,
            replication_factor: kafka.replication_factor,
            configs: BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("min.compaction.lag.ms".to_string(), "0".to_string()),
            ]),
            extra_partitions_ok: false,
        },
        TopicSpec {
            name: dlq_topic(&kafka.topic),
            partitions: 1,
            replication_factor: kafka.replication_factor,
            configs: delete(&retention_ms),
            extra_partitions_ok: false,
        },
        TopicSpec {
            name: slots_topic(&kafka.topic),
            partitions: i32::try_from(queries.max(1)).unwrap_or(i32::MAX),
            replication_factor: kafka.replication_factor,
            // Its partitions and their group offsets are the slots; partition 0 also holds the
            // topics' ownership record (decide::topic_owner), which must never expire.
            configs: delete("-1"),
            extra_partitions_ok: true,
        },
    ]
}

/// What to change on an existing topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicDrift {
    /// New partition count, when the spec asks for more.
    pub grow_partitions_to: Option<i32>,
    /// Configs to set because they differ.
    pub configs: BTreeMap<String, String>,
    /// Spec asks for fewer partitions than exist (refused: Kafka cannot shrink).
    pub shrink_refused: Option<(i32, i32)>,
}

/// Compares a topic's actual partitions and configs with the desired ones.
pub fn drift(
    desired: &TopicSpec,
    partitions: i32,
    actual_configs: &BTreeMap<String, String>,
) -> TopicDrift {
    let mut drift = TopicDrift::default();
    if desired.partitions > partitions {
        drift.grow_partitions_to = Some(desired.partitions);
    } else if desired.partitions < partitions && !desired.extra_partitions_ok {
        drift.shrink_refused = Some((partitions, desired.partitions));
    }
    for (key, value) in &desired.configs {
        if actual_configs.get(key) != Some(value) {
            drift.configs.insert(key.clone(), value.clone());
        }
    }
    drift
}
