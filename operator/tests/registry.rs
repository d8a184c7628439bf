//! End-to-end tests of the schema registry path on the local platform (`make platform-up`): the
//! operator registers the post schema under `<postTopic>-value` on the platform's Apicurio
//! Registry, extractors write the Confluent wire format with that id, the transformer decodes
//! through the registry; a compatible schema change flows through while old records still
//! decode; an incompatible subject is a condition with the registry's explanation and no
//! extractor, until fixed. Each test has its own namespace, topic, database and subject.

mod e2e {
    pub mod support;
}

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Api;
use rdkafka::message::Message;
use serde_json::json;
use sqlx::Connection;
use tweetpipe_common::post::Post;
use tweetpipe_common::registry::value_subject;
use tweetpipe_operator::crd::{Condition, TweetPipeline};
use tweetpipe_testkit::kafka::{produce_raw, producer, read_committed};
use tweetpipe_testkit::registry::{TestRegistry, post_v1, retyped_id, with_field};

use e2e::support::*;

/// A pipeline of `ns` whose Kafka records go through the platform's registry (pods' URL).
fn registry_pipeline(ns: &TestNamespace, name: &str) -> TweetPipeline {
    let mut tp = pipeline(ns, name);
    tp.spec.source.tokens.truncate(1);
    let url = platform()
        .schema_registry_url_pod
        .clone()
        .expect(".platform/env names TWEETPIPE_SCHEMA_REGISTRY_URL_POD");
    tp.spec.kafka.schema_registry_url = Some(url);
    tp
}

/// Every committed value of `topic`.
async fn topic_values(topic: &str) -> Vec<Vec<u8>> {
    let (bootstrap, topic) = (platform().kafka_bootstrap.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let mut values = Vec::new();
        read_committed(&bootstrap, &topic, |m| {
            values.push(m.payload().unwrap_or_default().to_vec());
        })
        .expect("reading the post topic");
        values
    })
    .await
    .expect("join")
}

/// How many of `ids` the transformer stored.
async fn stored(database: &str, ids: &[String]) -> Option<i64> {
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .ok()?;
    let list = ids.join(",");
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{database}`.posts WHERE id IN ({list})"
    )))
    .fetch_one(&mut conn)
    .await
    .ok()
}

async fn all_posts(database: &str) -> Option<i64> {
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .ok()?;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{database}`.posts"
    )))
    .fetch_one(&mut conn)
    .await
    .ok()
}

/// A post of this pipeline that the simulator never serves (ids far above its range).
fn foreign_post(tp: &TweetPipeline, id: u64) -> Post {
    let mut post = tweetpipe_common::fixtures::sample_posts(1, id)
        .pop()
        .expect("one post");
    post.pipeline = format!(
        "{}/{}",
        tp.metadata.namespace.as_deref().unwrap_or_default(),
        tp.metadata.name.as_deref().unwrap_or_default()
    );
    post.query_name = tp.spec.source.queries[0].name.clone();
    post
}

/// The id in a Confluent-framed value.
fn framed_id(value: &[u8]) -> Option<u32> {
    (value.len() > 5 && value[0] == 0)
        .then(|| u32::from_be_bytes([value[1], value[2], value[3], value[4]]))
}

/// Waits for pipeline `ns/name` to have registered its schema; returns the condition.
async fn wait_registered(client: &kube::Client, ns: &str, name: &str) -> Condition {
    let registered = Some("SchemaRegistered");
    wait_condition(client, ns, name, "SchemaRegistered", "True", registered).await
}

/// Deletes the subject when the test ends, whatever its outcome.
struct SubjectCleanup(String);

impl Drop for SubjectCleanup {
    fn drop(&mut self) {
        let subject = self.0.clone();
        cleanup_in_drop(async move { TestRegistry::new().delete_subject(&subject).await });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_schema_frames_records_and_a_compatible_change_flows_through() {
    let (client, ns, _operator) = operated_namespace("registry").await;
    deploy_simulator(&client, &ns.name).await;
    let registry = TestRegistry::new();
    let tp = registry_pipeline(&ns, "reg");
    let subject = value_subject(&tp.spec.kafka.topic);
    let _cleanup = SubjectCleanup(subject.clone());
    create(&client, &tp).await;

    // (a) Registered by the operator, Ready, records framed with that id, posts stored.
    let registered = wait_registered(&client, &ns.name, "reg").await;
    let v1_id = registry
        .latest_id(&subject)
        .await
        .expect("the subject holds post.v1");
    assert!(
        registered.message.contains(&subject)
            && registered.message.contains(&format!("id {v1_id}")),
        "{}",
        registered.message
    );
    assert_eq!(registry.versions(&subject).await, vec![1]);
    wait_condition(&client, &ns.name, "reg", "Ready", "True", None).await;
    let database = tp.spec.mysql.database.clone();
    let extracted = wait_for("posts in MariaDB", || {
        let database = database.clone();
        async move { all_posts(&database).await.filter(|n| *n > 0) }
    })
    .await;
    assert!(extracted > 0);
    let values = topic_values(&tp.spec.kafka.topic).await;
    assert!(!values.is_empty(), "the extractor wrote records");
    for value in &values {
        assert_eq!(
            framed_id(value),
            Some(v1_id),
            "Confluent framing with the id the operator registered (an extractor image older than this change registers the canonical form, a second version): {:02x?}",
            &value[..value.len().min(8)]
        );
    }
    assert_eq!(
        registry.versions(&subject).await,
        vec![1],
        "the extractor found the same schema"
    );

    // (b) A newer writer registers v2 (one new optional field) under BACKWARD compatibility
    // and writes with it, beside a record still written with v1.
    registry.set_compatibility(&subject, "BACKWARD").await;
    let v2 = with_field(
        post_v1(),
        json!({"name": "source_app", "type": ["null", "string"], "default": null}),
    );
    let v2_id = registry.register_ok(&subject, &v2).await;
    assert_ne!(v2_id, v1_id);
    assert_eq!(registry.versions(&subject).await, vec![1, 2]);
    let old = foreign_post(&tp, 9_000_000_000_000_000_001);
    let new = foreign_post(&tp, 9_000_000_000_000_000_002);
    let old_value = tweetpipe_common::codec::encode_post_confluent(&old, v1_id).expect("encode v1");
    // v2's body is v1's body and then the new field: union branch 1 (string), length 8 zigzag, bytes.
    let mut new_value =
        tweetpipe_common::codec::encode_post_confluent(&new, v2_id).expect("encode");
    new_value.extend_from_slice(&[0x02, 0x10]);
    new_value.extend_from_slice(b"e2e-test");
    let kafka = producer(&platform().kafka_bootstrap);
    for (post, value) in [(&old, &old_value), (&new, &new_value)] {
        produce_raw(
            &kafka,
            &tp.spec.kafka.topic,
            &post.id,
            value,
            Some(&post.query_name),
        )
        .await
        .expect("produce");
    }
    let ids = vec![old.id.clone(), new.id.clone()];
    let both = wait_for("the v1 and v2 records in MariaDB", || {
        let (database, ids) = (database.clone(), ids.clone());
        async move { stored(&database, &ids).await.filter(|n| *n == 2) }
    })
    .await;
    assert_eq!(both, 2);
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .expect("MariaDB");
    let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT text FROM `{database}`.posts WHERE id = {}",
        new.id
    )))
    .fetch_one(&mut conn)
    .await
    .expect("the v2 post");
    assert!(!text.is_empty());
    // Nothing went to the dead-letter topic.
    let dead = topic_values(&tweetpipe_common::contract::topics::dlq_topic(
        &tp.spec.kafka.topic,
    ))
    .await;
    assert!(dead.is_empty(), "{} dead letters", dead.len());
    let ready = condition(&client, &ns.name, "reg", "Ready")
        .await
        .expect("Ready");
    assert_eq!(ready.status, "True", "{}", ready.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incompatible_subject_is_a_condition_without_extractors_until_fixed() {
    let (client, ns, _operator) = operated_namespace("reg-409").await;
    let registry = TestRegistry::new();
    let tp = registry_pipeline(&ns, "clash");
    let subject = value_subject(&tp.spec.kafka.topic);
    let _cleanup = SubjectCleanup(subject.clone());
    // The subject already holds a version whose `id` is a long, and checks new versions.
    registry.register_ok(&subject, &retyped_id()).await;
    registry.set_compatibility(&subject, "FULL").await;
    deploy_simulator(&client, &ns.name).await;
    create(&client, &tp).await;

    let refused = ns
        .wait_false("clash", "SchemaRegistered", "SchemaIncompatible")
        .await;
    assert!(
        refused.message.contains(&subject) && refused.message.contains("/fields/0/type"),
        "the registry's explanation: {}",
        refused.message
    );
    let ready = ns.wait_false("clash", "Ready", "SchemaIncompatible").await;
    assert_eq!(ready.message, refused.message);
    let status = wait_for("the cap reason in the status", || async {
        let status = get(&client, &ns.name, "clash").await?.status?;
        (status.extractor.cap_reason == "SchemaNotRegistered").then_some(status)
    })
    .await;
    assert_eq!(status.extractor.replicas, 0);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let replicas = wait_for("the extractor StatefulSet at 0", || async {
        let set = sets.get_opt("clash-extractor").await.ok()??;
        set.spec.and_then(|s| s.replicas).filter(|r| *r == 0)
    })
    .await;
    assert_eq!(replicas, 0);
    let extractor_pods = component_pods(&client, &ns.name, "clash", "extractor")
        .await
        .len();
    assert_eq!(extractor_pods, 0, "no extractor pod");
    assert_eq!(
        registry.versions(&subject).await,
        vec![1],
        "nothing registered"
    );

    // The fix a user makes: the subject's old, incompatible history goes.
    registry.delete_subject(&subject).await;
    wait_registered(&client, &ns.name, "clash").await;
    wait_condition(&client, &ns.name, "clash", "Ready", "True", None).await;
    let v1_id = registry
        .latest_id(&subject)
        .await
        .expect("post.v1 registered");
    let database = tp.spec.mysql.database.clone();
    wait_for("posts in MariaDB", || {
        let database = database.clone();
        async move { all_posts(&database).await.filter(|n| *n > 0) }
    })
    .await;
    let values = topic_values(&tp.spec.kafka.topic).await;
    assert!(!values.is_empty());
    assert!(values.iter().all(|v| framed_id(v) == Some(v1_id)));
}
