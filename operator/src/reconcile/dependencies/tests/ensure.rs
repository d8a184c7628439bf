//! The dependencies step (`reconcile::dependencies::ensure`) without a broker or a server: a
//! scripted topic admin and schema owner (`test_support::fakes`) stand in for Kafka and MySQL.
//! What runs, in which order, what each outcome becomes in the state the decision reads, and the
//! events.

use std::sync::Arc;

use tweetpipe_operator_core::fixtures::pipeline;

use crate::decide::conditions::Check;
use crate::decide::events::EventSpec;
use crate::policy::MAX_PARTITIONS_SETTING;
use crate::reconcile::dependencies;
use crate::reconcile::observe::{DependencyState, References};
use crate::test_support::fakes::{
    Answer, ScriptedSchema, ScriptedTopics, TopicsAnswer, account, secrets,
};
use crate::test_support::mock_api::World;

/// One dependencies step of the fixture pipeline in `world`.
async fn ensure(world: World) -> (DependencyState, Vec<EventSpec>) {
    let (started, _api) = world.start();
    let references = References {
        resolved: Ok(secrets()),
        accounts: vec![account("first")],
        secrets: Default::default(),
    };
    dependencies::ensure(&started.shared.ctx, &pipeline(), &references).await
}

fn reason(check: &Check) -> Option<&str> {
    match check {
        Check::Failed { reason, .. } => Some(reason),
        _ => None,
    }
}

/// Both in shape: Kafka and MySQL are Ok, the clients and partitions are kept for the observe
/// step, and the created topics become one event.
#[tokio::test]
async fn topics_and_schema_in_shape_give_ok_checks_clients_and_an_event() {
    let topics = ScriptedTopics::new(TopicsAnswer::Created(vec![
        "covid19".into(),
        "covid19.checkpoints".into(),
    ]));
    let schema = Arc::new(ScriptedSchema::healthy());
    let (state, events) = ensure(World::new().topics(topics.clone()).schema(schema.clone())).await;
    assert_eq!(state.kafka, Check::Ok);
    assert_eq!(state.mysql, Check::Ok);
    assert_eq!(state.partitions, Some(pipeline().spec.kafka.partitions));
    assert!(
        state.kafka_clients.is_some(),
        "the observe step reads with them"
    );
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["TopicsCreated"]);
    assert!(
        events[0].note.contains("covid19.checkpoints"),
        "{}",
        events[0].note
    );
    assert_eq!(topics.calls(), ["clients", "ensure_topics"]);
    assert_eq!(
        schema.calls(),
        ["connect", "claim_database", "migrate", "ensure_account"]
    );
}

/// Above the administrator's maxima: Kafka is never asked (no topic is created or changed), and
/// the MySQL half, independent of it, still runs.
#[tokio::test]
async fn a_spec_above_the_kafka_maxima_never_reaches_kafka() {
    let topics = ScriptedTopics::new(TopicsAnswer::Created(Vec::new()));
    let schema = Arc::new(ScriptedSchema::healthy());
    let world = World::new()
        .topics(topics.clone())
        .schema(schema.clone())
        .setting(MAX_PARTITIONS_SETTING, "2");
    let (state, events) = ensure(world).await;
    assert_eq!(reason(&state.kafka), Some("KafkaLimitExceeded"));
    assert!(state.kafka_clients.is_none());
    assert!(events.is_empty());
    assert_eq!(topics.calls(), Vec::<&str>::new(), "Kafka was asked");
    assert_eq!(state.mysql, Check::Ok);
}

/// Another pipeline's topics: the reason names it, and no clients or partitions are kept.
#[tokio::test]
async fn topics_owned_by_another_pipeline_are_refused_with_its_reason() {
    let topics = ScriptedTopics::new(TopicsAnswer::Owned);
    let schema = Arc::new(ScriptedSchema::healthy());
    let (state, events) = ensure(World::new().topics(topics.clone()).schema(schema)).await;
    assert_eq!(reason(&state.kafka), Some("TopicOwnedByAnotherPipeline"));
    let Check::Failed { message, .. } = &state.kafka else {
        panic!("{:?}", state.kafka)
    };
    assert!(message.contains("tweets/other"), "{message}");
    assert!(state.kafka_clients.is_none() && state.partitions.is_none());
    assert!(events.is_empty());
    assert_eq!(
        topics.calls(),
        ["clients", "ensure_topics"],
        "not diagnosed"
    );
}

/// A broker that never answers holds the step no longer than its bound (6 × the Kafka timeout),
/// and the failure is then diagnosed (certificate, password, host) for the condition.
#[tokio::test]
async fn a_silent_broker_is_bounded_then_diagnosed() {
    let topics = ScriptedTopics::new(TopicsAnswer::Hang);
    let schema = Arc::new(ScriptedSchema {
        migrate: Answer::Failed,
        ..ScriptedSchema::healthy()
    });
    let world = World::new()
        .topics(topics.clone())
        .schema(schema)
        .setting("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", "1");
    let (state, _) = tokio::time::timeout(std::time::Duration::from_secs(30), ensure(world))
        .await
        .expect("the dependencies step is bounded");
    let Check::Failed { message, .. } = &state.kafka else {
        panic!("{:?}", state.kafka)
    };
    assert!(message.contains("diagnosed"), "{message}");
    assert_eq!(topics.calls(), ["clients", "ensure_topics", "diagnose"]);
    // The MySQL half reports its own failure beside it.
    assert_eq!(reason(&state.mysql), Some("MigrationFailed"));
}
