//! librdkafka callbacks: consumer lag from the statistics, commit results, and rebalances.
//!
//! Rebalance callbacks run on the batcher's task, inside its poll of the consumer. On a revoke
//! they take the partitions out of [`Ownership`] (so nothing consumed under the old assignment
//! is committed or dead-lettered any more) and wait for the writer to finish a commit already
//! under way for them. On an assignment they start new epochs and, while consumption is held
//! (MySQL or the registry unavailable), pause the new partitions at once.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};

use crate::flow::Flow;
use crate::metrics::{Metrics, PartitionLabel, ReasonLabel};
use crate::ownership::{Ownership, PartitionKey};

/// The transformer's consumer: rdkafka's stream consumer with this context.
pub type TransformerConsumer = StreamConsumer<PipelineContext>;

/// How long a revoke waits for a commit (and the dead letters before it) already under way.
/// Those are a produce and a commit round trip; the wait only runs out while Kafka itself is
/// failing, and it stays far below the group's rebalance timeout (`max.poll.interval.ms`).
pub const REVOKE_WAIT: Duration = Duration::from_secs(10);

pub struct PipelineContext {
    pub metrics: Metrics,
    pub ownership: Arc<Ownership>,
    pub flow: Arc<Flow>,
}

fn keys(list: &TopicPartitionList) -> Vec<PartitionKey> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for PipelineContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in statistics.topics {
            for (partition, p) in stats.partitions {
                // Partition -1 is librdkafka's internal "unassigned" entry.
                if partition < 0 {
                    continue;
                }
                self.metrics
                    .consumer_lag
                    .get_or_create(&PartitionLabel {
                        topic: topic.clone(),
                        partition,
                    })
                    .set(p.consumer_lag.max(0));
            }
        }
    }
}

impl ConsumerContext for PipelineContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked = keys(list);
        self.metrics
            .rebalance_partitions
            .get_or_create(&ReasonLabel { reason: "revoked" })
            .inc_by(revoked.len() as u64);
        tracing::info!(partitions = ?revoked, "partitions revoked");
        let released = block_briefly(|| self.ownership.revoke(&revoked, REVOKE_WAIT));
        if !released {
            tracing::warn!(
                wait_ms = REVOKE_WAIT.as_millis() as u64,
                "a commit for revoked partitions did not finish in time; its dead letters may be sent again by the new owner"
            );
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(list) = rebalance else {
            return;
        };
        let assigned = keys(list);
        self.metrics
            .rebalance_partitions
            .get_or_create(&ReasonLabel { reason: "assigned" })
            .inc_by(assigned.len() as u64);
        tracing::info!(partitions = ?assigned, "partitions assigned");
        self.ownership.assign(assigned);
        if self.flow.is_paused()
            && list.count() > 0
            && let Err(error) = consumer.pause(list)
        {
            tracing::warn!(%error, "cannot pause the new assignment");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            self.metrics.commit_failures.inc();
            tracing::warn!(error = %e, "offset commit failed after the database commit; the records will be consumed again and absorbed");
        }
    }
}

/// Runs a blocking wait from inside the batcher's task without starving the runtime (the
/// writer it waits for may be queued on this very worker).
fn block_briefly<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}
