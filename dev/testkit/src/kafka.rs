//! Kafka clients and topics, on the platform's broker or on a broker a test runs itself
//! (every function takes the bootstrap servers).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tweetpipe_common::contract::topics;

use crate::names::unique;

/// The platform's Kafka bootstrap servers; panics unless Kafka accepts connections.
pub fn bootstrap() -> String {
    let platform = crate::platform();
    platform.require_kafka();
    platform.kafka_bootstrap.clone()
}

/// An admin client.
pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap_or_else(|e| panic!("admin client: {e}"))
}

/// Creates `topics`; panics naming the first that fails.
pub async fn create_topics(bootstrap: &str, topics: &[NewTopic<'_>]) {
    let results = admin(bootstrap)
        .create_topics(
            topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        )
        .await
        .unwrap_or_else(|e| panic!("create topics: {e}"));
    for result in results {
        if let Err((name, code)) = result {
            panic!("create topic {name}: {code}");
        }
    }
}

/// The extractor's topics: the post topic (3 partitions), its compacted checkpoint topic and
/// its slots topic.
pub async fn create_post_topic_with_checkpoints(bootstrap: &str, topic: &str) {
    let checkpoints = topics::checkpoint_topic(topic);
    let slots = topics::slots_topic(topic);
    create_topics(
        bootstrap,
        &[
            NewTopic::new(topic, 3, TopicReplication::Fixed(1)),
            NewTopic::new(&checkpoints, 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact"),
            // The extractors' query slots: more than any test has queries (slots without a
            // query are ignored).
            NewTopic::new(&slots, 8, TopicReplication::Fixed(1)),
        ],
    )
    .await;
}

/// The transformer's topics: the post topic (`partitions`) and its dead-letter topic.
pub async fn create_post_topic_with_dlq(bootstrap: &str, topic: &str, partitions: i32) {
    let dlq = topics::dlq_topic(topic);
    create_topics(
        bootstrap,
        &[
            NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
            NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)),
        ],
    )
    .await;
}

/// An idempotent producer.
pub fn producer(bootstrap: &str) -> FutureProducer {
    producer_config(bootstrap)
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"))
}

/// The settings of [`producer`], for a caller that adds its own (a transactional id, say).
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5");
    config
}

/// Each partition's high watermark (partitions `0..partitions`), as `reader` sees it: with
/// `isolation.level` read_uncommitted, records of open transactions count too.
pub fn high_watermarks(
    reader: &BaseConsumer,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Vec<i64> {
    (0..partitions)
        .map(|p| {
            reader
                .fetch_watermarks(topic, p, timeout)
                .unwrap_or_else(|e| panic!("watermarks of {topic} [{p}] within {timeout:?}: {e}"))
                .1
        })
        .collect()
}

/// Produces one record with the query header (when given) and a fixed `traceparent`.
pub async fn produce_raw(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    query: Option<&str>,
) -> Result<(), String> {
    let mut headers = OwnedHeaders::new();
    if let Some(query) = query {
        headers = headers.insert(Header {
            key: tweetpipe_common::headers::QUERY,
            value: Some(query.as_bytes()),
        });
    }
    headers = headers.insert(Header {
        key: "traceparent",
        value: Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".as_slice()),
    });
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

/// A member of a group of its own, subscribed to `topic` and polled until it holds partitions:
/// its group metadata fences a transaction as an extractor's slot ownership does.
pub fn group_member(bootstrap: &str, topic: &str) -> BaseConsumer {
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("xt-member"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    member.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let assigned = member.assignment().map(|a| a.count()).unwrap_or(0);
        if assigned > 0 {
            return member;
        }
        assert!(
            Instant::now() < deadline,
            "no partition of {topic} assigned to a new group member within 60 s (bootstrap {bootstrap})"
        );
        if let Some(Err(e)) = member.poll(Duration::from_millis(200)) {
            eprintln!("group member of {topic}: {e}");
        }
    }
}

/// A read-committed consumer of its own group, assigned every partition of `topic` from the
/// beginning; also the partition count.
fn consumer(bootstrap: &str, topic: &str) -> (BaseConsumer, usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("xt-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let partitions = tpl.count();
    (consumer, partitions)
}

/// Every committed message of `topic` up to its end as of now: each partition is read to EOF
/// or, while a running extractor keeps committing one record per transaction, up to the high
/// watermark seen at the start (the last record sits before its commit marker).
pub fn read_committed(
    bootstrap: &str,
    topic: &str,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), String> {
    let (consumer, partitions) = consumer(bootstrap, topic);
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for p in 0..partitions as i32 {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| format!("watermarks of {topic}: {e}"))?;
        if high > low {
            pending.insert(p, high);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} to its end took over a minute"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                each(&m);
                if pending
                    .get(&m.partition())
                    .is_some_and(|high| m.offset() >= high - 2)
                    && topic.ends_with(topics::CHECKPOINT_SUFFIX)
                {
                    pending.remove(&m.partition());
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => return Err(format!("consume {topic}: {e}")),
            None => {}
        }
    }
    Ok(())
}

/// The workers' connection check (`check_connection`) with a client made from `settings` as the
/// workers make theirs, off the async runtime: the brokers seen, or why none answered.
pub async fn connection_check(
    settings: tweetpipe_common::contract::kafka::KafkaSettings,
    timeout: std::time::Duration,
) -> Result<usize, tweetpipe_common::kafka_connection::KafkaConnectionError> {
    tokio::task::spawn_blocking(move || {
        let config = tweetpipe_common::kafka::client_config(&settings)
            .unwrap_or_else(|e| panic!("client config: {e}"));
        tweetpipe_common::kafka_connection::check_connection(&config, timeout)
    })
    .await
    .unwrap_or_else(|e| panic!("the connection check task: {e}"))
}
