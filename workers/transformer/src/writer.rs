//! The writer: stores batches in MySQL, sends their dead letters, and commits their offsets.
//!
//! Up to `write_concurrency` batches are stored at once (each in its own transaction on its
//! own connection); what follows the store (dead letters, then the offset commit) runs one
//! batch at a time in hand-over order ([`InOrder`]), so a partition's committed offset never
//! passes a batch that is not yet in MySQL. That second step runs under an ownership
//! [`Seal`]: only the partitions this member still owns under the epoch the records were
//! consumed with get their dead letters and their commit. The rows of a revoked partition may
//! be stored anyway (the upserts are idempotent, and the new owner stores them again).
//!
//! While MySQL is unavailable the writer retries the same batch with backoff and jitter;
//! the hand-over channel then fills and the batcher pauses its partitions (it keeps polling,
//! so the member stays in its group).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use opentelemetry::trace::TraceContextExt;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tweetpipe_common::headers;

use crate::batch::{Batch, DeadLetter, MAX_TRACE_LINKS, Mark, Source};
use crate::context::TransformerConsumer;
use crate::flow::{Flow, Hold};
use crate::freshness;
use crate::in_order::InOrder;
use crate::metrics::{Metrics, ReasonLabel, ResultLabel};
use crate::ownership::{Ownership, PartitionKey, Seal};
use crate::retry::Backoff;
use crate::rows::StoredPost;
use crate::store::{BatchOutcome, Store, StoreError};

pub struct Writer {
    pub consumer: Arc<TransformerConsumer>,
    pub producer: FutureProducer,
    pub dlq_topic: String,
    pub store: Store,
    pub metrics: Metrics,
    pub flow: Arc<Flow>,
    pub ownership: Arc<Ownership>,
    pub max_backoff: Duration,
    pub abandon: CancellationToken,
    pub concurrency: usize,
    /// The pipeline's namespace and name, the labels of the freshness histogram.
    pub pipeline_labels: (String, String),
}

/// A batch stored in MySQL whose dead letters and commit are still to come.
struct Stored {
    span: tracing::Span,
    marks: BTreeMap<PartitionKey, Mark>,
    dead: Vec<DeadLetter>,
    started: Instant,
    records: usize,
}

/// The writer gave up on a batch because shutdown's grace period ran out.
struct Abandoned;

impl Writer {
    /// Stores up to `concurrency` batches at once and finishes them (dead letters, commit)
    /// strictly in hand-over order. A store that ends before an earlier one waits for its
    /// turn without holding a connection, so one transaction waiting on a row lock does not
    /// idle the others (up to `2 × concurrency` batches are held in all).
    pub async fn run(self, mut batches: mpsc::Receiver<Batch>) {
        let mut running = FuturesUnordered::new();
        let mut order: InOrder<Result<Stored, Abandoned>> = InOrder::default();
        let most_outstanding = 2 * self.concurrency as u64;
        let mut open = true;
        let mut last_marks = BTreeMap::new();
        loop {
            let room = running.len() < self.concurrency && order.outstanding() < most_outstanding;
            tokio::select! {
                Some((number, stored)) = running.next(), if !running.is_empty() => {
                    order.complete(number, stored);
                    while let Some(stored) = order.release() {
                        let finished = match stored {
                            Ok(batch) => {
                                let span = batch.span.clone();
                                self.finish(batch).instrument(span).await
                            }
                            Err(Abandoned) => Err(Abandoned),
                        };
                        match finished {
                            Ok(marks) => last_marks = marks,
                            Err(Abandoned) => {
                                tracing::warn!(
                                    "shutdown grace period over: open batches abandoned uncommitted; their records will be consumed again"
                                );
                                return;
                            }
                        }
                    }
                }
                batch = batches.recv(), if open && room => match batch {
                    Some(batch) => {
                        let number = order.hand_over();
                        running.push(self.store_traced(batch).map(move |stored| (number, stored)));
                    }
                    None => open = false,
                },
                else => break,
            }
        }
        // At shutdown, wait for the last commit so the next owner starts right after it.
        let seal = self
            .ownership
            .seal(last_marks.iter().map(|(k, m)| (k, m.epoch)));
        if let Some(list) = offset_list(&seal.owned_offsets(&last_marks)) {
            let committed = self.commit_sync(list).await;
            if !committed {
                tracing::warn!(
                    "final offset commit failed; the last batch will be consumed again and absorbed"
                );
            }
        }
    }

    /// Stores one batch inside the batch's span.
    async fn store_traced(&self, batch: Batch) -> Result<Stored, Abandoned> {
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
        for page in batch.pages.iter().take(MAX_TRACE_LINKS) {
            span.add_link(page.clone());
        }
        // Every other page in the batch gets a span of its own in its own trace, so that each
        // post's trace holds the extractor's page span and a transformer span; one per page
        // (up to 100 posts), not per record. They end when the batch is stored.
        let page_spans: Vec<tracing::Span> = batch
            .pages
            .iter()
            .map(|page| {
                let page_span = tracing::info_span!(parent: None, "store_page");
                let _ = page_span.set_parent(
                    opentelemetry::Context::new().with_remote_span_context(page.clone()),
                );
                page_span.add_link(span.context().span().span_context().clone());
                page_span
            })
            .collect();
        let started = Instant::now();
        let records = batch.records;
        let Batch {
            posts,
            sources,
            mut dead,
            marks,
            ..
        } = batch;
        let outcome = self
            .store_bisecting(&posts, &sources, &mut dead)
            .instrument(span.clone())
            .await?;
        span.record("inserted", outcome.posts_inserted);
        drop(page_spans);
        Ok(Stored {
            span,
            marks,
            dead,
            started,
            records,
        })
    }

    /// Sends the dead letters and commits the offsets of the partitions still owned under the
    /// epoch their records were consumed with; drops the rest (the new owner consumes them
    /// again). Returns what was committed.
    async fn finish(&self, batch: Stored) -> Result<BTreeMap<PartitionKey, Mark>, Abandoned> {
        let seal = self
            .ownership
            .seal(batch.marks.iter().map(|(key, mark)| (key, mark.epoch)));
        let owned = seal.owned_offsets(&batch.marks);
        let stale = batch.marks.len() - owned.len();
        if stale > 0 {
            self.metrics.stale_partition_commits.inc_by(stale as u64);
            tracing::info!(
                partitions = stale,
                "batch holds records of partitions revoked since: not committing them"
            );
        }
        let dead: Vec<&DeadLetter> = batch
            .dead
            .iter()
            .filter(|letter| current(&seal, &owned, letter))
            .collect();
        tracing::Span::current().record("dead_letters", dead.len());
        self.send_dead_letters(&dead).await?;
        if let Some(list) = offset_list(&owned) {
            if dead.is_empty() {
                self.commit_async(&list);
            } else {
                // Dead letters are the one side effect a repeat would show: make sure the
                // commit is in before the seal lets a revoke hand the partition over.
                self.commit_sync(list).await;
            }
        }
        drop(seal);
        self.metrics
            .batch_seconds
            .observe(batch.started.elapsed().as_secs_f64());
        self.metrics.batch_records.observe(batch.records as f64);
        Ok(owned)
    }

    /// Stores `posts`; when MySQL rejects rows, halves the batch until the bad records are
    /// alone, and turns those into dead letters.
    async fn store_bisecting(
        &self,
        posts: &[StoredPost],
        sources: &[Source],
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
                    self.observe_freshness(&sources[range.clone()]);
                    total.posts += outcome.posts;
                    total.posts_inserted += outcome.posts_inserted;
                    total.matches_inserted += outcome.matches_inserted;
                }
                Err(error) if range.len() == 1 => {
                    let source = &sources[range.start];
                    tracing::warn!(error = %error, offset = source.message.offset(), "MySQL rejected a post; dead-lettering it");
                    dead.push(DeadLetter {
                        message: source.message.clone(),
                        epoch: source.epoch,
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

    /// Observes the freshness of records just committed to MySQL.
    fn observe_freshness(&self, committed: &[Source]) {
        let committed_at = chrono::Utc::now().timestamp_millis();
        let (namespace, pipeline) = &self.pipeline_labels;
        for source in committed {
            if let Some((labels, received_at)) =
                freshness::observation(&source.message, namespace, pipeline)
            {
                self.metrics
                    .freshness
                    .get_or_create(&labels)
                    .observe(freshness::freshness_seconds(received_at, committed_at));
            }
        }
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
                    self.flow.set_unready(Hold::MysqlUnavailable, false);
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
                    self.flow.set_unready(Hold::MysqlUnavailable, true);
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
    async fn send_dead_letters(&self, dead: &[&DeadLetter]) -> Result<(), Abandoned> {
        let mut backoff = Backoff::new(Duration::from_millis(200), self.max_backoff);
        let mut pending: Vec<&DeadLetter> = dead.to_vec();
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

    /// Commits asynchronously: librdkafka sends commits in order, and the database already
    /// holds the rows, so nothing waits for the broker's answer. A failed commit is reported
    /// by the context's commit callback and only counted: the records come again to the
    /// partition's owner, and the upserts absorb them.
    fn commit_async(&self, list: &TopicPartitionList) {
        if let Err(e) = self.consumer.commit(list, CommitMode::Async) {
            self.metrics.commit_failures.inc();
            tracing::warn!(error = %e, "offset commit failed after the database commit; the records will be consumed again and absorbed");
        }
    }

    /// Commits and waits for the broker's answer; false (and counted) when it failed.
    async fn commit_sync(&self, list: TopicPartitionList) -> bool {
        let consumer = Arc::clone(&self.consumer);
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync)).await;
        let ok = matches!(committed, Ok(Ok(())));
        if !ok {
            self.metrics.commit_failures.inc();
        }
        ok
    }
}

/// True when a dead letter's partition is sealed under the epoch the record was consumed with.
fn current(seal: &Seal<'_>, owned: &BTreeMap<PartitionKey, Mark>, letter: &DeadLetter) -> bool {
    let key = letter.partition_key();
    seal.owns(&key)
        && owned
            .get(&key)
            .is_some_and(|mark| mark.epoch == letter.epoch)
}

/// The next offset to consume for every partition of a batch.
fn offset_list(marks: &BTreeMap<PartitionKey, Mark>) -> Option<TopicPartitionList> {
    if marks.is_empty() {
        return None;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), mark) in marks {
        if let Err(e) =
            list.add_partition_offset(topic, *partition, Offset::Offset(mark.offset + 1))
        {
            tracing::error!(error = %e, "cannot build the offset list");
            return None;
        }
    }
    Some(list)
}
