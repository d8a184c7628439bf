//! The ownership record of a pipeline's topics (the rules are [`crate::decide::topic_owner`]):
//! read from partition 0 of `<topic>.slots`, appended when the topics are unclaimed. Every call
//! is bounded by the Kafka timeout; reads are blocking (run them on a blocking thread).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::kafka_error::{KafkaCheckError, topic_failure};
use crate::decide::topic_owner::{OWNER_KEY, TopicOwner, owner_of};
use crate::reconcile::clients::{KafkaClients, retire};

/// Answers of a partition whose leader is still being elected (a topic created a moment ago).
fn is_transient(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopic
        )
    )
}

/// `call` (given the time left), again while the partition has no leader yet (a topic created a
/// moment ago), until `deadline`.
pub(crate) fn until_led<T>(
    deadline: Instant,
    mut call: impl FnMut(Duration) -> Result<T, KafkaError>,
) -> Result<T, KafkaError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match call(left.max(Duration::from_millis(100))) {
            Err(e) if is_transient(&e) && !left.is_zero() => {
                std::thread::sleep(Duration::from_millis(200).min(left));
            }
            other => return other,
        }
    }
}

fn failed(slots: &str, what: &'static str, error: &KafkaError) -> KafkaCheckError {
    match error.rdkafka_error_code() {
        Some(code) => topic_failure(slots.to_string(), what, code),
        None => KafkaCheckError::Topic {
            topic: slots.to_string(),
            detail: format!("{what} failed: {error}"),
        },
    }
}

/// Waits until partition 0 of `topic` has a leader (metadata only), until `deadline`.
fn wait_for_leader(
    clients: &KafkaClients,
    topic: &str,
    deadline: Instant,
) -> Result<(), KafkaCheckError> {
    let mut last = String::from("no answer yet");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(KafkaCheckError::Topic {
                topic: topic.to_string(),
                detail: format!("partition 0 has no leader yet (last seen: {last})"),
            });
        }
        match clients
            .admin
            .inner()
            .fetch_metadata(Some(topic), left.min(Duration::from_secs(2)))
        {
            Ok(metadata) => {
                let led = metadata.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error().is_none()
                        && t.partitions()
                            .iter()
                            .any(|p| p.id() == 0 && p.error().is_none() && p.leader() >= 0)
                });
                if led {
                    return Ok(());
                }
                last = "the topic or its leader is not in the metadata".into();
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100).min(left));
    }
}

/// The owner recorded in `slots` (partition 0), `None` when no record is there. Blocking, at most
/// about `timeout`.
///
/// Reads up to the high watermark taken first, on the endpoint's owner reader (no end-of-partition
/// events: the position says when the read is done), keeping only records of `slots` partition 0
/// in offset order, so nothing left over from an earlier read of another topic can count.
pub fn read_owner(
    clients: &KafkaClients,
    slots: &str,
    timeout: Duration,
) -> Result<Option<TopicOwner>, KafkaCheckError> {
    let deadline = Instant::now() + timeout;
    // A topic created a moment ago has no leader yet, and a watermark request for it waits out
    // its whole timeout: wait for the leader on the shared admin client first, so the one owner
    // reader is held only for reads that answer at once.
    wait_for_leader(clients, slots, deadline)?;
    let mut guard = clients
        .owner_reader
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let consumer = guard.as_mut().ok_or_else(|| KafkaCheckError::Topic {
        topic: slots.to_string(),
        detail: "the Kafka clients are closing".into(),
    })?;
    let (low, high) = until_led(deadline, |left| consumer.fetch_watermarks(slots, 0, left))
        .map_err(|e| failed(slots, "read the ownership record's offsets", &e))?;
    if high <= low {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(slots, 0, Offset::Offset(low))
        .map_err(|e| failed(slots, "assign the ownership partition", &e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| failed(slots, "assign the ownership partition", &e))?;
    let mut records = BTreeMap::new();
    let mut next = low;
    let outcome = loop {
        if next >= high {
            break Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(KafkaCheckError::Topic {
                topic: slots.to_string(),
                detail: format!(
                    "the ownership record was not read within {timeout:?} (read offsets {low}..{next} of {high})"
                ),
            });
        }
        match consumer.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(message)) if message.topic() == slots && message.partition() == 0 => {
                next = next.max(message.offset() + 1);
                if message.key() == Some(OWNER_KEY)
                    && let Some(owner) = message.payload().and_then(TopicOwner::from_json)
                {
                    records.insert(message.offset(), owner);
                }
            }
            // Another topic's late record, or a fetch error the consumer retries.
            Some(Ok(_)) => {}
            Some(Err(e)) if is_transient(&e) => {}
            Some(Err(e)) => break Err(failed(slots, "read the ownership record", &e)),
            // Nothing delivered: past records the reader skips (transaction markers), the
            // position still moves.
            None => {
                if let Ok(position) = consumer.position()
                    && let Some(Offset::Offset(at)) = position
                        .find_partition(slots, 0)
                        .map(|element| element.offset())
                {
                    next = next.max(at);
                }
            }
        }
    };
    let _ = consumer.unassign();
    outcome.map(|()| owner_of(records.into_values()))
}

/// Appends `owner`'s record to `slots` (partition 0) and waits until every in-sync replica has it.
pub async fn write_owner(
    clients: &KafkaClients,
    slots: &str,
    owner: &TopicOwner,
    timeout: Duration,
) -> Result<(), KafkaCheckError> {
    let mut config = clients.config.clone();
    config
        .set("acks", "all")
        // An idempotent producer would need the IdempotentWrite ACL on older brokers.
        .set("enable.idempotence", "false")
        .set("linger.ms", "0")
        .set("message.timeout.ms", timeout.as_millis().to_string());
    let producer: FutureProducer = config
        .create()
        .map_err(|e| failed(slots, "make a producer for the ownership record", &e))?;
    let value = owner.to_json();
    let record = FutureRecord::to(slots)
        .partition(0)
        .key(OWNER_KEY)
        .payload(&value);
    let sent = producer.send(record, Timeout::After(timeout)).await;
    // Closing waits for the producer's broker connections: not on an async worker.
    retire(producer);
    sent.map(|_| ())
        .map_err(|(e, _)| failed(slots, "write the ownership record", &e))
}
