//! Shared helpers for the extractor's integration tests: real Kafka from the local platform,
//! the simulator in-process, the extractor in-process or as a child process.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::topics;
use tweetpipe_common::post::Post;
use tweetpipe_extractor::config::ExtractorConfig;
use xapi_simulator::{CorpusConfig, FaultConfig, RunningSimulator, SimConfig, TokenConfig};

pub const TOKEN: &str = "test-bearer-token";

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub fn bootstrap() -> String {
    let p = tweetpipe_testkit::platform();
    p.require_kafka();
    p.kafka_bootstrap.clone()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Creates the post topic (3 partitions) and its compacted checkpoint topic.
pub async fn create_topics(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let checkpoints = topics::checkpoint_topic(topic);
    let topics = [
        NewTopic::new(topic, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&checkpoints, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
    ];
    let results = admin
        .create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        )
        .await
        .expect("create topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

pub fn token_config(limit: u32, window_seconds: u64, cap: u64) -> TokenConfig {
    TokenConfig {
        name: "app".into(),
        token: Some(TOKEN.into()),
        token_file: None,
        requests_per_window: limit,
        window_seconds,
        monthly_post_cap: cap,
    }
}

/// A simulator whose `posts` posts all exist already (none arrive later).
pub async fn simulator(posts: u64, token: TokenConfig, faults: FaultConfig) -> RunningSimulator {
    xapi_simulator::start(SimConfig {
        listen: "127.0.0.1:0".into(),
        seed: 5,
        tokens: vec![token],
        corpus: CorpusConfig {
            posts_per_second: 1000.0,
            backfill_posts: posts,
            max_posts: Some(posts),
        },
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

pub struct Setup {
    pub dir: PathBuf,
    pub topic: String,
    pub bootstrap: String,
}

impl Setup {
    pub async fn new(name: &str) -> Self {
        let bootstrap = bootstrap();
        let topic = unique(&format!("xt-{name}"));
        create_topics(&bootstrap, &topic).await;
        let dir = temp_dir(name);
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).expect("token file");
        Setup {
            dir,
            topic,
            bootstrap,
        }
    }

    /// An extractor config in the operator's shape, with test-sized timeouts.
    pub fn config(
        &self,
        sim: &RunningSimulator,
        share: u32,
        window_seconds: u64,
        max_results: u32,
        queries: &[(&str, &str)],
    ) -> serde_json::Value {
        let queries: Vec<_> = queries
            .iter()
            .map(|(n, q)| json!({"name": n, "query": q}))
            .collect();
        json!({
            "pipeline": format!("tests/{}", self.topic),
            "api_base_url": sim.base_url(),
            "token_file": self.dir.join("token"),
            "tweet_fields": [], "user_fields": [], "place_fields": [], "expansions": [],
            "kafka": {"bootstrap_servers": self.bootstrap, "topic": self.topic, "schema_registry_url": null,
                      "security_protocol": "plaintext", "sasl_mechanism": null,
                      "sasl_username_file": null, "sasl_password_file": null},
            "assignments": [{"replica": 0, "requests_per_window": share, "window_seconds": window_seconds,
                             "queries": queries}],
            "monthly_post_budget": null,
            "max_results": max_results,
            "tuning": {"ops_listen": "127.0.0.1:0", "request_timeout_ms": 3000,
                       "backoff_initial_ms": 100, "backoff_max_ms": 1000, "kafka_timeout_ms": 5000}
        })
    }

    pub fn write_config(&self, config: &serde_json::Value) -> PathBuf {
        let path = self.dir.join("extractor.json");
        std::fs::write(&path, serde_json::to_vec_pretty(config).expect("json"))
            .expect("write config");
        path
    }
}

pub fn parse_config(value: serde_json::Value) -> ExtractorConfig {
    serde_json::from_value(value).expect("extractor config")
}

/// A record read back from the post topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub post: Post,
    pub headers: HashMap<String, String>,
}

fn consumer(bootstrap: &str, topic: &str) -> (BaseConsumer, usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("xt-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let partitions = tpl.count();
    (consumer, partitions)
}

/// Every committed message of `topic` up to its end as of now: each partition is read to EOF
/// or, while a running extractor keeps committing one record per transaction, up to the high
/// watermark seen at the start (the last record sits before its commit marker).
fn read_to_end(
    bootstrap: &str,
    topic: &str,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), String> {
    let (consumer, partitions) = consumer(bootstrap, topic);
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for p in 0..partitions as i32 {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| format!("watermarks of {topic}: {e}"))?;
        if high > low {
            pending.insert(p, high);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} to its end took over a minute"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                each(&m);
                if pending
                    .get(&m.partition())
                    .is_some_and(|high| m.offset() >= high - 2)
                    && topic.ends_with(topics::CHECKPOINT_SUFFIX)
                {
                    pending.remove(&m.partition());
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => return Err(format!("consume {topic}: {e}")),
            None => {}
        }
    }
    Ok(())
}

/// Every committed record of the post topic.
pub fn read_posts(bootstrap: &str, topic: &str) -> Vec<Record> {
    let mut records = Vec::new();
    read_to_end(bootstrap, topic, |m| {
        let key = String::from_utf8(m.key().expect("key").to_vec()).expect("utf-8 key");
        let post =
            tweetpipe_common::codec::decode_post(m.payload().expect("payload")).expect("decodes");
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(Record { key, post, headers });
    })
    .expect("read the post topic");
    records
}

/// The latest committed checkpoint per query.
pub fn read_checkpoints(
    bootstrap: &str,
    topic: &str,
) -> Result<HashMap<String, Checkpoint>, String> {
    let mut latest = HashMap::new();
    read_to_end(bootstrap, &topics::checkpoint_topic(topic), |m| {
        let cp = Checkpoint::from_json(m.payload().expect("payload")).expect("checkpoint json");
        latest.insert(cp.query.clone(), cp);
    })?;
    Ok(latest)
}

/// Waits until `done` holds for the checkpoints, or panics after `timeout`.
pub async fn wait_for_checkpoints(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&HashMap<String, Checkpoint>) -> bool,
) -> HashMap<String, Checkpoint> {
    let deadline = Instant::now() + timeout;
    loop {
        let (b, t) = (bootstrap.to_string(), topic.to_string());
        // Errors (a broker still electing leaders after a restart) are retried until the deadline.
        let cps = tokio::task::spawn_blocking(move || read_checkpoints(&b, &t))
            .await
            .expect("join");
        if let Ok(cps) = &cps
            && done(cps)
        {
            return cps.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out; checkpoints: {cps:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// True when the query has collected everything up to `newest` (no pagination run open).
pub fn caught_up(cps: &HashMap<String, Checkpoint>, query: &str, newest: &str) -> bool {
    cps.get(query)
        .is_some_and(|cp| cp.since_id.as_deref() == Some(newest) && cp.pagination.is_none())
}

pub async fn read_posts_async(bootstrap: &str, topic: &str) -> Vec<Record> {
    let (b, t) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || read_posts(&b, &t))
        .await
        .expect("join")
}

/// Asserts the records hold exactly the expected post ids, each once.
pub fn assert_exactly(records: &[Record], expected: &[String], query: &str) {
    let mut keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(
        before,
        keys.len(),
        "{} duplicate records for {query}",
        before - keys.len()
    );
    let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(
        keys, want,
        "records for {query} differ from the simulator's posts"
    );
}

/// A child process that is killed when the test ends, whatever happens.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the extractor binary as a child process with its logs in `dir`.
pub fn spawn_extractor(config_path: &Path, dir: &Path, tag: &str) -> ChildGuard {
    let log = std::fs::File::create(dir.join(format!("extractor-{tag}.log"))).expect("log file");
    std::process::Command::new(env!("CARGO_BIN_EXE_tweetpipe-extractor"))
        .env("EXTRACTOR_CONFIG", config_path)
        .env("REPLICA_INDEX", "0")
        .env("RUST_LOG", "info,tweetpipe_extractor=debug")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .map(ChildGuard)
        .expect("spawn extractor")
}

pub fn signal(child: &ChildGuard, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Installs the workers' telemetry once per test binary (JSON logs, trace ids for headers).
pub fn telemetry() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(guard) = tweetpipe_common::telemetry::init("extractor-tests") {
            // Lives for the whole test binary.
            std::mem::forget(guard);
        }
    });
}
