//! Kafka over SASL_SSL with SCRAM-SHA-512: posts produced the way the extractor produces them
//! (a transactional producer from `tweetpipe_common::kafka::client_config`, the extractor's
//! settings function) reach MariaDB through the real transformer pipeline, whose consumer and
//! DLQ producer come from the same function; and a wrong password, a wrong CA and an unknown host
//! each fail with their own message, free of secrets.
//!
//! The broker is the test's own (`tweetpipe_testkit::secure_kafka`, made by the platform's
//! `kafka.sh`), so the shared platform Kafka is left alone; MariaDB is the platform's.

mod support;

use std::time::Duration;

use rdkafka::producer::Producer;
use support::*;
use tweetpipe_common::contract::kafka::KafkaSettings;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_common::kafka::client_config;
use tweetpipe_common::kafka_connection::KafkaConnectionError;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::files::{temp_dir, write};
use tweetpipe_testkit::kafka::create_post_topic_with_dlq;
use tweetpipe_testkit::mysql::{TestDb, wait_for_count};
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::records::stage_posts_with;
use tweetpipe_testkit::secure_kafka::{PrivateSecuredKafka, WORKER_USER};

const WAIT: Duration = Duration::from_secs(120);
const CHECK: Duration = Duration::from_secs(10);

/// Produces `posts` in one transaction, as the extractor does (transactional id, idempotence).
async fn produce_as_the_extractor(
    settings: &KafkaSettings,
    posts: &[tweetpipe_common::post::Post],
) {
    let mut config = client_config(settings).unwrap_or_else(|e| panic!("client config: {e}"));
    config.set("enable.idempotence", "true");
    let producer = stage_posts_with(config, &settings.topic, posts).await;
    producer
        .commit_transaction(WAIT)
        .unwrap_or_else(|e| panic!("commit over SASL_SSL: {e}"));
}

/// The connection check with `settings`, off the async runtime.
async fn check(settings: KafkaSettings) -> Result<usize, KafkaConnectionError> {
    tweetpipe_testkit::kafka::connection_check(settings, CHECK).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_flow_over_sasl_ssl_and_each_misconfiguration_is_named() {
    tweetpipe_testkit::telemetry::install("transformer-tests");
    let kafka = tokio::task::spawn_blocking(PrivateSecuredKafka::start)
        .await
        .unwrap_or_else(|e| panic!("private secured Kafka: {e}"));
    let topic = unique("secured-posts");
    create_post_topic_with_dlq(&kafka.plaintext, &topic, 2).await;
    let settings = kafka.settings(&topic, WORKER_USER);
    assert_eq!(
        check(settings.clone())
            .await
            .expect("SCRAM-SHA-512 over TLS"),
        1
    );

    // Extractor side, then the transformer's pipeline reading over the same listener.
    let posts = sample_posts(40, 1);
    produce_as_the_extractor(&settings, &posts).await;
    let db = TestDb::create("tp_secured", &MIGRATOR).await;
    let mut transformer = config(&topic, &db, 10);
    transformer.kafka = KafkaSettings {
        group_id: transformer.kafka.group_id.clone(),
        ..settings.clone()
    };
    let running = start(transformer, &db);
    let consumed = running.metrics.records_consumed.clone();
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", posts.len() as i64, WAIT).await;
    running.stop().await;
    assert_eq!(
        consumed.get(),
        posts.len() as u64,
        "every record read over SASL_SSL"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM posts").await,
        posts.len() as i64,
        "each post once"
    );
    db.drop().await;

    // Three misconfigurations, three different errors; none quotes a password.
    let password = std::fs::read_to_string(kafka.user_files(WORKER_USER).1).expect("password");
    let scratch = temp_dir("secured-wrong");
    let wrong_password = "not-the-password-4711";
    let mut bad_password = settings.clone();
    bad_password.sasl_password_file = Some(write(&scratch, "password", wrong_password));
    let other_ca_dir = scratch.join("other-ca");
    let status = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../dev/platform/pki.sh"
        ))
        .arg("kafka")
        .arg(&other_ca_dir)
        .status()
        .expect("pki.sh");
    assert!(status.success(), "pki.sh kafka made a second CA");
    let mut bad_ca = settings.clone();
    bad_ca.ssl_ca_file = Some(other_ca_dir.join("ca.crt"));
    let port = kafka.secure.rsplit(':').next().expect("port");
    let mut unknown_host = settings.clone();
    unknown_host.bootstrap_servers = format!("no-such-kafka.invalid:{port}");

    let mut kinds = Vec::new();
    for (case, broken, expected_kind, expected_words) in [
        (
            "wrong password",
            bad_password,
            "KafkaAuthenticationFailed",
            "refused the SASL credentials",
        ),
        (
            "wrong CA",
            bad_ca,
            "KafkaCertificateUntrusted",
            "certificate is not trusted",
        ),
        (
            "unknown host",
            unknown_host,
            "KafkaHostUnknown",
            "cannot be resolved",
        ),
    ] {
        let err = check(broken)
            .await
            .expect_err(&format!("{case} must not connect"));
        let message = err.to_string();
        eprintln!("{case}: {message}");
        assert_eq!(err.kind(), expected_kind, "{case}: {message}");
        assert!(message.contains(expected_words), "{case}: {message}");
        assert!(
            !message.contains(password.trim()) && !message.contains(wrong_password),
            "{case}: a password leaked into {message}"
        );
        kinds.push(err.kind());
    }
    kinds.dedup();
    assert_eq!(kinds.len(), 3, "three distinct failures: {kinds:?}");
    std::fs::remove_dir_all(scratch).ok();
}
