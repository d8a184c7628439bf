//! The operator's progress reads against real Kafka: checkpoints written in transactions (as the
//! extractors write them) are read to the partition's end — past the commit marker — and the read
//! says how it ended, so an idle pipeline never waits out a timeout. Lag comes from the group's
//! committed offsets through the shared admin client.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_operator::reconcile::clients::KafkaClients;
use tweetpipe_operator::reconcile::observe::progress::{
    ProgressCache, ReadEnd, consumer_lag, read_checkpoints,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn bootstrap() -> String {
    tweetpipe_testkit::platform()
        .require_kafka()
        .kafka_bootstrap
        .clone()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

async fn create_topic(clients: &KafkaClients, topic: &str, partitions: i32) {
    let results = clients
        .admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic");
    for result in results {
        result.expect("topic created");
    }
}

fn transactional_producer() -> ThreadedProducer<DefaultProducerContext> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("transactional.id", unique("progress-test"))
        .create()
        .expect("producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init transactions");
    producer
}

fn checkpoint(query: &str, posts: u64) -> String {
    serde_json::json!({
        "query": query, "since_id": "1", "newest_id": "9", "posts_total": posts,
        "last_poll_at": "2026-11-30T12:00:00Z", "month": "2026-11", "month_posts": posts
    })
    .to_string()
}

fn commit(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    records: &[(&str, u64)],
) {
    producer.begin_transaction().expect("begin");
    for (query, posts) in records {
        let value = checkpoint(query, *posts);
        producer
            .send(BaseRecord::to(topic).key(*query).payload(&value))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.commit_transaction(TIMEOUT).expect("commit");
}

/// Waits until the last commit's markers are written: commit_transaction returns once the
/// coordinator decided, and the partition's last stable offset catches up a moment later.
fn wait_stable(clients: &KafkaClients, topic: &str) {
    for _ in 0..100 {
        let (_, high) = clients
            .admin
            .inner()
            .fetch_watermarks(topic, 0, TIMEOUT)
            .expect("watermarks");
        let (_, stable) = clients
            .progress_consumer(topic)
            .fetch_watermarks(topic, 0, TIMEOUT)
            .expect("stable watermarks");
        if stable == high {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the last stable offset of {topic} never caught up with its end");
}

/// Waits for the last commit to be stable, then reads the checkpoints, which must reach the
/// partition's end; `what` names the read in a failure.
async fn read_to_end(
    clients: &Arc<KafkaClients>,
    cache: &Arc<ProgressCache>,
    topic: &str,
    what: &str,
) -> Vec<Checkpoint> {
    wait_stable(clients, topic);
    let (checkpoints, end) = read_checkpoints(clients, cache, topic, topic, TIMEOUT)
        .await
        .expect(what);
    assert_eq!(end, ReadEnd::EndOfPartition, "{what}");
    checkpoints
}

/// Each checkpoint's query and posts, in the order read.
fn posts_by_query(checkpoints: &[Checkpoint]) -> Vec<(String, u64)> {
    checkpoints
        .iter()
        .map(|c| (c.query.clone(), c.posts_total))
        .collect()
}

fn clients() -> Arc<KafkaClients> {
    Arc::new(
        KafkaClients::new(ClientConfig::new().set("bootstrap.servers", bootstrap()))
            .expect("clients"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_checkpoint_topic_is_read_to_its_end_not_to_a_deadline() {
    let clients = clients();
    let topic = unique("progress.checkpoints");
    create_topic(&clients, &topic, 1).await;
    let cache = Arc::new(ProgressCache::default());
    let producer = transactional_producer();

    // The failure this guards against: the last offset of a transactional partition is a commit
    // marker, never delivered, so "stop at high - 1" waited for the next commit or the timeout.
    commit(&producer, &topic, &[("a", 1), ("b", 2)]);
    commit(&producer, &topic, &[("a", 3)]);
    let checkpoints = read_to_end(&clients, &cache, &topic, "read to the end").await;
    assert_eq!(
        posts_by_query(&checkpoints),
        vec![("a".into(), 3), ("b".into(), 2)]
    );

    // Idle extractors: nothing new, and the read knows it without polling at all.
    let (again, end) = read_checkpoints(&clients, &cache, &topic, &topic, TIMEOUT)
        .await
        .expect("second read");
    assert_eq!(end, ReadEnd::NothingNew);
    assert_eq!(again, checkpoints);

    // New progress is picked up incrementally, the rest kept.
    commit(&producer, &topic, &[("b", 7)]);
    let checkpoints = read_to_end(&clients, &cache, &topic, "third read").await;
    assert_eq!(
        posts_by_query(&checkpoints),
        vec![("a".into(), 3), ("b".into(), 7)]
    );

    // An open (uncommitted) transaction is not progress yet, and does not make the read wait.
    producer.begin_transaction().expect("begin");
    let value = checkpoint("a", 99);
    producer
        .send(BaseRecord::to(&topic).key("a").payload(&value))
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(TIMEOUT).expect("flush");
    let fresh = Arc::new(ProgressCache::default());
    let (checkpoints, end) = read_checkpoints(&clients, &fresh, &topic, &topic, TIMEOUT)
        .await
        .expect("read beside an open transaction");
    assert_eq!(end, ReadEnd::EndOfPartition);
    assert_eq!(
        checkpoints
            .iter()
            .find(|c| c.query == "a")
            .map(|c| c.posts_total),
        Some(3),
        "uncommitted checkpoint must not count"
    );
    producer.abort_transaction(TIMEOUT).expect("abort");
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_is_what_the_group_has_not_committed() {
    let clients = clients();
    let topic = unique("progress-posts");
    create_topic(&clients, &topic, 2).await;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    for i in 0..10 {
        let key = format!("k{i}");
        producer
            .send(
                BaseRecord::to(&topic)
                    .key(&key)
                    .payload("x")
                    .partition(i % 2),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(TIMEOUT).expect("flush");
    let group = unique("progress-group");
    assert_eq!(
        consumer_lag(&clients, &topic, &group, 2, TIMEOUT)
            .await
            .expect("lag"),
        10,
        "a group that committed nothing has everything to do"
    );
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", &group)
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(4))
        .expect("offset");
    offsets
        .add_partition_offset(&topic, 1, Offset::Offset(2))
        .expect("offset");
    consumer
        .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
        .expect("commit offsets");
    assert_eq!(
        consumer_lag(&clients, &topic, &group, 2, TIMEOUT)
            .await
            .expect("lag"),
        (5 - 4) + (5 - 2),
        "lag counts from the committed offsets"
    );
}

/// What the extractor's stream writes (rule id and the connection's record, on each query's
/// checkpoint) reaches the status's connection entries through a real checkpoint read; a
/// record of an older extractor (no rule id, no connection) still reads.
#[tokio::test(flavor = "multi_thread")]
async fn stream_checkpoints_carry_the_rule_and_the_connection_into_the_status() {
    use tweetpipe_operator::crd::QueryDelivery;
    use tweetpipe_operator::decide::stream::{connections, states};

    let clients = clients();
    let topic = unique("progress-stream.checkpoints");
    create_topic(&clients, &topic, 1).await;
    let cache = Arc::new(ProgressCache::default());
    let producer = transactional_producer();
    let now = chrono::Utc::now();
    let at = |seconds_ago: i64| {
        (now - chrono::TimeDelta::seconds(seconds_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let busy = serde_json::json!({"query": "covid-en", "posts_total": 40, "stream": {
        "stored_until": at(5), "rule_id": "1866000000000000001",
        "connection": {"reconnects": 3, "connected_at": at(600), "last_received_at": at(2),
                       "backfill_minutes": 5}}});
    let quiet = serde_json::json!({"query": "quarantine-en", "stream": {
        "stored_until": at(40), "rule_id": "1866000000000000002",
        "connection": {"reconnects": 2, "connected_at": at(900), "last_received_at": at(40),
                       "backfill_minutes": 5}}});
    let older = serde_json::json!({"query": "covid-pt", "stream": {"stored_until": at(10)}});
    producer.begin_transaction().expect("begin");
    for value in [&busy, &quiet, &older] {
        let key = value["query"].as_str().expect("query").to_string();
        let payload = value.to_string();
        producer
            .send(BaseRecord::to(&topic).key(&key).payload(&payload))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.commit_transaction(TIMEOUT).expect("commit");
    let checkpoints = read_to_end(&clients, &cache, &topic, "stream checkpoints").await;
    let rule_of = |query: &str| {
        checkpoints
            .iter()
            .find(|c| c.query == query)
            .and_then(|c| c.stream.as_ref())
            .map(|s| s.rule_id.clone())
    };
    assert_eq!(
        rule_of("covid-en"),
        Some(Some("1866000000000000001".into()))
    );
    assert_eq!(rule_of("covid-pt"), Some(None), "an older record reads");

    // The fixture's covid-en and quarantine-en stream on token 0.
    let tp = tweetpipe_operator_core::fixtures::pipeline_with(|tp| {
        tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
        tp.spec.source.queries[2].delivery = QueryDelivery::Stream;
    });
    let status = connections(&tp.spec, &checkpoints, now);
    assert_eq!(status.len(), 1);
    let c = &status[0];
    assert_eq!(
        (c.token, c.rules, c.state.as_str()),
        (0, 2, states::STREAMING)
    );
    assert_eq!(c.reconnects, 3, "the freshest copy: {c:?}");
    assert_eq!(c.last_received_at, Some(at(2)));
    assert_eq!(c.connected_at, Some(at(600)));
    assert_eq!(c.last_backfill_minutes, 5);
    assert_eq!(c.stored_until, Some(at(40)));
}
