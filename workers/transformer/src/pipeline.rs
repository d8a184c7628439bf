//! Kafka → MySQL: the batcher and the writer.
//!
//! The batcher consumes in a group, decodes and transforms each record, and hands a batch to
//! the writer when it holds `batch_size` records or `flush_interval` has passed since its
//! first record. The writer stores the batch in one transaction (bisecting it when MySQL
//! rejects rows, so that only the bad records become dead letters), sends dead letters and
//! waits for their acknowledgement, and only then commits the batch's offsets. Up to
//! `write_concurrency` batches are written at once, each in its own transaction, and their
//! offsets are committed in order; decoding overlaps the database round trips.
//!
//! While MySQL is unavailable the writer retries the same batch with backoff and jitter; the
//! hand-over channel then fills and the batcher stops consuming. Nothing is committed to
//! Kafka for records that are not in MySQL (or in the dead-letter topic), so whatever is
//! killed, the records come again and the idempotent upserts absorb them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tweetpipe_common::codec::{self, SchemaRegistry};
use tweetpipe_common::headers;
use tweetpipe_common::serve::Readiness;
use tweetpipe_common::telemetry;

use crate::config::TransformerConfig;
use crate::metrics::{Metrics, PartitionLabel, ReasonLabel, ResultLabel};
use crate::retry::Backoff;
use crate::rows::StoredPost;
use crate::store::{BatchOutcome, Store, StoreError};
use crate::transform;

/// Links from a batch span to the traces of its records, at most this many.
const MAX_TRACE_LINKS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("Kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    KafkaConfig(#[from] tweetpipe_common::kafka::KafkaConfigError),
}

/// librdkafka callbacks: consumer lag from the statistics.
pub struct LagContext {
    metrics: Metrics,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in statistics.topics {
            for (partition, p) in stats.partitions {
                // Partition -1 is librdkafka's internal "unassigned" entry.
                if partition < 0 {
                    continue;
                }
                let lag = if p.consumer_lag >= 0 {
                    p.consumer_lag
                } else {
                    0
                };
                self.metrics
                    .consumer_lag
                    .get_or_create(&PartitionLabel {
                        topic: topic.clone(),
                        partition,
                    })
                    .set(lag);
            }
        }
    }
}

impl ConsumerContext for LagContext {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            self.metrics.commit_failures.inc();
            tracing::warn!(error = %e, "offset commit failed after the database commit; the records will be consumed again and absorbed");
        }
    }
}

pub type TransformerConsumer = StreamConsumer<LagContext>;

/// A record that goes to the dead-letter topic.
#[derive(Debug)]
pub struct DeadLetter {
    pub message: OwnedMessage,
    /// Short, bounded: the metric label.
    pub kind: &'static str,
    /// The full reason, in the `tweetpipe-error` header.
    pub reason: String,
}

/// What the batcher hands to the writer.
#[derive(Default)]
struct Batch {
    posts: Vec<StoredPost>,
    /// `sources[i]` is the record `posts[i]` came from (kept for dead-lettering).
    sources: Vec<OwnedMessage>,
    dead: Vec<DeadLetter>,
    /// Highest offset seen per (topic, partition).
    offsets: BTreeMap<(String, i32), i64>,
    parent: Option<opentelemetry::Context>,
    links: Vec<SpanContext>,
    records: usize,
}

/// The running transformer's parts.
pub struct Pipeline {
    config: TransformerConfig,
    consumer: Arc<TransformerConsumer>,
    producer: FutureProducer,
    store: Store,
    metrics: Metrics,
    readiness: Readiness,
    registry: Option<SchemaRegistry>,
}

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
        let consumer: TransformerConsumer = consumer_config.create_with_context(LagContext {
            metrics: metrics.clone(),
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
            readiness: self.readiness.clone(),
            max_backoff: self.config.max_backoff(),
            abandon,
            concurrency,
        };
        let writer_task = tokio::spawn(writer.run(from_batcher));
        self.batch_loop(to_writer, shutdown).await;
        if let Err(e) = writer_task.await {
            tracing::error!(error = %e, "writer task failed");
        }
        self.readiness.set(false);
        self.consumer.unsubscribe();
        tracing::info!("transformer stopped");
        Ok(())
    }

    async fn batch_loop(&self, to_writer: mpsc::Sender<Batch>, shutdown: CancellationToken) {
        let mut batch = Batch::default();
        let mut deadline: Option<Instant> = None;
        loop {
            let flush_at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(flush_at), if deadline.is_some() => {
                    deadline = None;
                    if to_writer.send(std::mem::take(&mut batch)).await.is_err() {
                        return;
                    }
                }
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        let message = message.detach();
                        self.add(&mut batch, message).await;
                        deadline.get_or_insert_with(|| Instant::now() + self.config.flush_interval());
                        if batch.records >= self.config.batch_size {
                            deadline = None;
                            if to_writer.send(std::mem::take(&mut batch)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consume error; librdkafka retries");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
        }
        if batch.records > 0 {
            tracing::info!(
                records = batch.records,
                "shutting down: writing the open batch"
            );
            // A closed channel means the writer is gone; the batch then stays uncommitted.
            let _ = to_writer.send(batch).await;
        }
    }

    /// Decodes and transforms one record into the batch (or its dead letters).
    async fn add(&self, batch: &mut Batch, message: OwnedMessage) {
        self.metrics.records_consumed.inc();
        batch.records += 1;
        let key = (message.topic().to_owned(), message.partition());
        let offset = message.offset();
        batch
            .offsets
            .entry(key)
            .and_modify(|o| *o = (*o).max(offset))
            .or_insert(offset);

        if let Some(headers) = message.headers() {
            let cx = telemetry::extract_from_headers(headers);
            let span_context = cx.span().span_context().clone();
            if span_context.is_valid() {
                if batch.parent.is_none() {
                    batch.parent = Some(cx);
                } else if batch.links.len() < MAX_TRACE_LINKS {
                    batch.links.push(span_context);
                }
            }
        }

        let decoded = match message.payload() {
            None | Some([]) => Err(("decode", "record has no value".to_owned())),
            Some(bytes) => codec::decode_post_with(bytes, self.registry.as_ref())
                .await
                .map_err(|e| ("decode", format!("cannot decode Avro post: {e}"))),
        };
        let stored = decoded.and_then(|post| {
            transform::transform(&post).map_err(|e| ("invalid", format!("invalid post: {e}")))
        });
        match stored {
            Ok(stored) => {
                batch.posts.push(stored);
                batch.sources.push(message);
            }
            Err((kind, reason)) => batch.dead.push(DeadLetter {
                message,
                kind,
                reason,
            }),
        }
    }
}

struct Writer {
    consumer: Arc<TransformerConsumer>,
    producer: FutureProducer,
    dlq_topic: String,
    store: Store,
    metrics: Metrics,
    readiness: Readiness,
    max_backoff: Duration,
    abandon: CancellationToken,
    concurrency: usize,
}

/// The writer gave up on a batch because shutdown's grace period ran out.
struct Abandoned;

impl Writer {
    /// Writes up to `concurrency` batches at once (each in its own transaction on its own
    /// connection) and commits their offsets strictly in hand-over order, so a partition's
    /// committed offset never passes a batch that is not yet in MySQL.
    async fn run(self, batches: mpsc::Receiver<Batch>) {
        let incoming = futures::stream::unfold(batches, |mut rx| async move {
            rx.recv().await.map(|batch| (batch, rx))
        });
        let mut written = std::pin::pin!(
            incoming
                .map(|batch| self.write_traced(batch))
                .buffered(self.concurrency)
        );
        let mut last_offsets = BTreeMap::new();
        while let Some(result) = written.next().await {
            match result {
                Ok(offsets) => {
                    self.commit(&offsets);
                    last_offsets = offsets;
                }
                Err(Abandoned) => {
                    tracing::warn!(
                        "shutdown grace period over: open batches abandoned uncommitted; their records will be consumed again"
                    );
                    return;
                }
            }
        }
        // At shutdown, wait for the last commit so the next owner starts right after it.
        if let Some(list) = offset_list(&last_offsets) {
            let consumer = Arc::clone(&self.consumer);
            let committed =
                tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync)).await;
            if !matches!(committed, Ok(Ok(()))) {
                self.metrics.commit_failures.inc();
                tracing::warn!(
                    "final offset commit failed; the last batch will be consumed again and absorbed"
                );
            }
        }
    }

    /// Stores one batch and its dead letters inside the batch's span; returns its offsets.
    async fn write_traced(&self, batch: Batch) -> Result<BTreeMap<(String, i32), i64>, Abandoned> {
        let span = tracing::info_span!(
            "transform_batch",
            records = batch.records,
            posts = batch.posts.len(),
            dead_letters = tracing::field::Empty,
            inserted = tracing::field::Empty,
        );
        if let Some(parent) = &batch.parent {
            let _ = span.set_parent(parent.clone());
        }
        for link in &batch.links {
            span.add_link(link.clone());
        }
        let started = Instant::now();
        let records = batch.records;
        let offsets = self.process(batch).instrument(span).await?;
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_records.observe(records as f64);
        Ok(offsets)
    }

    async fn process(&self, batch: Batch) -> Result<BTreeMap<(String, i32), i64>, Abandoned> {
        let Batch {
            posts,
            sources,
            mut dead,
            offsets,
            ..
        } = batch;
        let outcome = self.store_bisecting(&posts, &sources, &mut dead).await?;
        let span = tracing::Span::current();
        span.record("inserted", outcome.posts_inserted);
        span.record("dead_letters", dead.len());
        self.send_dead_letters(&dead).await?;
        Ok(offsets)
    }

    /// Stores `posts`; when MySQL rejects rows, halves the batch until the bad records are
    /// alone, and turns those into dead letters.
    async fn store_bisecting(
        &self,
        posts: &[StoredPost],
        sources: &[OwnedMessage],
        dead: &mut Vec<DeadLetter>,
    ) -> Result<BatchOutcome, Abandoned> {
        let mut total = BatchOutcome::default();
        let mut pending: Vec<std::ops::Range<usize>> = Vec::new();
        pending.push(0..posts.len());
        while let Some(range) = pending.pop() {
            if range.is_empty() {
                continue;
            }
            match self.store_retrying(&posts[range.clone()]).await? {
                Ok(outcome) => {
                    total.posts += outcome.posts;
                    total.posts_inserted += outcome.posts_inserted;
                    total.matches_inserted += outcome.matches_inserted;
                }
                Err(error) if range.len() == 1 => {
                    tracing::warn!(error = %error, offset = sources[range.start].offset(), "MySQL rejected a post; dead-lettering it");
                    dead.push(DeadLetter {
                        message: sources[range.start].clone(),
                        kind: "rejected",
                        reason: format!("MySQL rejected the post: {error}"),
                    });
                }
                Err(_) => {
                    let middle = range.start + range.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
            }
        }
        self.metrics
            .posts_written
            .get_or_create(&ResultLabel { result: "inserted" })
            .inc_by(total.posts_inserted);
        self.metrics
            .posts_written
            .get_or_create(&ResultLabel {
                result: "duplicate",
            })
            .inc_by(total.posts.saturating_sub(total.posts_inserted));
        let child_rows: usize = posts
            .iter()
            .map(|p| {
                1 + usize::from(p.author.is_some())
                    + p.hashtags.len()
                    + p.mentions.len()
                    + p.urls.len()
                    + p.references.len()
            })
            .sum();
        self.metrics.rows_written.inc_by(child_rows as u64);
        Ok(total)
    }

    /// Writes one (sub-)batch, retrying for as long as MySQL is unavailable. The inner
    /// error is a rejection of the rows themselves.
    async fn store_retrying(
        &self,
        posts: &[StoredPost],
    ) -> Result<Result<BatchOutcome, StoreError>, Abandoned> {
        let mut backoff = Backoff::new(Duration::from_millis(100), self.max_backoff);
        loop {
            match self.store.write_batch(posts).await {
                Ok(outcome) => {
                    self.metrics.mysql_up.set(1);
                    self.readiness.set(true);
                    return Ok(Ok(outcome));
                }
                Err(error @ StoreError::Rejected(_)) => {
                    self.metrics.mysql_up.set(1);
                    self.metrics
                        .write_retries
                        .get_or_create(&ReasonLabel { reason: "rejected" })
                        .inc();
                    return Ok(Err(error));
                }
                Err(StoreError::Unavailable(error)) => {
                    self.metrics.mysql_up.set(0);
                    self.readiness.set(false);
                    self.metrics
                        .write_retries
                        .get_or_create(&ReasonLabel {
                            reason: "unavailable",
                        })
                        .inc();
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, posts = posts.len(), "MySQL unavailable; consumption paused, retrying the batch");
                    self.pause(delay).await?;
                }
            }
        }
    }

    async fn pause(&self, delay: Duration) -> Result<(), Abandoned> {
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            () = self.abandon.cancelled() => Err(Abandoned),
        }
    }

    /// Produces the dead letters and waits until Kafka has them all.
    async fn send_dead_letters(&self, dead: &[DeadLetter]) -> Result<(), Abandoned> {
        let mut backoff = Backoff::new(Duration::from_millis(200), self.max_backoff);
        let mut pending: Vec<&DeadLetter> = dead.iter().collect();
        while !pending.is_empty() {
            let sends = pending.iter().map(|letter| self.send_dead_letter(letter));
            let results = futures::future::join_all(sends).await;
            let mut failed = Vec::new();
            for (letter, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(()) => {
                        tracing::warn!(reason = %letter.reason, topic = letter.message.topic(), partition = letter.message.partition(), offset = letter.message.offset(), "record dead-lettered");
                        self.metrics
                            .dead_letters
                            .get_or_create(&ReasonLabel {
                                reason: letter.kind,
                            })
                            .inc();
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot produce a dead letter; retrying");
                        failed.push(letter);
                    }
                }
            }
            pending = failed;
            if !pending.is_empty() {
                self.pause(backoff.next_delay()).await?;
            }
        }
        Ok(())
    }

    async fn send_dead_letter(
        &self,
        letter: &DeadLetter,
    ) -> Result<(), rdkafka::error::KafkaError> {
        let message = &letter.message;
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut headers = message.headers().cloned().unwrap_or_else(OwnedHeaders::new);
        headers = headers
            .insert(Header {
                key: headers::ERROR,
                value: Some(letter.reason.as_bytes()),
            })
            .insert(Header {
                key: headers::SOURCE_TOPIC,
                value: Some(message.topic().as_bytes()),
            })
            .insert(Header {
                key: headers::SOURCE_PARTITION,
                value: Some(partition.as_bytes()),
            })
            .insert(Header {
                key: headers::SOURCE_OFFSET,
                value: Some(offset.as_bytes()),
            });
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.dlq_topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }

    /// Commits the next offset of every partition in the batch, asynchronously: librdkafka
    /// sends commits in order, and the database already holds the rows, so nothing waits for
    /// the broker's answer. A failed commit (typically after a rebalance moved the partition)
    /// is reported by [`LagContext::commit_callback`] and only counted: the records come again
    /// to the partition's owner, and the upserts absorb them.
    fn commit(&self, offsets: &BTreeMap<(String, i32), i64>) {
        let Some(list) = offset_list(offsets) else {
            return;
        };
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            self.metrics.commit_failures.inc();
            tracing::warn!(error = %e, "offset commit failed after the database commit; the records will be consumed again and absorbed");
        }
    }
}

/// The next offset to consume for every partition of a batch.
fn offset_list(offsets: &BTreeMap<(String, i32), i64>) -> Option<TopicPartitionList> {
    if offsets.is_empty() {
        return None;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        if let Err(e) = list.add_partition_offset(topic, *partition, Offset::Offset(offset + 1)) {
            tracing::error!(error = %e, "cannot build the offset list");
            return None;
        }
    }
    Some(list)
}
