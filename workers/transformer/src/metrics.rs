//! Prometheus metrics of the transformer (prefix `tweetpipe_transformer_`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Labels of the freshness histogram: the pipeline (as the operator's metrics name it) and the
/// query that collected the post.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FreshnessLabels {
    pub namespace: String,
    pub pipeline: String,
    pub query: String,
}

/// 25 ms to about 2 minutes in steps of 1.5×: fine enough for p50/p99 of a healthy pipeline (low
/// seconds), and past the 60 s alert target (a larger backlog reads as the top bound).
fn freshness_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.025, 1.5, 22))
}

/// Every metric the transformer exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Kafka records taken from the topic.
    pub records_consumed: Counter,
    /// Posts written, by result: `inserted` (new) or `duplicate` (already stored).
    pub posts_written: Family<ResultLabel, Counter>,
    /// Rows of every table written per batch (users, posts, child rows).
    pub rows_written: Counter,
    /// Records sent to the dead-letter topic, by reason.
    pub dead_letters: Family<ReasonLabel, Counter>,
    /// Seconds from a batch's hand-over to the writer until its offsets are committed.
    pub batch_seconds: Histogram,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Failed attempts to write a batch, by reason (`unavailable`, `rejected`).
    pub write_retries: Family<ReasonLabel, Counter>,
    /// Consumer lag per partition (from librdkafka statistics).
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    /// 1 while MySQL accepts writes.
    pub mysql_up: Gauge,
    /// Offset commits that failed after the database commit (the records come again and
    /// are absorbed by the idempotent upserts).
    pub commit_failures: Counter,
    /// Decode attempts that found the schema registry unavailable (the records are retried).
    pub registry_retries: Counter,
    /// Partitions assigned to or revoked from this member, by event (`assigned`, `revoked`).
    pub rebalance_partitions: Family<ReasonLabel, Counter>,
    /// Partitions whose in-flight work was dropped at commit time because this member no
    /// longer owned them (their records come again to the new owner).
    pub stale_partition_commits: Counter,
    /// Seconds from the extractor receiving a post's page to the MySQL commit storing it.
    pub freshness: Family<FreshnessLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            records_consumed: Counter::default(),
            posts_written: Family::default(),
            rows_written: Counter::default(),
            dead_letters: Family::default(),
            batch_seconds: Histogram::new(exponential_buckets(0.002, 2.0, 14)),
            batch_records: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            write_retries: Family::default(),
            consumer_lag: Family::default(),
            mysql_up: Gauge::default(),
            commit_failures: Counter::default(),
            registry_retries: Counter::default(),
            rebalance_partitions: Family::default(),
            stale_partition_commits: Counter::default(),
            freshness: Family::new_with_constructor(freshness_histogram),
        };
        let r = registry.sub_registry_with_prefix("tweetpipe_transformer");
        r.register(
            "records_consumed",
            "Kafka records taken from the topic",
            metrics.records_consumed.clone(),
        );
        r.register(
            "posts_written",
            "Posts written to MySQL, by result (inserted or duplicate)",
            metrics.posts_written.clone(),
        );
        r.register(
            "rows_written",
            "Rows upserted into every table",
            metrics.rows_written.clone(),
        );
        r.register(
            "dead_letters",
            "Records sent to the dead-letter topic, by reason",
            metrics.dead_letters.clone(),
        );
        r.register(
            "batch_duration_seconds",
            "Seconds from a batch's hand-over to the writer until its offsets are committed",
            metrics.batch_seconds.clone(),
        );
        r.register(
            "batch_records",
            "Records per batch",
            metrics.batch_records.clone(),
        );
        r.register(
            "write_retries",
            "Failed attempts to write a batch, by reason",
            metrics.write_retries.clone(),
        );
        r.register(
            "consumer_lag",
            "Records behind the end of each assigned partition",
            metrics.consumer_lag.clone(),
        );
        r.register(
            "mysql_up",
            "1 while MySQL accepts writes",
            metrics.mysql_up.clone(),
        );
        r.register(
            "offset_commit_failures",
            "Offset commits that failed after the database commit",
            metrics.commit_failures.clone(),
        );
        r.register(
            "registry_retries",
            "Decode attempts that found the schema registry unavailable (retried, never dead-lettered)",
            metrics.registry_retries.clone(),
        );
        r.register(
            "rebalance_partitions",
            "Partitions assigned to or revoked from this member, by event",
            metrics.rebalance_partitions.clone(),
        );
        r.register(
            "stale_partition_commits",
            "Partition offsets (and their dead letters) dropped because the partition had been revoked",
            metrics.stale_partition_commits.clone(),
        );
        r.register(
            "freshness_seconds",
            "Seconds from the extractor receiving a post's page from the API to the MySQL commit that made it queryable, by pipeline and query",
            metrics.freshness.clone(),
        );
        metrics
    }
}
