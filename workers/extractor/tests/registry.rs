//! The extractor and the platform's schema registry: an outage at start is retried with
//! backoff until the registry answers, then records carry the Confluent wire format with the
//! registered id; a subject whose compatibility rule refuses the post schema stops start-up with
//! the subject and the registry's reason (no retry storm).

mod support;

use std::time::Duration;

use rdkafka::message::Message;
use support::*;
use tweetpipe_common::registry::{RegistryError, value_subject};
use tweetpipe_extractor::ExtractorError;
use tweetpipe_testkit::kafka::{bootstrap, read_committed};
use tweetpipe_testkit::ports::free_port;
use tweetpipe_testkit::registry::{TestRegistry, retyped_id};
use xapi_simulator::FaultConfig;

/// Forwards every connection on `port` to the registry's host and port (started late, it plays
/// a registry that comes up after the extractor).
async fn forward(port: u16, registry_base: &str) {
    let authority = registry_base
        .split_once("://")
        .map_or(registry_base, |(_, rest)| rest)
        .split('/')
        .next()
        .expect("an authority")
        .to_string();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the forwarder");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let authority = authority.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&authority).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_registry_is_waited_for_then_records_carry_its_schema_id() {
    let registry = TestRegistry::new();
    let setup = Setup::new(&bootstrap(), "registry-late").await;
    let subject = value_subject(&setup.topic);
    let sim = simulator(40, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    let port = free_port();
    let path = registry
        .base
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| path.to_string())
        .expect("the registry URL has a path");
    let mut config = setup.config(&sim, 60, 2, 100, &[("all", "covid")]);
    config["kafka"]["schema_registry_url"] = format!("http://127.0.0.1:{port}/{path}").into();
    let extractor = Extractor::start(&parse_config(config), 0).await;

    // Nothing listens yet: the extractor retries (backoff 100 ms .. 1 s in the test tuning).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !extractor.running.task.is_finished(),
        "an outage is retried, not fatal"
    );
    assert!(registry.versions(&subject).await.is_empty());
    forward(port, &registry.base).await;

    let cps = setup
        .wait_for_checkpoints(Duration::from_secs(60), |cps| collected(cps, "all", 1))
        .await;
    assert!(cps["all"].posts_total > 0);
    let registered = registry
        .latest_id(&subject)
        .await
        .expect("the extractor registered the post schema");
    assert_eq!(registry.versions(&subject).await, vec![1]);

    let (b, t) = (setup.bootstrap.clone(), setup.topic.clone());
    let values = tokio::task::spawn_blocking(move || {
        let mut values = Vec::new();
        read_committed(&b, &t, |m| {
            values.push(m.payload().expect("payload").to_vec())
        })
        .expect("read the post topic");
        values
    })
    .await
    .expect("join");
    assert!(!values.is_empty());
    for value in &values {
        assert_eq!(value[0], 0x00, "Confluent magic byte");
        assert_eq!(
            u32::from_be_bytes([value[1], value[2], value[3], value[4]]),
            registered,
            "the registered schema id"
        );
    }
    extractor.stop().await;
    registry.delete_subject(&subject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_subject_stops_start_up_with_the_registrys_reason() {
    let registry = TestRegistry::new();
    let setup = Setup::new(&bootstrap(), "registry-409").await;
    let subject = value_subject(&setup.topic);
    // A prior version whose `id` is a long, and a rule that checks new versions against it.
    registry.register_ok(&subject, &retyped_id()).await;
    registry.set_compatibility(&subject, "BACKWARD").await;
    let sim = simulator(10, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    let mut config = setup.config(&sim, 60, 2, 100, &[("all", "covid")]);
    config["kafka"]["schema_registry_url"] = registry.base.clone().into();
    let extractor = Extractor::start(&parse_config(config), 0).await;

    let ended = tokio::time::timeout(Duration::from_secs(60), extractor.running.task)
        .await
        .expect("a refused schema ends start-up instead of retrying")
        .expect("task");
    let err = ended.expect_err("start-up fails");
    let message = err.to_string();
    match &err {
        ExtractorError::SchemaRefused(RegistryError::Incompatible { subject: s, reason }) => {
            assert_eq!(s, &subject);
            assert!(
                reason.contains("not compatible") && reason.contains("/fields/0/type"),
                "the registry's explanation: {reason}"
            );
        }
        other => panic!("not an incompatible schema: {other}"),
    }
    assert!(message.contains(&subject), "{message}");
    assert_eq!(
        registry.versions(&subject).await,
        vec![1],
        "nothing registered"
    );
    let requests: u64 = sim.handle.stats().values().map(|t| t.requests).sum();
    assert_eq!(requests, 0, "no post is fetched without a schema id");
    registry.delete_subject(&subject).await;
}
