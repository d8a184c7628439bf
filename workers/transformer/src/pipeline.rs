//! Kafka → MySQL: the batcher, which feeds the writer (`writer.rs`).
//!
//! The batcher consumes in a group, decodes and transforms each record (`decode.rs`), and hands
//! a batch to the writer when it holds `batch_size` records or `flush_interval` has passed
//! since its first record. Decoding overlaps the database round trips.
//!
//! It never stops polling the consumer, so the member stays in its group whatever is down:
//! - the writer has no room (MySQL down or slow): the full batch waits; after
//!   [`PAUSE_AFTER`] the assigned partitions are paused until the writer takes it;
//! - the schema registry cannot answer: the record, and every record after it, waits in
//!   [`Stalled`]; the partitions are paused and the transformer is not ready until the
//!   registry answers again. Nothing of it is dead-lettered or committed meanwhile.
//!
//! Rebalances are handled in `context.rs` and `ownership.rs`: work consumed under an
//! assignment this member no longer holds is never committed nor dead-lettered. Nothing is
//! committed to Kafka for records that are not in MySQL (or in the dead-letter topic), so
//! whatever is killed, the records come again and the idempotent upserts absorb them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::codec::SchemaRegistry;
use tweetpipe_common::kafka_connection::is_authorization;
use tweetpipe_common::serve::Readiness;

use crate::batch::Batch;
use crate::config::TransformerConfig;
use crate::context::{PipelineContext, TransformerConsumer};
use crate::decode::{self, Decoded, Stalled};
use crate::flow::{Flow, Hold};
use crate::metrics::Metrics;
use crate::ownership::Ownership;
use crate::store::Store;
use crate::writer::Writer;

/// A full batch the writer has no room for waits this long before the partitions are paused.
/// Ordinary back-pressure lasts milliseconds; pausing at once would throw the prefetched
/// records away on every batch.
pub const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// The batcher polls the consumer at least this often, even with every partition paused:
/// polling is what keeps the member in its group (`max.poll.interval.ms`) and what runs the
/// rebalance callbacks.
pub const POLL_AT_LEAST_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("Kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    KafkaConfig(#[from] tweetpipe_common::kafka::KafkaConfigError),
}

/// The running transformer's parts.
pub struct Pipeline {
    config: TransformerConfig,
    consumer: Arc<TransformerConsumer>,
    producer: FutureProducer,
    store: Store,
    metrics: Metrics,
    readiness: Readiness,
    flow: Arc<Flow>,
    ownership: Arc<Ownership>,
    registry: Option<SchemaRegistry>,
}

/// The batcher's state between two records.
struct Batcher<'a> {
    pipeline: &'a Pipeline,
    to_writer: mpsc::Sender<Batch>,
    open: Batch,
    /// When the open batch is handed over even if not full.
    deadline: Option<Instant>,
    /// A batch the writer had no room for, and since when it waits.
    waiting: Option<(Batch, Instant)>,
    stalled: Stalled,
}

/// The writer is gone (it gave up at shutdown); the batcher stops.
struct WriterGone;

impl Pipeline {
    pub fn new(
        config: TransformerConfig,
        store: Store,
        metrics: Metrics,
        readiness: Readiness,
        consumer_overrides: &BTreeMap<String, String>,
    ) -> Result<Self, PipelineError> {
        let mut consumer_config = tweetpipe_common::kafka::client_config(&config.kafka)?;
        consumer_config
            .set("group.id", config.group_id())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // The extractor writes in transactions; aborted ones must never be stored.
            // (librdkafka's default, stated so that no override can silently drop it.)
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            .set("statistics.interval.ms", "5000");
        for (key, value) in consumer_overrides {
            consumer_config.set(key, value);
        }
        let flow = Arc::new(Flow::new(readiness.clone()));
        let ownership = Arc::new(Ownership::new());
        let consumer: TransformerConsumer =
            consumer_config.create_with_context(PipelineContext {
                metrics: metrics.clone(),
                ownership: Arc::clone(&ownership),
                flow: Arc::clone(&flow),
            })?;

        let mut producer_config = tweetpipe_common::kafka::client_config(&config.kafka)?;
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000");
        let producer: FutureProducer = producer_config.create()?;
        let registry = config
            .kafka
            .schema_registry_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(SchemaRegistry::new);
        Ok(Self {
            config,
            consumer: Arc::new(consumer),
            producer,
            store,
            metrics,
            readiness,
            flow,
            ownership,
            registry,
        })
    }

    /// Runs until `shutdown` is cancelled, then writes the open batch and returns. Should the
    /// writer still be stuck (MySQL down) when `abandon` is cancelled, the open batch is
    /// abandoned uncommitted and comes again to whichever transformer takes the partitions.
    pub async fn run(
        self,
        shutdown: CancellationToken,
        abandon: CancellationToken,
    ) -> Result<(), PipelineError> {
        self.consumer
            .subscribe(&[self.config.kafka.topic.as_str()])?;
        self.readiness.set(true);
        tracing::info!(
            pipeline = %self.config.pipeline,
            topic = %self.config.kafka.topic,
            group = %self.config.group_id(),
            batch_size = self.config.batch_size,
            flush_interval_ms = self.config.flush_interval_ms,
            "transformer consuming"
        );
        let concurrency = self.config.write_concurrency;
        let (to_writer, from_batcher) = mpsc::channel::<Batch>(concurrency);
        let writer = Writer {
            consumer: Arc::clone(&self.consumer),
            producer: self.producer.clone(),
            dlq_topic: self.config.dlq_topic(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            flow: Arc::clone(&self.flow),
            ownership: Arc::clone(&self.ownership),
            max_backoff: self.config.max_backoff(),
            abandon,
            concurrency,
            pipeline_labels: crate::freshness::pipeline_labels(&self.config.pipeline),
        };
        let writer_task = tokio::spawn(writer.run(from_batcher));
        let mut batcher = Batcher {
            pipeline: &self,
            to_writer,
            open: Batch::default(),
            deadline: None,
            waiting: None,
            stalled: Stalled::new(self.config.max_backoff()),
        };
        batcher.run(shutdown).await;
        drop(batcher);
        if let Err(e) = writer_task.await {
            tracing::error!(error = %e, "writer task failed");
        }
        self.readiness.set(false);
        self.consumer.unsubscribe();
        tracing::info!("transformer stopped");
        Ok(())
    }
}

impl Batcher<'_> {
    async fn run(&mut self, shutdown: CancellationToken) {
        let pipeline = self.pipeline;
        let consumer = &*pipeline.consumer;
        let mut poll_tick = tokio::time::interval(POLL_AT_LEAST_EVERY);
        poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = Duration::from_secs(3600);
        // Its own handle, so that waiting for room does not borrow the batcher.
        let to_writer = self.to_writer.clone();
        loop {
            let waiting_since = self.waiting.as_ref().map(|(_, since)| *since);
            // A waiting batch stops consumption at once; the consumer is polled again once the
            // partitions are paused (only then can it return nothing new for long).
            let take_records = waiting_since.is_none() || pipeline.flow.is_paused();
            let flush_at = self.deadline.unwrap_or_else(|| Instant::now() + far);
            let pause_at = waiting_since.map_or_else(|| Instant::now() + far, |s| s + PAUSE_AFTER);
            let result = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = to_writer.reserve(), if waiting_since.is_some() => match permit {
                    Ok(permit) => {
                        if let Some((batch, _)) = self.waiting.take() {
                            permit.send(batch);
                        }
                        pipeline.flow.release(consumer, Hold::WriterBehind);
                        self.hand_over_if_full()
                    }
                    Err(_) => Err(WriterGone),
                },
                () = tokio::time::sleep_until(pause_at), if waiting_since.is_some() && !pipeline.flow.is_paused() => {
                    tracing::info!("the writer is behind (MySQL down or slow): pausing consumption, still polling");
                    pipeline.flow.hold(consumer, Hold::WriterBehind);
                    Ok(())
                }
                () = tokio::time::sleep_until(self.stalled.retry_at()), if !self.stalled.is_empty() => {
                    self.retry_stalled().await;
                    self.hand_over_if_full()
                }
                () = tokio::time::sleep_until(flush_at), if self.deadline.is_some() && waiting_since.is_none() => {
                    self.deadline = None;
                    let batch = std::mem::take(&mut self.open);
                    self.hand_over(batch)
                }
                // Ends the select, so the next turn polls the consumer afresh.
                _ = poll_tick.tick() => Ok(()),
                received = consumer.recv(), if take_records => match received {
                    Ok(message) => {
                        self.take(message.detach()).await;
                        self.hand_over_if_full()
                    }
                    Err(e) => {
                        if e.rdkafka_error_code().is_some_and(is_authorization) {
                            tracing::warn!(kind = "KafkaAuthorizationFailed", error = %e, "Kafka refused this principal (an ACL is missing; docs/security.md lists them); retrying");
                        } else {
                            tracing::warn!(error = %e, "Kafka consume error; librdkafka retries");
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(())
                    }
                },
            };
            if result.is_err() {
                return;
            }
        }
        drop(to_writer);
        if !self.stalled.is_empty() {
            tracing::info!(
                records = self.stalled.len(),
                "shutting down with records waiting for the schema registry; they stay uncommitted"
            );
        }
        // A closed channel means the writer is gone; the batches then stay uncommitted.
        if let Some((batch, _)) = self.waiting.take() {
            let _ = self.to_writer.send(batch).await;
        }
        if self.open.records > 0 {
            tracing::info!(
                records = self.open.records,
                "shutting down: writing the open batch"
            );
            let _ = self.to_writer.send(std::mem::take(&mut self.open)).await;
        }
    }

    /// A record from the consumer: decoded into the open batch, or held back behind the
    /// registry.
    async fn take(&mut self, message: OwnedMessage) {
        let pipeline = self.pipeline;
        pipeline.metrics.records_consumed.inc();
        let key = (message.topic().to_owned(), message.partition());
        // Consumed records belong to an assigned partition; 0 matches no epoch, so such a
        // record would simply never be committed.
        let epoch = pipeline.ownership.epoch(&key).unwrap_or(0);
        if !self.stalled.is_empty() {
            self.stalled.push(message, epoch);
            return;
        }
        match decode::decode(&message, pipeline.registry.as_ref()).await {
            Decoded::Done(outcome) => {
                self.open.add(message, epoch, outcome);
                self.start_deadline();
            }
            Decoded::Retry(error) => {
                pipeline.metrics.registry_retries.inc();
                self.stalled.push(message, epoch);
                let delay = self.stalled.back_off();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "schema registry unavailable: holding records back, pausing consumption");
                pipeline
                    .flow
                    .hold(&*pipeline.consumer, Hold::RegistryUnavailable);
            }
        }
    }

    /// Decodes the held-back records in order until one meets the registry down again.
    async fn retry_stalled(&mut self) {
        let pipeline = self.pipeline;
        while let Some((message, epoch)) = self.stalled.front() {
            let key = (message.topic().to_owned(), message.partition());
            if pipeline.ownership.epoch(&key) != Some(*epoch) {
                // Revoked meanwhile: the new owner consumes it.
                self.stalled.pop();
                continue;
            }
            if self.open.records >= pipeline.config.batch_size {
                // Hand the full batch over first; come back at once.
                self.stalled.retry_now();
                return;
            }
            match decode::decode(message, pipeline.registry.as_ref()).await {
                Decoded::Done(outcome) => {
                    self.stalled.recovered();
                    if let Some((message, epoch)) = self.stalled.pop() {
                        self.open.add(message, epoch, outcome);
                        self.start_deadline();
                    }
                }
                Decoded::Retry(error) => {
                    pipeline.metrics.registry_retries.inc();
                    let delay = self.stalled.back_off();
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, held = self.stalled.len(), "schema registry still unavailable");
                    return;
                }
            }
        }
        tracing::info!("schema registry answers again: resuming consumption");
        pipeline
            .flow
            .release(&*pipeline.consumer, Hold::RegistryUnavailable);
    }

    fn start_deadline(&mut self) {
        let flush = self.pipeline.config.flush_interval();
        self.deadline.get_or_insert_with(|| Instant::now() + flush);
    }

    fn hand_over_if_full(&mut self) -> Result<(), WriterGone> {
        if self.open.records >= self.pipeline.config.batch_size && self.waiting.is_none() {
            self.deadline = None;
            let batch = std::mem::take(&mut self.open);
            return self.hand_over(batch);
        }
        Ok(())
    }

    /// Gives the writer a batch, or keeps it waiting when the writer has no room.
    fn hand_over(&mut self, batch: Batch) -> Result<(), WriterGone> {
        if batch.records == 0 {
            return Ok(());
        }
        match self.to_writer.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(batch)) => {
                self.waiting = Some((batch, Instant::now()));
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(WriterGone),
        }
    }
}
