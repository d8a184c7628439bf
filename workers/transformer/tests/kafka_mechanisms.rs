//! The other ways `tweetpipe_common::kafka::client_config` talks to a secured Kafka, each proved
//! on a broker: mutual TLS (`security_protocol: ssl` with a client certificate signed by the
//! broker's CA; without one, or with one of another CA, the broker refuses the connection and
//! the connection check says so), SASL_SSL with SCRAM-SHA-256 and
//! SASL_SSL with PLAIN. Each round-trips records: a producer and a consumer made by the workers'
//! own settings function write and read them back.
//!
//! The broker is the test's own (`tweetpipe_testkit::secure_kafka`, made by the platform's
//! `kafka.sh private-secured … mtls=PORT plain`), so the shared platform Kafka is left alone.
//! SCRAM-SHA-512 is proved with the transformer's pipeline in `kafka_secured`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use tweetpipe_common::contract::kafka::KafkaSettings;
use tweetpipe_common::kafka::client_config;
use tweetpipe_common::kafka_connection::KafkaConnectionError;
use tweetpipe_testkit::files::temp_dir;
use tweetpipe_testkit::kafka::create_topics;
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::secure_kafka::{BrokerOptions, PrivateSecuredKafka, WORKER_USER};

const CHECK: Duration = Duration::from_secs(10);
const RECORDS: usize = 20;

/// The connection check with `settings`, off the async runtime.
async fn check(settings: KafkaSettings) -> Result<usize, KafkaConnectionError> {
    tweetpipe_testkit::kafka::connection_check(settings, CHECK).await
}

/// Writes `RECORDS` records with a producer from `client_config(settings)` and reads them back
/// with a consumer from the same function; the keys read, in order of key.
async fn round_trip(case: &str, settings: &KafkaSettings) -> BTreeSet<String> {
    let producer: FutureProducer = client_config(settings)
        .unwrap_or_else(|e| panic!("{case}: client config: {e}"))
        .create()
        .unwrap_or_else(|e| panic!("{case}: producer: {e}"));
    for n in 0..RECORDS {
        let key = format!("{case}-{n}");
        producer
            .send(
                FutureRecord::to(&settings.topic)
                    .key(&key)
                    .payload(key.as_bytes()),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{case}: produce: {e}"));
    }
    let settings = settings.clone();
    let case = case.to_string();
    tokio::task::spawn_blocking(move || read_all(&case, &settings))
        .await
        .unwrap_or_else(|e| panic!("read: {e}"))
}

/// Reads `RECORDS` records of the topic's only partition from the beginning.
fn read_all(case: &str, settings: &KafkaSettings) -> BTreeSet<String> {
    let consumer: BaseConsumer = client_config(settings)
        .unwrap_or_else(|e| panic!("{case}: client config: {e}"))
        .set("group.id", unique("mechanism-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|e| panic!("{case}: consumer: {e}"));
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(&settings.topic, 0, Offset::Beginning)
        .unwrap_or_else(|e| panic!("{case}: partition: {e}"));
    consumer
        .assign(&partitions)
        .unwrap_or_else(|e| panic!("{case}: assign: {e}"));
    let mut keys = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys.len() < RECORDS {
        assert!(
            Instant::now() < deadline,
            "{case}: only {} of {RECORDS} records read back",
            keys.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let key = message
                    .key()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let value = message
                    .payload()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                assert_eq!(key, value, "{case}: the record as written");
                keys.insert(key.into_owned());
            }
            Some(Err(e)) => panic!("{case}: consume: {e}"),
            None => {}
        }
    }
    keys
}

fn expected_keys(case: &str) -> BTreeSet<String> {
    (0..RECORDS).map(|n| format!("{case}-{n}")).collect()
}

async fn create_topic(kafka: &PrivateSecuredKafka, topic: &str) {
    create_topics(
        &kafka.plaintext,
        &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
    )
    .await;
}

/// `settings` (`case`) must not connect: the broker refuses the client certificate. The
/// failure's message.
async fn certificate_refused(settings: KafkaSettings, case: &str) -> String {
    let err = match check(settings).await {
        Ok(answer) => panic!("{case} must not connect: {answer:?}"),
        Err(err) => err,
    };
    let message = err.to_string();
    eprintln!("{case}: {message}");
    assert_eq!(err.kind(), "KafkaClientCertificateRefused", "{message}");
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_scram_sha_256_and_plain_each_round_trip_records() {
    tweetpipe_testkit::telemetry::install("transformer-tests");
    let kafka = tokio::task::spawn_blocking(|| {
        PrivateSecuredKafka::start_with(BrokerOptions {
            mutual_tls: true,
            scram_sha_256: true,
            plain: true,
            ..BrokerOptions::default()
        })
    })
    .await
    .unwrap_or_else(|e| panic!("private secured Kafka: {e}"));

    // Mutual TLS: a client certificate of the broker's CA gets in, reads and writes.
    let topic = unique("mtls");
    create_topic(&kafka, &topic).await;
    let certificate = kafka.client_certificate("tweetpipe-worker");
    let mutual = kafka.mutual_tls_settings(&topic, Some(certificate));
    assert_eq!(
        check(mutual.clone())
            .await
            .expect("mutual TLS with a client certificate"),
        1
    );
    assert_eq!(round_trip("mtls", &mutual).await, expected_keys("mtls"));

    // Without a client certificate the broker ends the handshake.
    let anonymous = kafka.mutual_tls_settings(&topic, None);
    let message = certificate_refused(anonymous, "no client certificate").await;
    assert!(
        message.contains("refused the client certificate") && message.contains("bad certificate"),
        "{message}"
    );

    // A client certificate of another CA: refused the same way.
    let other_ca = temp_dir("mtls-other-ca");
    let pki = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/platform/pki.sh");
    for args in [
        vec!["kafka", other_ca.to_str().expect("path")],
        vec!["kafka-client", other_ca.to_str().expect("path"), "stranger"],
    ] {
        let status = std::process::Command::new("bash")
            .arg(pki)
            .args(&args)
            .status()
            .expect("pki.sh");
        assert!(status.success(), "pki.sh {args:?}");
    }
    let clients = other_ca.join("clients");
    let stranger = kafka.mutual_tls_settings(
        &topic,
        Some((clients.join("stranger.crt"), clients.join("stranger.key"))),
    );
    certificate_refused(stranger, "a client certificate of another CA").await;
    std::fs::remove_dir_all(other_ca).ok();

    // SCRAM-SHA-256 over TLS.
    let topic = unique("scram256");
    create_topic(&kafka, &topic).await;
    let scram256 = kafka.settings_with_mechanism(&topic, WORKER_USER, "SCRAM-SHA-256");
    assert_eq!(check(scram256.clone()).await.expect("SCRAM-SHA-256"), 1);
    assert_eq!(
        round_trip("scram256", &scram256).await,
        expected_keys("scram256")
    );

    // PLAIN over TLS.
    let topic = unique("plain");
    create_topic(&kafka, &topic).await;
    let plain = kafka.settings_with_mechanism(&topic, WORKER_USER, "PLAIN");
    assert_eq!(check(plain.clone()).await.expect("PLAIN"), 1);
    assert_eq!(round_trip("plain", &plain).await, expected_keys("plain"));
}
