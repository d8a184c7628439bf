//! Stands in for the extractors of the active pipelines: once a pipeline's topics exist, its
//! `<topic>.checkpoints` gets one fresh checkpoint record per second, as an extractor polling
//! every second would write (key = query name, JSON of the shared contract's `Checkpoint`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::topics::checkpoint_topic;

use crate::pipelines::QUERY_NAME;

/// The posts topics whose checkpoint topics are fed, and what was written.
#[derive(Debug, Default)]
pub struct Feeder {
    topics: Mutex<BTreeSet<String>>,
    pub written: AtomicU64,
    pub failed: AtomicU64,
}

impl Feeder {
    /// Starts feeding `post_topic`'s checkpoint topic (idempotent).
    pub fn add(&self, post_topic: &str) {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(post_topic.to_string());
    }

    pub fn len(&self) -> usize {
        self.topics.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn snapshot(&self) -> Vec<String> {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The record of the `tick`-th second: ids and counters grow as if each poll found 10 posts.
fn record(tick: u64) -> Checkpoint {
    let now = Utc::now();
    let id = (1_900_000_000_000_000_000 + tick).to_string();
    let mut checkpoint = Checkpoint::new(QUERY_NAME, &now.format("%Y-%m").to_string());
    checkpoint.since_id = Some(id.clone());
    checkpoint.newest_id = Some(id);
    checkpoint.posts_total = tick * 10;
    checkpoint.month_posts = tick * 10;
    checkpoint.last_poll_at = Some(now.to_rfc3339());
    checkpoint
}

/// Runs until the task is aborted.
pub async fn run(feeder: Arc<Feeder>, bootstrap: String) -> Result<(), rdkafka::error::KafkaError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .set("message.timeout.ms", "10000")
        .create()?;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tick = 0_u64;
    loop {
        ticker.tick().await;
        tick += 1;
        let payload = match serde_json::to_string(&record(tick)) {
            Ok(payload) => payload,
            Err(_) => continue,
        };
        let topics: Vec<String> = feeder
            .snapshot()
            .iter()
            .map(|t| checkpoint_topic(t))
            .collect();
        let sends = topics.iter().map(|topic| {
            producer.send(
                FutureRecord::to(topic).key(QUERY_NAME).payload(&payload),
                Duration::from_secs(5),
            )
        });
        for result in futures::future::join_all(sends).await {
            let counter = if result.is_ok() {
                &feeder.written
            } else {
                &feeder.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
