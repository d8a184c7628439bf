//! The extractor-specific part of the integration tests' support: the simulator in-process, a
//! test's topics, token file and extractor config, and an extractor running in this process.
//! Generic helpers (names, topics, records, checkpoints, child processes) are in
//! `tweetpipe-testkit`.

#![allow(dead_code)] // each test binary compiles this module and uses a part of it

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_extractor::RunningExtractor;
use tweetpipe_extractor::config::ExtractorConfig;
use tweetpipe_extractor::worker::RunSummary;
use tweetpipe_testkit::checkpoints::{caught_up, wait_for_checkpoints};
use tweetpipe_testkit::files::{temp_dir, write};
use tweetpipe_testkit::kafka::create_post_topic_with_checkpoints;
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::records::{Record, read_posts_async};
use xapi_simulator::{CorpusConfig, FaultConfig, RunningSimulator, SimConfig, TokenConfig};

pub const TOKEN: &str = "test-bearer-token";

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
    /// Topics on `bootstrap` (the platform's, `tweetpipe_testkit::kafka::bootstrap()`, or a test's own broker), a
    /// scratch directory and the token file.
    pub async fn new(bootstrap: &str, name: &str) -> Self {
        let bootstrap = bootstrap.to_owned();
        let topic = unique(&format!("xt-{name}"));
        create_post_topic_with_checkpoints(&bootstrap, &topic).await;
        let dir = temp_dir(name);
        write(&dir, "token", format!("{TOKEN}\n"));
        Setup {
            dir,
            topic,
            bootstrap,
        }
    }

    /// An extractor config in the operator's shape, with test-sized timeouts; `share` requests
    /// per window are split evenly over the queries (all on one token).
    pub fn config(
        &self,
        sim: &RunningSimulator,
        share: u32,
        window_seconds: u64,
        max_results: u32,
        queries: &[(&str, &str)],
    ) -> serde_json::Value {
        let count = queries.len().max(1) as u32;
        let queries: Vec<_> = queries
            .iter()
            .enumerate()
            .map(|(i, (n, q))| {
                let extra = u32::from((i as u32) < share % count);
                json!({"name": n, "query": q, "token_file": self.dir.join("token"),
                       "requests_per_window": (share / count + extra).max(1),
                       "window_seconds": window_seconds})
            })
            .collect();
        json!({
            "pipeline": format!("tests/{}", self.topic),
            "api_base_url": sim.base_url(),
            "tweet_fields": [], "user_fields": [], "place_fields": [], "expansions": [],
            "kafka": {"bootstrap_servers": self.bootstrap, "topic": self.topic, "schema_registry_url": null,
                      "security_protocol": "plaintext", "sasl_mechanism": null,
                      "sasl_username_file": null, "sasl_password_file": null},
            "queries": queries,
            "monthly_post_budget": null,
            "max_results": max_results,
            "tuning": {"ops_listen": "127.0.0.1:0", "request_timeout_ms": 3000,
                       "backoff_initial_ms": 100, "backoff_max_ms": 1000, "kafka_timeout_ms": 5000,
                       "group_session_timeout_ms": 6000}
        })
    }
}

impl Setup {
    /// Waits until `done` holds for this test's checkpoints, or panics after `timeout`.
    pub async fn wait_for_checkpoints(
        &self,
        timeout: Duration,
        done: impl Fn(&HashMap<String, Checkpoint>) -> bool,
    ) -> HashMap<String, Checkpoint> {
        wait_for_checkpoints(&self.bootstrap, &self.topic, timeout, done).await
    }

    /// Waits until `query` has collected everything up to `newest` (the newest post it
    /// matches), or panics after `timeout`.
    pub async fn wait_caught_up(
        &self,
        query: &str,
        newest: &str,
        timeout: Duration,
    ) -> HashMap<String, Checkpoint> {
        self.wait_for_checkpoints(timeout, |cps| caught_up(cps, query, newest))
            .await
    }

    /// Every committed post record of this test's topic.
    pub async fn records(&self) -> Vec<Record> {
        read_posts_async(&self.bootstrap, &self.topic).await
    }
}

/// An extractor running in this process as one replica, until [`Extractor::stop`].
pub struct Extractor {
    pub cancel: CancellationToken,
    pub running: RunningExtractor,
}

impl Extractor {
    pub async fn start(config: &ExtractorConfig, replica: u32) -> Self {
        let cancel = CancellationToken::new();
        let running = tweetpipe_extractor::start(config.clone(), replica, cancel.clone())
            .await
            .expect("start");
        Extractor { cancel, running }
    }

    /// Cancels the run and waits for it to end; its summary.
    pub async fn stop(self) -> RunSummary {
        self.cancel.cancel();
        self.running
            .task
            .await
            .expect("extractor task")
            .expect("extractor run")
    }

    /// The text of its `/metrics`.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.running.ops_addr);
        tweetpipe_testkit::http::get_text(&url).await
    }
}

/// True once `query` has collected at least `posts` posts.
pub fn collected(cps: &HashMap<String, Checkpoint>, query: &str, posts: u64) -> bool {
    cps.get(query).is_some_and(|cp| cp.posts_total >= posts)
}

pub fn parse_config(value: serde_json::Value) -> ExtractorConfig {
    serde_json::from_value(value).expect("extractor config")
}
