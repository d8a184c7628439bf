//! Least privilege for the transformer: on a broker of the test's own with Kafka's ACL authorizer
//! on (`tweetpipe_testkit::secure_kafka`), the real transformer pipeline, authenticated as
//! `tweetpipe` over SASL_SSL, consumes posts, stores them and writes a dead letter with exactly
//! the ACLs docs/security.md lists; without the group ACL its consumer is refused with an
//! authorization error.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use support::*;
use tweetpipe_common::contract::kafka::KafkaSettings;
use tweetpipe_common::contract::topics;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_common::kafka::client_config;
use tweetpipe_common::kafka_connection::{explain_failure, is_authorization};
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::kafka::{create_post_topic_with_dlq, produce_raw, producer, read_committed};
use tweetpipe_testkit::mysql::{TestDb, wait_for_count};
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::records::produce_posts;
use tweetpipe_testkit::secure_kafka::{PrivateSecuredKafka, WORKER_USER};

const PRINCIPAL: &str = "User:tweetpipe";
const WAIT: Duration = Duration::from_secs(120);

/// Kafka's AclCommand off the async runtime (each call starts a JVM).
async fn acls(kafka: &Arc<PrivateSecuredKafka>, args: Vec<String>) {
    kafka.acls_off_runtime(args).await;
}

fn grant(operations: &[&str], kind: &str, names: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--add".to_string(),
        "--allow-principal".into(),
        PRINCIPAL.into(),
    ];
    for op in operations {
        args.extend(["--operation".into(), (*op).into()]);
    }
    for name in names {
        args.extend([format!("--{kind}"), (*name).into()]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformer_works_with_exactly_the_documented_acls_and_names_a_missing_one() {
    tweetpipe_testkit::telemetry::install("transformer-tests");
    let kafka = PrivateSecuredKafka::start_with_acls_off_runtime().await;
    let topic = unique("acl-posts");
    let dlq = topics::dlq_topic(&topic);
    create_post_topic_with_dlq(&kafka.plaintext, &topic, 2).await;
    // Posts and one undecodable record, produced as the super user (the extractor's ACLs are
    // its own test's).
    let posts = sample_posts(30, 1);
    produce_posts(&kafka.plaintext, &topic, &posts).await;
    produce_raw(
        &producer(&kafka.plaintext),
        &topic,
        "bad",
        b"not avro",
        Some("covid-en"),
    )
    .await
    .expect("bad record");

    let db = TestDb::create("tp_acl", &MIGRATOR).await;
    let mut transformer = config(&topic, &db, 10);
    let group = transformer.kafka.group_id.clone().expect("group");
    transformer.kafka = KafkaSettings {
        group_id: Some(group.clone()),
        ..kafka.settings(&topic, WORKER_USER)
    };
    for args in [
        grant(&["Read", "Describe"], "topic", &[&topic]),
        grant(&["Read", "Describe"], "group", &[&group]),
        grant(&["Write", "Describe"], "topic", &[&dlq]),
    ] {
        acls(&kafka, args).await;
    }
    let running = start(transformer.clone(), &db);
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", posts.len() as i64, WAIT).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut dead = 0;
    while dead == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead letter written as tweetpipe"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (bootstrap, dlq) = (kafka.plaintext.clone(), dlq.clone());
        dead = tokio::task::spawn_blocking(move || {
            let mut count = 0;
            read_committed(&bootstrap, &dlq, |_| count += 1).map(|()| count)
        })
        .await
        .expect("read")
        .expect("DLQ readable");
    }
    let consumed = running.metrics.records_consumed.get();
    running.stop().await;
    assert_eq!(
        consumed,
        posts.len() as u64 + 1,
        "every record read as tweetpipe"
    );
    assert_eq!(dead, 1, "the undecodable record, dead-lettered once");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM posts").await,
        posts.len() as i64
    );
    db.drop().await;

    // A group without its ACL: the consumer is refused, and the refusal is named.
    let other_group = format!("{group}-not-granted");
    let mut consumer_config = client_config(&KafkaSettings {
        group_id: Some(other_group.clone()),
        ..transformer.kafka.clone()
    })
    .expect("client config");
    consumer_config
        .set("group.id", &other_group)
        .set("auto.offset.reset", "earliest");
    let refusal = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = consumer_config.create().expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Some(Err(e)) = consumer.poll(Duration::from_millis(200))
                && e.rdkafka_error_code().is_some_and(is_authorization)
            {
                return Some((consumer_config, e));
            }
        }
        None
    })
    .await
    .expect("consumer task");
    let (consumer_config, error) = refusal.expect("a group without ACLs is refused");
    let explained =
        explain_failure(&consumer_config, &error, Duration::from_secs(10)).expect("told apart");
    eprintln!("missing group ACL: {explained}");
    assert_eq!(explained.kind(), "KafkaAuthorizationFailed", "{explained}");
    tokio::task::spawn_blocking(move || drop(kafka))
        .await
        .expect("stop");
}
