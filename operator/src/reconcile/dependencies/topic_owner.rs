//! The ownership record of a pipeline's topics (the rules are [`crate::decide::topic_owner`]):
//! read from partition 0 of `<topic>.slots`, appended when the topics are unclaimed. Every call
//! is bounded by the Kafka timeout; reads are blocking (run them on a blocking thread).

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::kafka::{KafkaCheckError, topic_failure};
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

/// The owner recorded in `slots` (partition 0), `None` when no record is there. Blocking, at most
/// about `timeout`.
pub fn read_owner(
    clients: &KafkaClients,
    slots: &str,
    timeout: Duration,
) -> Result<Option<TopicOwner>, KafkaCheckError> {
    let deadline = Instant::now() + timeout;
    let consumer = clients.progress_consumer(slots);
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
    let mut records = Vec::new();
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
        match consumer.poll(left.min(Duration::from_millis(500))) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => break Ok(()),
            Some(Err(e)) if is_transient(&e) => {}
            Some(Err(e)) => break Err(failed(slots, "read the ownership record", &e)),
            Some(Ok(message)) => {
                next = message.offset() + 1;
                if message.key() == Some(OWNER_KEY)
                    && let Some(owner) = message.payload().and_then(TopicOwner::from_json)
                {
                    records.push(owner);
                }
            }
        }
    };
    let _ = consumer.unassign();
    outcome.map(|()| owner_of(records))
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
