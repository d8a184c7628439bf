//! Kafka side: a transactional producer that writes a page of posts and the query's new
//! checkpoint atomically ([`Sink`]), and the reader that restores checkpoints at start-up
//! ([`read_checkpoints`]).

mod checkpoint_reader;
mod transaction;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, TopicPartitionList};
use tweetpipe_common::codec::{CodecError, PostEncoder};
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::headers;
use tweetpipe_common::post::Post;

pub use checkpoint_reader::read_checkpoints;
use transaction::{Step, TxnProducer};

/// Lower bound of the transaction timeout (milliseconds), see `Sink::connect`.
const MIN_TRANSACTION_TIMEOUT_MS: u128 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("Avro encoding: {0}")]
    Codec(#[from] CodecError),
    #[error("topic {topic} does not exist; the operator creates it (or create it by hand)")]
    MissingTopic { topic: String },
    #[error("timed out reading checkpoints from {topic}")]
    CheckpointTimeout { topic: String },
    #[error("checkpoint record at {topic}/{partition}@{offset} is not valid JSON: {message}")]
    BadCheckpoint {
        topic: String,
        partition: i32,
        offset: i64,
        message: String,
    },
    #[error("blocking task failed: {0}")]
    Join(String),
    #[error("not a member of the slot group (yet): cannot fence the transaction")]
    NotAMember,
    /// librdkafka can wait for ever on a coordinator that is down, whatever the timeout given
    /// (confluentinc/librdkafka#5456): the call is left behind and its producer abandoned.
    #[error(
        "the Kafka transaction's {step} has not returned for {stuck_for:?} although its timeout is \
         {timeout:?} (librdkafka waits for ever on a coordinator that is down, \
         confluentinc/librdkafka#5456); the producer is abandoned and a new one takes over"
    )]
    Stuck {
        step: Step,
        stuck_for: Duration,
        timeout: Duration,
    },
}

impl SinkError {
    /// A newer instance with the same transactional id took over: this one must stop.
    pub fn is_fenced(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode::{Fenced, ProducerFenced};
        match self {
            SinkError::Kafka(KafkaError::Transaction(e)) => {
                matches!(e.code(), Fenced | ProducerFenced)
            }
            SinkError::Kafka(e) => matches!(e.rdkafka_error_code(), Some(Fenced | ProducerFenced)),
            _ => false,
        }
    }

    /// The producer is unusable (a fatal error, per librdkafka): make a new one.
    pub fn needs_new_producer(&self) -> bool {
        match self {
            SinkError::Kafka(KafkaError::Transaction(e)) => e.is_fatal(),
            SinkError::Kafka(KafkaError::ClientCreation(_)) | SinkError::Stuck { .. } => true,
            _ => false,
        }
    }
}

pub(crate) type TxProducer = ThreadedProducer<DefaultProducerContext>;

/// The slot-ownership fence sent with a transaction: the slot's offset and this member's group
/// metadata. The broker refuses the commit when the member's generation is stale, i.e. when
/// the query may already run elsewhere (see `ownership.rs`).
pub struct SlotFence {
    pub offsets: TopicPartitionList,
    pub group: ConsumerGroupMetadata,
}

/// A page ready to be written: posts with their encoded values, and the checkpoint after them.
/// A process-wide page number: tells a retry of the same page from a new page.
pub fn next_page_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub struct PageRecords {
    /// From [`next_page_id`]; never 0.
    pub id: u64,
    pub query: String,
    pub posts: Vec<(String, Vec<u8>)>,
    pub checkpoint: Checkpoint,
    /// `traceparent`/`tracestate` of the poll that fetched the page.
    pub trace_headers: Vec<(String, String)>,
    /// When the API's answer arrived (ms since the epoch): the start of the freshness the
    /// transformer measures, sent in the `tweetpipe-received-at` header.
    pub received_at_ms: i64,
}

impl PageRecords {
    pub fn encode(
        posts: &[Post],
        encoder: &PostEncoder,
        checkpoint: Checkpoint,
        trace_headers: Vec<(String, String)>,
        received_at_ms: i64,
    ) -> Result<Self, SinkError> {
        let posts = posts
            .iter()
            .map(|p| Ok((p.id.clone(), encoder.encode(p)?)))
            .collect::<Result<Vec<_>, CodecError>>()?;
        Ok(PageRecords {
            id: next_page_id(),
            query: checkpoint.query.clone(),
            posts,
            checkpoint,
            trace_headers,
            received_at_ms,
        })
    }
}

pub struct Sink {
    config: ClientConfig,
    /// Replaced whole (with its transaction state) by [`Sink::reconnect`]: a call left stuck
    /// inside the old one can never touch the new one's state.
    producer: Arc<TxnProducer>,
    topic: String,
    checkpoint_topic: String,
    /// Topics that must exist besides the two written (the slots topic).
    other_topics: Vec<String>,
    timeout: Duration,
}

fn new_producer(config: &ClientConfig, timeout: Duration) -> Result<TxnProducer, KafkaError> {
    let producer: TxProducer = config.create()?;
    producer.init_transactions(timeout)?;
    Ok(TxnProducer::new(producer))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SinkError> + Send + 'static,
) -> Result<T, SinkError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SinkError::Join(e.to_string()))?
}

impl Sink {
    /// Creates the transactional producer (fencing any previous instance with the same
    /// transactional id, whose open transaction is aborted).
    pub async fn connect(
        base: ClientConfig,
        transactional_id: &str,
        topic: &str,
        checkpoint_topic: &str,
        other_topics: &[String],
        timeout: Duration,
    ) -> Result<Self, SinkError> {
        let mut config = base;
        let timeout_ms = timeout.as_millis().to_string();
        config
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "zstd")
            .set("linger.ms", "5")
            // A Kafka outage shorter than this keeps the open transaction alive, so the
            // retried commit completes instead of finding the producer fenced by the
            // coordinator's timeout abort. A restarted instance aborts it at once anyway
            // (init_transactions with the same id), so a long timeout blocks nobody.
            .set(
                "transaction.timeout.ms",
                (timeout.as_millis() * 2)
                    .max(MIN_TRANSACTION_TIMEOUT_MS)
                    .to_string(),
            )
            .set("message.timeout.ms", &timeout_ms)
            .set("socket.timeout.ms", &timeout_ms);
        let for_producer = config.clone();
        let producer = blocking(move || Ok(new_producer(&for_producer, timeout)?)).await?;
        let sink = Sink {
            config,
            producer: Arc::new(producer),
            topic: topic.to_string(),
            checkpoint_topic: checkpoint_topic.to_string(),
            other_topics: other_topics.to_vec(),
            timeout,
        };
        sink.require_topics().await?;
        Ok(sink)
    }

    async fn require_topics(&self) -> Result<(), SinkError> {
        let producer = self.producer.clone();
        let mut topics = vec![self.topic.clone(), self.checkpoint_topic.clone()];
        topics.extend(self.other_topics.iter().cloned());
        let timeout = self.timeout;
        blocking(move || {
            for topic in topics {
                let metadata = producer
                    .producer
                    .client()
                    .fetch_metadata(Some(&topic), timeout)?;
                let exists = metadata.topics().iter().any(|t| {
                    t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                });
                if !exists {
                    return Err(SinkError::MissingTopic { topic });
                }
            }
            Ok(())
        })
        .await
    }

    /// Replaces an unusable producer with a new one (same transactional id, so the broker
    /// fences the old one: a transaction it still had open is aborted, never committed).
    pub async fn reconnect(&mut self) -> Result<(), SinkError> {
        let config = self.config.clone();
        let timeout = self.timeout;
        let producer = blocking(move || Ok(new_producer(&config, timeout)?)).await?;
        // The old one's drop flushes and destroys (waiting on its broker threads): not here.
        tweetpipe_common::kafka::retire(std::mem::replace(&mut self.producer, Arc::new(producer)));
        Ok(())
    }

    /// Writes the posts and the checkpoint in one transaction, fenced by `fence` when given.
    /// On error the transaction is aborted (so none of it becomes visible) and the caller
    /// retries with the same page; an abort that could not finish (Kafka unreachable) is
    /// resumed first on the next call. A step stuck inside librdkafka past its timeout fails
    /// the call with [`SinkError::Stuck`]; the caller then makes a new producer.
    pub async fn write_page(
        &self,
        page: Arc<PageRecords>,
        fence: Option<SlotFence>,
    ) -> Result<(), SinkError> {
        let topics = (self.topic.clone(), self.checkpoint_topic.clone());
        transaction::run_watched(self.producer.clone(), self.timeout, move |txn| {
            write_transaction(txn, &topics.0, &topics.1, &page, fence.as_ref())
        })
        .await
    }

    /// Waits for everything in flight (used at shutdown; transactions are already committed).
    pub async fn flush(&self) {
        let producer = self.producer.clone();
        let timeout = self.timeout;
        let _ = blocking(move || Ok(producer.producer.flush(timeout)?)).await;
    }
}

/// One page's transaction, step by step, on the watched thread ([`transaction::run_watched`]).
fn write_transaction(
    txn: &transaction::Watched,
    topic: &str,
    checkpoint_topic: &str,
    page: &PageRecords,
    fence: Option<&SlotFence>,
) -> Result<(), SinkError> {
    let state = txn.state();
    let timeout = txn.timeout();
    // A commit timed out (Kafka unreachable): librdkafka wants the same call repeated until it
    // resolves. Aborting would be refused ("conflicting commit_transaction in progress") and
    // producing again could duplicate the page. When it resolves as committed and carried
    // *this* page, the page is done; when it carried an earlier, abandoned page (committed
    // after all), this page still has to be written.
    let pending = state.commit_pending.load(Ordering::SeqCst);
    if pending != 0 {
        match txn.commit(Step::ResumeCommit) {
            Ok(()) => {
                state.commit_pending.store(0, Ordering::SeqCst);
                if pending == page.id {
                    return Ok(());
                }
            }
            Err(SinkError::Kafka(KafkaError::Transaction(e))) if e.is_retriable() => {
                return Err(KafkaError::Transaction(e).into());
            }
            // Abortable or fatal: that page was not committed; start this one over.
            Err(_) => {
                state.commit_pending.store(0, Ordering::SeqCst);
                state.needs_abort.store(true, Ordering::SeqCst);
            }
        }
    }
    if state.needs_abort.load(Ordering::SeqCst) {
        txn.step(Step::ResumeAbort, |p| p.abort_transaction(timeout))?;
        state.needs_abort.store(false, Ordering::SeqCst);
    }
    txn.step(Step::Begin, |p| p.begin_transaction())?;
    let fenced_produce = txn
        .step(Step::Produce, |p| {
            produce_all(p, topic, checkpoint_topic, page, timeout)
        })
        .and_then(|()| match fence {
            Some(fence) => txn.step(Step::SendOffsets, |p| {
                p.send_offsets_to_transaction(&fence.offsets, &fence.group, timeout)
            }),
            None => Ok(()),
        });
    if let Err(e) = fenced_produce {
        txn.abort_after_failure();
        return Err(e);
    }
    match txn.commit(Step::Commit) {
        Ok(()) => Ok(()),
        Err(SinkError::Kafka(KafkaError::Transaction(e))) if e.is_retriable() => {
            state.commit_pending.store(page.id, Ordering::SeqCst);
            Err(KafkaError::Transaction(e).into())
        }
        Err(e) => {
            txn.abort_after_failure();
            Err(e)
        }
    }
}

fn produce_all(
    producer: &TxProducer,
    topic: &str,
    checkpoint_topic: &str,
    page: &PageRecords,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let received_at = headers::encode_received_at(page.received_at_ms);
    let mut base_headers = OwnedHeaders::new_with_capacity(4)
        .insert(Header {
            key: headers::QUERY,
            value: Some(page.query.as_bytes()),
        })
        .insert(Header {
            key: headers::RECEIVED_AT,
            value: Some(received_at.as_bytes()),
        });
    for (k, v) in &page.trace_headers {
        base_headers = base_headers.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    for (key, value) in &page.posts {
        send(
            producer,
            BaseRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(base_headers.clone()),
            timeout,
        )?;
    }
    let checkpoint = serde_json::to_vec(&page.checkpoint).unwrap_or_default();
    send(
        producer,
        BaseRecord::to(checkpoint_topic)
            .key(&page.query)
            .payload(&checkpoint)
            .headers(base_headers),
        timeout,
    )
}

/// Queues one record; a full queue is waited out for at most `timeout` (the queue drains as
/// Kafka acknowledges or messages time out), then reported as Kafka's `QueueFull`.
fn send(
    producer: &TxProducer,
    record: BaseRecord<'_, String, Vec<u8>>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let deadline = std::time::Instant::now() + timeout;
    let mut record = record;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                e @ KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                if std::time::Instant::now() >= deadline {
                    return Err(e);
                }
                // The threaded producer drains the queue in the background; wait a moment.
                std::thread::sleep(Duration::from_millis(10));
                record = r;
            }
            Err((e, _)) => return Err(e),
        }
    }
}
