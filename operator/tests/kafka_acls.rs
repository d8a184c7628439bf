//! Least privilege for the operator: on a broker of the test's own with Kafka's ACL authorizer on
//! (`tweetpipe_testkit::secure_kafka`), the operator's principal `tweetpipe-admin` manages a
//! pipeline's topics and reads its progress and lag with exactly the ACLs docs/security.md lists,
//! (the ownership record in `<topic>.slots` included), and a topic outside them fails with
//! `KafkaAuthorizationFailed`.

use std::sync::Arc;
use std::time::Duration;

use tweetpipe_operator::crd::{KafkaSasl, KafkaSpec, KafkaTls, SaslMechanism, SecretKeyRef};
use tweetpipe_operator::decide::topic_owner::{Release, TopicOwner};
use tweetpipe_operator::reconcile::clients::Clients;
use tweetpipe_operator::reconcile::dependencies::kafka::{
    KAFKA_AUTHORIZATION_FAILED, clients_for, delete_topics, ensure_topics,
};
use tweetpipe_operator::reconcile::observe::progress::{
    ProgressCache, consumer_lag, read_checkpoints,
};
use tweetpipe_operator::reconcile::observe::secrets::{Resolved, SecretString};
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::secure_kafka::{ADMIN_USER, PrivateSecuredKafka};

const TIMEOUT: Duration = Duration::from_secs(10);

fn read(path: &std::path::Path) -> SecretString {
    SecretString::new(
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string(),
    )
}

fn spec(kafka: &PrivateSecuredKafka, topic: &str) -> KafkaSpec {
    let mut spec: KafkaSpec = serde_json::from_value(serde_json::json!({
        "bootstrapServers": kafka.secure, "topic": topic, "partitions": 2,
    }))
    .expect("kafka spec");
    spec.tls = Some(KafkaTls {
        ca_secret: Some(SecretKeyRef {
            name: "kafka-ca".into(),
            key: "ca.crt".into(),
        }),
        ..KafkaTls::default()
    });
    spec.sasl = Some(KafkaSasl {
        mechanism: SaslMechanism::ScramSha512,
        secret_name: "kafka-workers".into(),
        username_key: "username".into(),
        password_key: "password".into(),
        admin_secret_name: Some("kafka-admin".into()),
    });
    spec
}

/// The operator's ACLs of docs/security.md for the pipeline whose posts topic is `topic` (a
/// literal ACL on it, a prefixed one on `<topic>.` with Write for the ownership record) and
/// whose groups start with `group_prefix`.
fn grant_operator(kafka: &PrivateSecuredKafka, topic: &str, group_prefix: &str) {
    let principal = format!("User:{ADMIN_USER}");
    let companions = format!("{topic}.");
    let operations = [
        "Create",
        "Delete",
        "Alter",
        "AlterConfigs",
        "Describe",
        "DescribeConfigs",
        "Read",
    ];
    for (pattern, resource, write) in [("literal", topic, false), ("prefixed", &companions, true)] {
        let mut topic_ops = vec!["--add", "--allow-principal", &principal];
        for op in operations.iter().chain(write.then_some(&"Write")) {
            topic_ops.extend(["--operation", op]);
        }
        topic_ops.extend(["--resource-pattern-type", pattern, "--topic", resource]);
        kafka.acls(&topic_ops);
    }
    kafka.acls(&[
        "--add",
        "--allow-principal",
        &principal,
        "--operation",
        "Describe",
        "--resource-pattern-type",
        "prefixed",
        "--group",
        group_prefix,
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_manages_topics_with_exactly_the_documented_acls() {
    let blocking_kafka = PrivateSecuredKafka::start_with_acls_off_runtime().await;
    let topic = format!("{}.posts", unique("acl-pipe"));
    // The transformers' groups (`tweetpipe.<namespace>.<name>`), whose lag the operator reads.
    let group_prefix = "tweetpipe.";
    {
        let kafka = Arc::clone(&blocking_kafka);
        let (topic, group_prefix) = (topic.clone(), group_prefix.to_string());
        tokio::task::spawn_blocking(move || grant_operator(&kafka, &topic, &group_prefix))
            .await
            .expect("grant");
    }
    let kafka = blocking_kafka;
    let (admin_user, admin_password) = kafka.user_files(ADMIN_USER);
    let resolved = Resolved {
        mysql_admin_url: SecretString::new("unused".into()),
        reporting_password: None,
        kafka_sasl: Some((read(&admin_user), read(&admin_password))),
        kafka_ca_pem: Some(read(&kafka.ca_file())),
        kafka_client_pem: None,
        mysql_ca_pem: None,
    };
    let clients = Clients::default();
    let owner = TopicOwner {
        namespace: "acl".into(),
        name: "p".into(),
        uid: "acl-uid".into(),
    };
    let mut pipeline = spec(&kafka, &topic);
    let admin = clients_for(&clients, &pipeline, &resolved, TIMEOUT).expect("admin client");

    // Create, then correct drift and grow partitions (Describe, DescribeConfigs, AlterConfigs,
    // Alter), all as tweetpipe-admin.
    let report = ensure_topics(&admin, &pipeline, 2, &owner, TIMEOUT)
        .await
        .expect("topics created with the documented ACLs");
    assert_eq!(
        report.created.len(),
        4,
        "posts, checkpoints, DLQ, slots: {report:?}"
    );
    pipeline.retention_hours += 1;
    pipeline.partitions = 3;
    // The broker's metadata may not list new topics at once: until then they read as missing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let report = loop {
        let report = ensure_topics(&admin, &pipeline, 2, &owner, TIMEOUT)
            .await
            .expect("configs corrected and partitions grown");
        if !report.grown.is_empty() || tokio::time::Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(report.corrected.contains(&topic), "{report:?}");
    assert!(report.grown.contains(&topic), "{report:?}");

    // Progress and lag: the checkpoint topic read, a group's offsets listed.
    let (checkpoints, _) = read_checkpoints(
        &admin,
        &Arc::new(ProgressCache::default()),
        "acl",
        &format!("{topic}.checkpoints"),
        TIMEOUT,
    )
    .await
    .expect("checkpoints readable");
    assert!(checkpoints.is_empty());
    // First a group nobody has used, on this fresh broker: its coordinator answers
    // NOT_COORDINATOR until it has loaded, which crashed the process while lag was read with
    // librdkafka's admin ListConsumerGroupOffsets (rd_kafka_cgrp_op with no consumer group;
    // docs/security.md). Issued on the operator's lag reader, a consumer handle, that answer is an
    // error of the read, retried by the next one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let lag = loop {
        match consumer_lag(&admin, &topic, "tweetpipe.unseen", 2, TIMEOUT).await {
            Ok(lag) => break lag,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "lag of an unseen group: {e}"
                );
                eprintln!("lag of an unseen group on a fresh broker, retried: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(lag, 0, "an empty topic has no lag");
    // A group with committed offsets (as the superuser).
    let (bootstrap, group_topic) = (kafka.plaintext.clone(), topic.clone());
    tokio::task::spawn_blocking(move || commit_offsets(&bootstrap, "tweetpipe.acl", &group_topic))
        .await
        .expect("commit");
    let lag = consumer_lag(&admin, &topic, "tweetpipe.acl", 2, TIMEOUT)
        .await
        .expect("lag readable");
    assert_eq!(lag, 0);

    // A topic outside the granted prefix: refused, and the condition says so.
    let outside = spec(&kafka, &unique("not-granted"));
    let refused = ensure_topics(&admin, &outside, 2, &owner, TIMEOUT)
        .await
        .expect_err("no ACL for this topic");
    assert_eq!(refused.reason(), KAFKA_AUTHORIZATION_FAILED, "{refused}");
    assert!(refused.to_string().contains("ACL"), "{refused}");

    let released = delete_topics(&admin, &pipeline, &owner, TIMEOUT)
        .await
        .expect("topics deleted with the documented ACLs");
    assert_eq!(released, Release::Delete, "recorded as this pipeline's");
    drop(admin);
    drop(clients);
    tokio::task::spawn_blocking(move || drop(kafka))
        .await
        .expect("stop");
}

/// Commits offset 0 of `topic`'s two partitions for `group`, waiting for its coordinator.
fn commit_offsets(bootstrap: &str, group: &str, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    for partition in 0..2 {
        offsets
            .add_partition_offset(topic, partition, Offset::Offset(0))
            .expect("offset");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
        assert!(std::time::Instant::now() < deadline, "commit: {e}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
