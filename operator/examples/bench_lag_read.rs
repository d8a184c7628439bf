//! The lag read's cost per reconcile (issue 25), on the platform's Kafka: READS (200) reads of
//! one group's lag on a posts topic of PARTITIONS (4), one after another, as an active pipeline's
//! reconcile makes them; prints p50/p99 per read, the process's threads and RSS after.
//!
//! `MODE=shared` (the default) reads through the operator's `consumer_lag` (an admin call on the
//! endpoint's long-lived lag reader); `MODE=per-read` reads as the operator did before: a consumer
//! of the group made for each read, its committed offsets asked, then closed on a thread of its
//! own. Allocations (librdkafka's C ones too) are counted by running it under heaptrack:
//!
//! ```text
//! cargo build --release -p tweetpipe-operator --example bench_lag_read
//! MODE=per-read heaptrack target/release/examples/bench_lag_read
//! MODE=shared heaptrack target/release/examples/bench_lag_read
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tweetpipe_operator::reconcile::clients::{KafkaClients, retire};
use tweetpipe_operator::reconcile::observe::progress::consumer_lag;

const TIMEOUT: Duration = Duration::from_secs(10);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The read as it was before issue 25: a consumer of the group per read.
fn lag_per_read(
    config: &ClientConfig,
    clients: &KafkaClients,
    topic: &str,
    group: &str,
    partitions: i32,
) -> anyhow::Result<i64> {
    let reader: BaseConsumer = config
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut wanted = TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    let committed = reader.committed_offsets(wanted, TIMEOUT);
    retire(reader);
    let committed = committed?;
    let mut lag = 0;
    for element in committed.elements_for_topic(topic) {
        let (low, high) =
            clients
                .admin
                .inner()
                .fetch_watermarks(topic, element.partition(), TIMEOUT)?;
        let position = match element.offset() {
            Offset::Offset(at) if at >= 0 => at,
            _ => low,
        };
        lag += (high - position.max(low)).max(0);
    }
    Ok(lag)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::var("MODE").unwrap_or_else(|_| "shared".into());
    let reads = setting("READS", 200);
    let partitions = i32::try_from(setting("PARTITIONS", 4))?;
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &platform.kafka_bootstrap);
    let clients = Arc::new(KafkaClients::new(&config)?);
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (topic, group) = (
        format!("bench-lag-{}", &suffix[..8]),
        format!("tweetpipe.bench-lag-{}", &suffix[..8]),
    );
    clients
        .admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await?;
    // The group has committed offset 0 on every partition, as a transformer would.
    let committer: BaseConsumer = config.clone().set("group.id", &group).create()?;
    let mut offsets = TopicPartitionList::new();
    for partition in 0..partitions {
        offsets.add_partition_offset(&topic, partition, Offset::Offset(0))?;
    }
    committer.commit(&offsets, CommitMode::Sync)?;
    drop(committer);

    let (threads_before, rss_before) = (status("Threads:"), status("VmRSS:"));
    let mut times = Vec::with_capacity(reads);
    let started = Instant::now();
    for _ in 0..reads {
        let at = Instant::now();
        let lag = if mode == "per-read" {
            let (config, clients, topic, group) = (
                config.clone(),
                clients.clone(),
                topic.clone(),
                group.clone(),
            );
            tokio::task::spawn_blocking(move || {
                lag_per_read(&config, &clients, &topic, &group, partitions)
            })
            .await??
        } else {
            consumer_lag(&clients, &topic, &group, partitions, TIMEOUT).await?
        };
        anyhow::ensure!(lag == 0, "lag {lag} of an empty topic");
        times.push(at.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "mode {mode}: {reads} reads of {partitions} partitions in {:.2} s: p50 {:.1} ms, p99 {:.1} ms; threads {threads_before} before, {} after; VmRSS {rss_before} before, {} after (VmHWM {})",
        total.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        status("Threads:"),
        status("VmRSS:"),
        status("VmHWM:"),
    );
    clients
        .admin
        .delete_topics(
            &[&topic],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await?;
    Ok(())
}
