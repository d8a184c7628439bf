//! Least privilege for the extractor: on a broker of the test's own with Kafka's ACL authorizer
//! on (`tweetpipe_testkit::secure_kafka`), the real extractor, authenticated as `tweetpipe` over
//! SASL_SSL, writes posts and checkpoints with exactly the ACLs docs/security.md lists; without
//! its transactional-id ACL the producer is refused and the failure is named
//! `KafkaAuthorizationFailed`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use tweetpipe_common::contract::{names, topics};
use tweetpipe_common::kafka::client_config;
use tweetpipe_common::kafka_connection::explain_failure;
use tweetpipe_extractor::sink::{Sink, SinkError};
use tweetpipe_testkit::secure_kafka::{PrivateSecuredKafka, WORKER_USER};
use xapi_simulator::FaultConfig;

const PRINCIPAL: &str = "User:tweetpipe";

/// Kafka's AclCommand off the async runtime (each call starts a JVM).
async fn acls(kafka: &Arc<PrivateSecuredKafka>, args: Vec<String>) {
    kafka.acls_off_runtime(args).await;
}

fn acl(
    action: &str,
    operations: &[&str],
    resources: &[(&str, &str)],
    prefixed: bool,
) -> Vec<String> {
    let mut args = vec![action.to_string()];
    if action == "--remove" {
        args.push("--force".into());
    }
    args.extend(["--allow-principal".into(), PRINCIPAL.into()]);
    for op in operations {
        args.extend(["--operation".into(), (*op).into()]);
    }
    if prefixed {
        args.extend(["--resource-pattern-type".into(), "prefixed".into()]);
    }
    for (kind, name) in resources {
        args.extend([format!("--{kind}"), (*name).into()]);
    }
    args
}

/// The extractor's ACLs of docs/security.md for pipeline `pipeline` writing `topic`.
fn extractor_acls(topic: &str, pipeline: &str) -> Vec<Vec<String>> {
    let checkpoints = topics::checkpoint_topic(topic);
    let slots = topics::slots_topic(topic);
    let group = names::extractor_group_id(pipeline);
    let transactional_prefix = names::extractor_transactional_id(pipeline, 0)
        .trim_end_matches('0')
        .to_string();
    vec![
        acl(
            "--add",
            &["Write", "Describe"],
            &[("topic", topic), ("topic", &checkpoints)],
            false,
        ),
        acl(
            "--add",
            &["Read", "Describe"],
            &[("topic", &checkpoints), ("topic", &slots)],
            false,
        ),
        acl("--add", &["Read", "Describe"], &[("group", &group)], false),
        transactional_acl("--add", &transactional_prefix),
    ]
}

fn transactional_acl(action: &str, prefix: &str) -> Vec<String> {
    acl(
        action,
        &["Write", "Describe"],
        &[("transactional-id", prefix)],
        true,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_works_with_exactly_the_documented_acls_and_names_a_missing_one() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let kafka = PrivateSecuredKafka::start_with_acls_off_runtime().await;
    // Topics through the plaintext listener (the super user), as the operator would make them.
    let setup = Setup::new(&kafka.plaintext, "acl").await;
    let sim = simulator(120, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    let mut value = setup.config(&sim, 60, 2, 100, &[("all", "covid")]);
    let settings = kafka.settings(&setup.topic, WORKER_USER);
    value["kafka"] = serde_json::to_value(&settings).expect("settings");
    let config = parse_config(value);
    for grant in extractor_acls(&setup.topic, &config.pipeline) {
        acls(&kafka, grant).await;
    }

    let expected = sim.handle.matching_ids("covid").expect("query");
    let extractor = Extractor::start(&config, 0).await;
    // Checkpoints and records through the plaintext listener, as `setup` made the topics.
    setup
        .wait_caught_up("all", &expected[0], Duration::from_secs(120))
        .await;
    let summary = extractor.stop().await;
    assert_eq!(summary.posts as usize, expected.len());
    let records = setup.records().await;
    assert_eq!(
        records.len(),
        expected.len(),
        "every post written as tweetpipe"
    );

    // Without the transactional-id ACL the producer is refused, and the failure says so.
    let prefix = names::extractor_transactional_id(&config.pipeline, 0)
        .trim_end_matches('0')
        .to_string();
    acls(&kafka, transactional_acl("--remove", &prefix)).await;
    let base = client_config(&settings).expect("client config");
    let refused = Sink::connect(
        base.clone(),
        &names::extractor_transactional_id(&config.pipeline, 1),
        &setup.topic,
        &topics::checkpoint_topic(&setup.topic),
        &[topics::slots_topic(&setup.topic)],
        Duration::from_secs(10),
    )
    .await
    .err()
    .expect("no transactional-id ACL: refused");
    let SinkError::Kafka(error) = &refused else {
        panic!("not a Kafka error: {refused}");
    };
    let error = error.clone();
    let explained = tokio::task::spawn_blocking(move || {
        explain_failure(&base, &error, Duration::from_secs(10))
    })
    .await
    .expect("explain")
    .expect("told apart");
    eprintln!("missing ACL: {explained}");
    assert_eq!(explained.kind(), "KafkaAuthorizationFailed", "{explained}");
    assert!(explained.to_string().contains("ACL"), "{explained}");
    sim.stop().await;
    tokio::task::spawn_blocking(move || drop(kafka))
        .await
        .expect("stop");
}
