//! Restoring checkpoints at start-up: the latest committed checkpoint of every query, read from
//! the compacted checkpoint topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::kafka::EofIsNotAnError;

use super::{SinkError, blocking};

/// Reads the latest committed checkpoint of every query from the compacted checkpoint topic.
pub async fn read_checkpoints(
    base: ClientConfig,
    checkpoint_topic: &str,
    timeout: Duration,
) -> Result<HashMap<String, Checkpoint>, SinkError> {
    let topic = checkpoint_topic.to_string();
    blocking(move || {
        let mut config = base;
        config
            .set("group.id", "tweetpipe-extractor-checkpoint-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer<EofIsNotAnError> =
            config.create_with_context(EofIsNotAnError)?;
        let latest = read_latest(&consumer, topic, timeout);
        // Its close waits for the group coordinator, for ever while Kafka is unreachable.
        tweetpipe_common::kafka::retire(consumer);
        latest
    })
    .await
}

/// The last committed checkpoint of every query in `topic`, read up to the watermarks seen first.
fn read_latest(
    consumer: &BaseConsumer<EofIsNotAnError>,
    topic: String,
    timeout: Duration,
) -> Result<HashMap<String, Checkpoint>, SinkError> {
    let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(SinkError::MissingTopic { topic });
    }
    // Partition → high watermark when we started. Other replicas keep committing to the
    // topic, so "end of partition" may never be seen; reading up to the start-time high
    // watermark is enough. Each checkpoint is one record plus one commit marker, so the
    // last committed record before that watermark sits at `high - 2` at the latest.
    let mut pending: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(&topic, *p, timeout)?;
        if high > low {
            pending.insert(*p, high);
            assignment.add_partition_offset(&topic, *p, Offset::Beginning)?;
        }
    }
    let mut latest = HashMap::new();
    if pending.is_empty() {
        return Ok(latest);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + timeout * 2;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            return Err(SinkError::CheckpointTimeout { topic });
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(message)) => {
                let Some(payload) = message.payload() else {
                    continue;
                };
                let checkpoint =
                    Checkpoint::from_json(payload).map_err(|e| SinkError::BadCheckpoint {
                        topic: topic.clone(),
                        partition: message.partition(),
                        offset: message.offset(),
                        message: e.to_string(),
                    })?;
                latest.insert(checkpoint.query.clone(), checkpoint);
            }
        }
    }
    Ok(latest)
}
