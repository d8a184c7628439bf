//! Progress of a pipeline as Kafka shows it: the latest checkpoint of each query (from the
//! compacted `<topic>.checkpoints`) and the transformers' consumer lag.
//!
//! Checkpoints are read incrementally: each pipeline remembers where its last read ended, so a
//! settled pipeline reads only what its extractors wrote since. A read ends at the partition's
//! last stable offset (read_committed + partition EOF) and never waits out a timeout; a read that
//! does not reach the end in time is an error, never a partial answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use thiserror::Error;

use crate::decide::plan::{Checkpoint, parse_checkpoint};
use crate::reconcile::clients::KafkaClients;

/// Why progress could not be read.
#[derive(Debug, Error)]
pub enum ProgressError {
    /// A Kafka call failed.
    #[error("reading {what} from Kafka failed: {detail}")]
    Kafka { what: &'static str, detail: String },
    /// The end of the checkpoint topic was not reached in time.
    #[error("the checkpoint topic {topic} was not read to its end within {timeout:?}")]
    Incomplete { topic: String, timeout: Duration },
    /// The blocking task failed.
    #[error("internal: {0}")]
    Join(String),
}

fn kafka(what: &'static str, e: impl std::fmt::Display) -> ProgressError {
    ProgressError::Kafka {
        what,
        detail: e.to_string(),
    }
}

/// Where a checkpoint topic was last read to, and what it said.
#[derive(Debug, Clone, Default)]
struct TopicProgress {
    next_offset: i64,
    latest: BTreeMap<String, Checkpoint>,
}

/// Per checkpoint topic (keyed by endpoint and topic): the incremental read state.
#[derive(Debug, Default)]
pub struct ProgressCache(Mutex<HashMap<String, TopicProgress>>);

impl ProgressCache {
    fn take(&self, key: &str) -> TopicProgress {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
            .unwrap_or_default()
    }

    fn put(&self, key: &str, progress: TopicProgress) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), progress);
    }

    /// Forgets a deleted pipeline's topic.
    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// How a checkpoint read ended (for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Partition EOF at the last stable offset.
    EndOfPartition,
    /// Nothing new since the last read (the offset was already at the high watermark).
    NothingNew,
}

/// Latest checkpoint per query, and how the read ended.
pub async fn read_checkpoints(
    clients: &Arc<KafkaClients>,
    cache: &Arc<ProgressCache>,
    cache_key: &str,
    topic: &str,
    timeout: Duration,
) -> Result<(Vec<Checkpoint>, ReadEnd), ProgressError> {
    let clients = Arc::clone(clients);
    let cache = Arc::clone(cache);
    let key = cache_key.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let previous = cache.take(&key);
        let (progress, end) = read_blocking(&clients, previous, &topic, timeout)?;
        let checkpoints = progress.latest.values().cloned().collect();
        cache.put(&key, progress);
        Ok((checkpoints, end))
    })
    .await
    .map_err(|e| ProgressError::Join(e.to_string()))?
}

fn read_blocking(
    clients: &KafkaClients,
    mut progress: TopicProgress,
    topic: &str,
    timeout: Duration,
) -> Result<(TopicProgress, ReadEnd), ProgressError> {
    let consumer = clients.progress_consumer(topic);
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, timeout)
        .map_err(|e| kafka("checkpoint watermarks", e))?;
    if progress.next_offset < low || progress.next_offset > high {
        // Retention or compaction moved past us, or the topic was re-created: start over.
        progress = TopicProgress {
            next_offset: low,
            ..TopicProgress::default()
        };
    }
    if progress.next_offset >= high {
        return Ok((progress, ReadEnd::NothingNew));
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(progress.next_offset))
        .map_err(|e| kafka("checkpoint assignment", e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| kafka("checkpoint assignment", e))?;
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(ProgressError::Incomplete {
                topic: topic.to_string(),
                timeout,
            });
        }
        match consumer.poll(left.min(Duration::from_millis(500))) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break Ok(ReadEnd::EndOfPartition),
            Some(Err(e)) => break Err(kafka("checkpoints", e)),
            Some(Ok(message)) => {
                progress.next_offset = message.offset() + 1;
                if let Some(checkpoint) = message.payload().and_then(parse_checkpoint) {
                    progress.latest.insert(checkpoint.query.clone(), checkpoint);
                }
            }
        }
    };
    if outcome.is_ok() {
        // At EOF the position is the last stable offset, past any transaction markers.
        if let Ok(position) = consumer.position()
            && let Some(Offset::Offset(at)) = position
                .elements_for_topic(topic)
                .first()
                .map(|e| e.offset())
        {
            progress.next_offset = progress.next_offset.max(at);
        }
    }
    let _ = consumer.unassign();
    outcome.map(|end| (progress, end))
}

/// Records of the posts topic the group `group` has not committed yet (everything retained when
/// the group has committed nothing). One OffsetFetch for the group's offsets on the endpoint's
/// lag reader ([`super::group_offsets`]) and one watermark request per partition on its admin
/// client: no client is made per read.
pub async fn consumer_lag(
    clients: &Arc<KafkaClients>,
    topic: &str,
    group: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<i64, ProgressError> {
    let clients = Arc::clone(clients);
    let topic = topic.to_string();
    let group = group.to_string();
    tokio::task::spawn_blocking(move || {
        let committed = group_offsets(&clients, &group, &topic, partitions, timeout)?;
        let mut lag = 0_i64;
        for partition in 0..partitions {
            let (low, high) = clients
                .admin
                .inner()
                .fetch_watermarks(&topic, partition, timeout)
                .map_err(|e| kafka("posts watermarks", e))?;
            let position = committed
                .get(&partition)
                .copied()
                .filter(|&o| o >= 0)
                .unwrap_or(low);
            lag += (high - position.max(low)).max(0);
        }
        Ok(lag)
    })
    .await
    .map_err(|e| ProgressError::Join(e.to_string()))?
}

/// Committed offsets of `group` on `topic`'s partitions. Negative = none.
fn group_offsets(
    clients: &KafkaClients,
    group: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<HashMap<i32, i64>, ProgressError> {
    let reader = clients
        .lag_reader
        .as_ref()
        .ok_or_else(|| kafka("group offsets", "the endpoint's clients are closing"))?;
    super::group_offsets::committed(reader, group, topic, partitions, timeout)
        .map_err(|e| kafka("group offsets", e))
}
