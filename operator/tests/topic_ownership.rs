//! Topics are owned (issue 19), against the platform's real Kafka: the first pipeline to record
//! itself in `<topic>.slots` owns the topic set; another pipeline naming the same topic is refused
//! naming the owner, before it changes anything (a short retention would purge the owner's
//! posts), and its deletion leaves the topics alone. Before topics were owned, the second pipeline
//! adopted the topics, overwrote `retention.ms` and deleted them all with `deletionPolicy: Delete`.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::producer::FutureRecord;
use tweetpipe_operator::crd::KafkaSpec;
use tweetpipe_operator::decide::topic_owner::{Release, TopicOwner};
use tweetpipe_operator::reconcile::clients::{Clients, KafkaClients};
use tweetpipe_operator::reconcile::dependencies::kafka::{
    KafkaCheckError, clients_for, delete_topics, ensure_topics,
};
use tweetpipe_operator::reconcile::observe::secrets::{Resolved, SecretString};
use tweetpipe_testkit::kafka::{bootstrap, create_topics, producer};
use tweetpipe_testkit::names::unique;

const TIMEOUT: Duration = Duration::from_secs(10);

fn spec(topic: &str, retention_hours: u32) -> KafkaSpec {
    serde_json::from_value(serde_json::json!({
        "bootstrapServers": bootstrap(), "topic": topic, "partitions": 2,
        "retentionHours": retention_hours,
    }))
    .expect("kafka spec")
}

fn owner(namespace: &str, name: &str) -> TopicOwner {
    TopicOwner {
        namespace: namespace.into(),
        name: name.into(),
        uid: uuid::Uuid::new_v4().to_string(),
    }
}

/// A pipeline of team-a whose topic set (`<name>-<unique>`, 24 h retention) exists and is its
/// own; with the operator clients that made it.
struct OwnTopics {
    topic: String,
    kafka: KafkaSpec,
    _cache: Clients,
    clients: Arc<KafkaClients>,
    me: TopicOwner,
}

async fn own_topics(name: &str) -> OwnTopics {
    let topic = unique(name);
    let kafka = spec(&topic, 24);
    let (cache, clients) = operator_clients(&kafka);
    let me = owner("team-a", "p");
    ensure_topics(&clients, &kafka, 1, &me, TIMEOUT)
        .await
        .expect("topics");
    OwnTopics {
        topic,
        kafka,
        _cache: cache,
        clients,
        me,
    }
}

/// An operator's clients of its own (a fresh cache: nothing verified yet, as after a restart).
fn operator_clients(kafka: &KafkaSpec) -> (Clients, Arc<KafkaClients>) {
    let clients = Clients::default();
    let resolved = Resolved {
        mysql_admin_url: SecretString::new("unused".into()),
        reporting_password: None,
        kafka_sasl: None,
        kafka_ca_pem: None,
        kafka_client_pem: None,
        mysql_ca_pem: None,
    };
    let kafka_clients = clients_for(&clients, kafka, &resolved, TIMEOUT).expect("Kafka clients");
    (clients, kafka_clients)
}

/// The topic's config `key` as the broker reports it.
async fn topic_config(clients: &KafkaClients, topic: &str, key: &str) -> Option<String> {
    let described = clients
        .admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describe configs");
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .expect("described");
    resource.get(key).and_then(|e| e.value.clone())
}

/// The topic's `retention.ms` as the broker reports it.
async fn retention_ms(clients: &KafkaClients, topic: &str) -> String {
    topic_config(clients, topic, "retention.ms")
        .await
        .expect("retention.ms")
}

/// Which of the pipeline's four topics exist.
fn existing(clients: &KafkaClients, topic: &str) -> Vec<String> {
    let metadata = clients
        .admin
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .expect("metadata");
    let names = [
        topic.to_string(),
        format!("{topic}.checkpoints"),
        format!("{topic}.dlq"),
        format!("{topic}.slots"),
    ];
    names
        .into_iter()
        .filter(|n| {
            metadata
                .topics()
                .iter()
                .any(|t| t.name() == n && t.error().is_none())
        })
        .collect()
}

fn refused_by(error: &KafkaCheckError, owner: &TopicOwner) {
    assert_eq!(error.reason(), "TopicOwnedByAnotherPipeline", "{error}");
    let named = format!("{}/{}", owner.namespace, owner.name);
    assert!(error.to_string().contains(&named), "names {named}: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pipeline_naming_a_topic_is_refused_and_the_owner_keeps_everything() {
    let topic = unique("owned");
    let week = spec(&topic, 168);
    let (_a_cache, a_clients) = operator_clients(&week);
    let a = owner("team-a", "p");
    let report = ensure_topics(&a_clients, &week, 2, &a, TIMEOUT)
        .await
        .expect("the first pipeline's topics");
    assert_eq!(report.created.len(), 4, "{report:?}");
    assert_eq!(
        retention_ms(&a_clients, &format!("{topic}.slots")).await,
        "-1"
    );

    // Tenant B, same topic, one hour of retention (it would purge A's posts), its own operator.
    let b = owner("team-b", "p");
    let hour = spec(&topic, 1);
    let (_b_cache, b_clients) = operator_clients(&hour);
    let refused = ensure_topics(&b_clients, &hour, 2, &b, TIMEOUT)
        .await
        .expect_err("another pipeline's topic is refused");
    refused_by(&refused, &a);
    assert_eq!(
        retention_ms(&a_clients, &topic).await,
        (168_u64 * 3_600_000).to_string(),
        "the intruder changed the owner's retention"
    );
    let released = delete_topics(&b_clients, &hour, &b, TIMEOUT)
        .await
        .expect("the intruder's deletion");
    assert!(
        matches!(&released, Release::LeaveAlone(why) if why.contains("team-a/p")),
        "{released:?}"
    );
    assert_eq!(
        existing(&a_clients, &topic).len(),
        4,
        "the intruder's deletion deleted the owner's topics"
    );

    // The owner, after an operator restart (nothing cached), is still the owner.
    let (_again, a_restarted) = operator_clients(&week);
    ensure_topics(&a_restarted, &week, 2, &a, TIMEOUT)
        .await
        .expect("the owner after a restart");
    // The owner deleted with Retain and created again (same namespace and name, new uid).
    let a_again = owner("team-a", "p");
    ensure_topics(&a_restarted, &week, 2, &a_again, TIMEOUT)
        .await
        .expect("the re-created pipeline takes its topics back");
    // The intruder is still refused, naming the new incarnation.
    let refused = ensure_topics(&b_clients, &hour, 2, &b, TIMEOUT)
        .await
        .expect_err("still refused");
    refused_by(&refused, &a_again);
    // The old incarnation cannot delete them; the current one does.
    let (_old, old_clients) = operator_clients(&week);
    let released = delete_topics(&old_clients, &week, &a, TIMEOUT)
        .await
        .expect("the old incarnation's deletion");
    assert!(matches!(released, Release::LeaveAlone(_)), "{released:?}");
    let released = delete_topics(&a_restarted, &week, &a_again, TIMEOUT)
        .await
        .expect("the owner's deletion");
    assert_eq!(released, Release::Delete);
}

/// Two pipelines creating the same topic at the same moment: the log's order picks one owner,
/// both sides agree on it, and it stays the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_claiming_at_once_get_exactly_one_owner() {
    for _round in 0..3 {
        let topic = unique("race");
        let kafka = spec(&topic, 24);
        let (_a_cache, a_clients) = operator_clients(&kafka);
        let (_b_cache, b_clients) = operator_clients(&kafka);
        let (a, b) = (owner("team-a", "p"), owner("team-b", "q"));
        let (a_result, b_result) = tokio::join!(
            ensure_topics(&a_clients, &kafka, 1, &a, TIMEOUT),
            ensure_topics(&b_clients, &kafka, 1, &b, TIMEOUT),
        );
        let (winner, loser_error) = match (&a_result, &b_result) {
            (Ok(_), Err(e)) => (&a, e),
            (Err(e), Ok(_)) => (&b, e),
            _ => panic!("exactly one owner expected: {a_result:?} / {b_result:?}"),
        };
        refused_by(loser_error, winner);
        // Asked again, each side gets the same answer.
        let (a_again, b_again) = tokio::join!(
            ensure_topics(&a_clients, &kafka, 1, &a, TIMEOUT),
            ensure_topics(&b_clients, &kafka, 1, &b, TIMEOUT),
        );
        assert_eq!(a_again.is_ok(), a_result.is_ok());
        assert_eq!(b_again.is_ok(), b_result.is_ok());
        let released = delete_topics(&a_clients, &kafka, winner, TIMEOUT)
            .await
            .expect("delete");
        assert_eq!(released, Release::Delete);
    }
}

/// A posts topic with records and no `<topic>.slots` was not made by tweetpipe: refused, and no
/// companion topic is created beside it. An empty one loses nothing and is adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_topic_with_records_is_refused_and_an_empty_one_adopted() {
    let foreign = unique("foreign");
    let kafka = spec(&foreign, 24);
    let (_cache, clients) = operator_clients(&kafka);
    create_topics(
        &bootstrap(),
        &[NewTopic::new(&foreign, 1, TopicReplication::Fixed(1))],
    )
    .await;
    producer(&bootstrap())
        .send(
            FutureRecord::to(&foreign)
                .key("k")
                .payload("somebody's data"),
            TIMEOUT,
        )
        .await
        .expect("a record");
    let me = owner("team-a", "p");
    let refused = ensure_topics(&clients, &kafka, 1, &me, TIMEOUT)
        .await
        .expect_err("a foreign topic with records");
    assert_eq!(refused.reason(), "TopicNotCreatedByTweetpipe", "{refused}");
    assert!(refused.to_string().contains(&foreign), "{refused}");
    assert_eq!(existing(&clients, &foreign), vec![foreign.clone()]);
    let released = delete_topics(&clients, &kafka, &me, TIMEOUT)
        .await
        .expect("deletion");
    assert!(matches!(released, Release::LeaveAlone(_)), "{released:?}");
    assert_eq!(existing(&clients, &foreign).len(), 1, "left as it was");
    clients
        .admin
        .delete_topics(&[&foreign], &AdminOptions::new())
        .await
        .expect("clean up");

    let empty = unique("empty");
    let kafka = spec(&empty, 24);
    create_topics(
        &bootstrap(),
        &[NewTopic::new(&empty, 2, TopicReplication::Fixed(1))],
    )
    .await;
    ensure_topics(&clients, &kafka, 1, &me, TIMEOUT)
        .await
        .expect("an empty topic is adopted");
    assert_eq!(
        delete_topics(&clients, &kafka, &me, TIMEOUT)
            .await
            .expect("delete"),
        Release::Delete
    );
}

/// A drift correction changes only the drifted configs (IncrementalAlterConfigs): a config an
/// administrator set on the topic stays. Through AlterConfigs, which replaces a topic's whole
/// config, the administrator's setting was dropped unless carried over by a racy read first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_keeps_configs_others_set() {
    let OwnTopics {
        topic,
        clients,
        me,
        _cache,
        ..
    } = own_topics("configs").await;
    // The administrator's own setting, through the plain AlterConfigs of the Kafka tools.
    let day = (24_u64 * 3_600_000).to_string();
    let alter = rdkafka::admin::AlterConfig::new(ResourceSpecifier::Topic(&topic))
        .set("retention.ms", &day)
        .set("max.message.bytes", "2000000");
    for result in clients
        .admin
        .alter_configs([&alter], &AdminOptions::new())
        .await
        .expect("alter")
    {
        result.expect("altered");
    }
    let longer = spec(&topic, 48);
    let report = ensure_topics(&clients, &longer, 1, &me, TIMEOUT)
        .await
        .expect("corrected");
    assert!(report.corrected.contains(&topic), "{report:?}");
    assert_eq!(
        retention_ms(&clients, &topic).await,
        (48_u64 * 3_600_000).to_string()
    );
    assert_eq!(
        topic_config(&clients, &topic, "max.message.bytes")
            .await
            .as_deref(),
        Some("2000000"),
        "the administrator's setting was dropped"
    );
    delete_topics(&clients, &longer, &me, TIMEOUT)
        .await
        .expect("delete");
}

/// The ownership read and the checkpoint reads use the same endpoint's clients, turn about (as
/// reconciles of a pipeline at rest do): every ownership read finds the owner, whatever the
/// checkpoint reads before it left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_reads_interleaved_with_checkpoint_reads_find_the_owner() {
    use tweetpipe_operator::reconcile::observe::progress::{ProgressCache, read_checkpoints};
    let OwnTopics {
        topic,
        kafka,
        clients,
        me,
        _cache,
    } = own_topics("interleaved").await;
    let checkpoints = format!("{topic}.checkpoints");
    let producer = producer(&bootstrap());
    let progress = Arc::new(ProgressCache::default());
    for round in 0..20 {
        let record = format!("not a checkpoint {round}");
        producer
            .send(
                FutureRecord::to(&checkpoints).key("q").payload(&record),
                TIMEOUT,
            )
            .await
            .expect("a record");
        read_checkpoints(&clients, &progress, "interleaved", &checkpoints, TIMEOUT)
            .await
            .expect("checkpoints read");
        // As after an operator restart: the owner is read again, not taken from the cache.
        clients
            .owned_topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        ensure_topics(&clients, &kafka, 1, &me, TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the owner's own topics: {e}"));
    }
    assert_eq!(
        delete_topics(&clients, &kafka, &me, TIMEOUT)
            .await
            .expect("delete"),
        Release::Delete
    );
}
