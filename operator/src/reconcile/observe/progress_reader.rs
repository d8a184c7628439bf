//! The observe step's Kafka reads behind a trait: the operator uses [`KafkaProgressReader`] (the
//! checkpoint topic and the consumer group's offsets, [`super::progress`]); unit tests of a whole
//! reconcile use a scripted fake, so everything after the dependencies step runs without a
//! broker. The same kind of seam as the dependencies step's `TopicAdmin` and `SchemaOwner`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::progress::{self, ProgressCache, ProgressError, ReadEnd};
use crate::decide::plan::Checkpoint;
use crate::reconcile::clients::KafkaClients;

/// What the observe step asks of Kafka.
pub trait ProgressReader: Send + Sync {
    /// The latest checkpoint per query of the checkpoint topic `topic`, read on from where the
    /// last read of `cache_key` in `cache` ended, and how the read ended.
    fn read_checkpoints<'a>(
        &'a self,
        clients: &'a Arc<KafkaClients>,
        cache: &'a Arc<ProgressCache>,
        cache_key: &'a str,
        topic: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Checkpoint>, ReadEnd), ProgressError>>;

    /// Records of the posts topic `topic` (of `partitions` partitions) the group `group` has not
    /// committed yet.
    fn consumer_lag<'a>(
        &'a self,
        clients: &'a Arc<KafkaClients>,
        topic: &'a str,
        group: &'a str,
        partitions: i32,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<i64, ProgressError>>;
}

/// The real one: librdkafka's consumers on the endpoint's shared clients.
#[derive(Debug, Default)]
pub struct KafkaProgressReader;

impl ProgressReader for KafkaProgressReader {
    fn read_checkpoints<'a>(
        &'a self,
        clients: &'a Arc<KafkaClients>,
        cache: &'a Arc<ProgressCache>,
        cache_key: &'a str,
        topic: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Checkpoint>, ReadEnd), ProgressError>> {
        Box::pin(progress::read_checkpoints(
            clients, cache, cache_key, topic, timeout,
        ))
    }

    fn consumer_lag<'a>(
        &'a self,
        clients: &'a Arc<KafkaClients>,
        topic: &'a str,
        group: &'a str,
        partitions: i32,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<i64, ProgressError>> {
        Box::pin(progress::consumer_lag(
            clients, topic, group, partitions, timeout,
        ))
    }
}
