//! The transformer-specific part of the integration tests' support: a test's database and topic,
//! its config, stored rows from sample posts, and a transformer running in this process. Generic
//! helpers (names, topics, records, databases, roll-up assertions) are in `tweetpipe-testkit`;
//! the sample posts in `tweetpipe_common::fixtures`.

#![allow(dead_code)] // each test binary compiles this module and uses a part of it

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::kafka::KafkaSettings;
use tweetpipe_common::post::Post;
use tweetpipe_common::serve::Readiness;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::files::{temp_dir, write};
use tweetpipe_testkit::kafka::{bootstrap, create_post_topic_with_dlq};
use tweetpipe_testkit::mysql::TestDb;
use tweetpipe_testkit::names::unique;
use tweetpipe_transformer::config::{MysqlSettings, TransformerConfig};
use tweetpipe_transformer::metrics::Metrics;
use tweetpipe_transformer::pipeline::Pipeline;
use tweetpipe_transformer::rows::StoredPost;
use tweetpipe_transformer::store::{BatchOutcome, Store};
use tweetpipe_transformer::transform::transform;

/// A test's own migrated database `tp_t_<name>…` and post topic `tp-t-<name>-…` with its
/// dead-letter topic (`partitions` partitions) on the platform's Kafka.
pub async fn db_and_topic(name: &str, partitions: i32) -> (TestDb, String) {
    let db = TestDb::create(&format!("tp_t_{name}"), &MIGRATOR).await;
    let topic = unique(&format!("tp-t-{name}"));
    create_post_topic_with_dlq(&bootstrap(), &topic, partitions).await;
    (db, topic)
}

/// The rows the transformer stores for `posts`.
pub fn transformed(posts: &[Post]) -> Vec<StoredPost> {
    posts
        .iter()
        .map(|p| transform(p).unwrap_or_else(|e| panic!("transform {}: {e}", p.id)))
        .collect()
}

/// Writes `batch` through `store`, which must succeed; `what` names the write in a failure.
pub async fn write_ok(store: &Store, batch: &[StoredPost], what: &str) -> BatchOutcome {
    store
        .write_batch(batch)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The transformer config for a test.
pub fn config(topic: &str, db: &TestDb, batch_size: usize) -> TransformerConfig {
    let dir = temp_dir("tp-transformer");
    let url_file = write(&dir, "mysql-url", &db.url);
    TransformerConfig {
        pipeline: "test/pipeline".into(),
        kafka: KafkaSettings {
            group_id: Some(format!("{topic}-group")),
            ..KafkaSettings::plaintext(bootstrap(), topic)
        },
        mysql: MysqlSettings {
            pool_size: 3,
            ..MysqlSettings::new(url_file)
        },
        batch_size,
        flush_interval_ms: 200,
        query_names: vec!["covid-en".into(), "covid-pt".into(), "quarentena-pt".into()],
        dlq_topic: None,
        write_concurrency: 2,
        ops_addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        max_backoff_ms: 2_000,
        shutdown_grace_ms: 10_000,
    }
}

/// Consumer settings that make group hand-overs quick in tests.
pub fn fast_group_overrides() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("session.timeout.ms".to_owned(), "6000".to_owned()),
        ("heartbeat.interval.ms".to_owned(), "1000".to_owned()),
    ])
}

/// A transformer running in this process.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
    pub metrics: Metrics,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

pub fn start(config: TransformerConfig, db: &TestDb) -> Running {
    start_with(config, &db.url, &[]).0
}

/// A transformer writing through `mysql_url`, with consumer `overrides` on top of the quick
/// group settings; also returns its readiness.
pub fn start_with(
    config: TransformerConfig,
    mysql_url: &str,
    overrides: &[(&str, &str)],
) -> (Running, Readiness) {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let readiness = Readiness::new();
    let store = Store::new(
        tweetpipe_transformer::db::connect_lazy(mysql_url, 3).unwrap_or_else(|e| panic!("{e}")),
    );
    let mut consumer_overrides = fast_group_overrides();
    for (key, value) in overrides {
        consumer_overrides.insert((*key).to_owned(), (*value).to_owned());
    }
    let pipeline = Pipeline::new(
        config,
        store,
        metrics.clone(),
        readiness.clone(),
        &consumer_overrides,
    )
    .unwrap_or_else(|e| panic!("pipeline: {e}"));
    let shutdown = CancellationToken::new();
    // Never cancelled here: these tests stop the transformer gracefully.
    let abandon = CancellationToken::new();
    let s = shutdown.clone();
    let task = tokio::spawn(async move {
        pipeline
            .run(s, abandon)
            .await
            .unwrap_or_else(|e| panic!("pipeline run: {e}"));
    });
    (
        Running {
            shutdown,
            task,
            metrics,
        },
        readiness,
    )
}
