//! One record → a post to store, a dead letter, or "try again later".
//!
//! Only records that can never decode become dead letters: no value, a framing that is neither
//! Avro single-object nor Confluent, a schema id the registry answers it does not have (404),
//! a body that does not match its schema, or a post the transform refuses. A registry that
//! cannot answer (connection error, timeout, 5xx, 429) says nothing about the record: the
//! record waits in [`Stalled`] and is decoded again after a backoff, and nothing after it is
//! taken meanwhile (see `pipeline.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::message::{Message, OwnedMessage};
use tokio::time::Instant;
use tweetpipe_common::codec::{self, CodecError, SchemaRegistry};

use crate::batch::Outcome;
use crate::retry::Backoff;
use crate::transform;

/// The result of decoding one record.
pub enum Decoded {
    Done(Outcome),
    /// The schema registry could not answer; the record must be decoded again later.
    Retry(CodecError),
}

pub async fn decode(message: &OwnedMessage, registry: Option<&SchemaRegistry>) -> Decoded {
    let post = match message.payload() {
        None | Some([]) => {
            return Decoded::Done(Outcome::Dead {
                kind: "decode",
                reason: "record has no value".to_owned(),
            });
        }
        Some(bytes) => match codec::decode_post_with(bytes, registry).await {
            Ok(post) => post,
            Err(error) if error.is_retryable() => return Decoded::Retry(error),
            Err(error) => {
                return Decoded::Done(Outcome::Dead {
                    kind: "decode",
                    reason: format!("cannot decode Avro post: {error}"),
                });
            }
        },
    };
    Decoded::Done(match transform::transform(&post) {
        Ok(stored) => Outcome::Post(Box::new(stored)),
        Err(error) => Outcome::Dead {
            kind: "invalid",
            reason: format!("invalid post: {error}"),
        },
    })
}

/// Records held back, in consumption order, while the schema registry is unavailable.
pub struct Stalled {
    records: VecDeque<(OwnedMessage, u64)>,
    backoff: Backoff,
    retry_at: Instant,
}

impl Stalled {
    pub fn new(max_backoff: Duration) -> Self {
        Self {
            records: VecDeque::new(),
            backoff: Backoff::new(Duration::from_millis(200), max_backoff),
            retry_at: Instant::now(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn retry_at(&self) -> Instant {
        self.retry_at
    }

    /// Holds a record back (behind any already held).
    pub fn push(&mut self, message: OwnedMessage, epoch: u64) {
        self.records.push_back((message, epoch));
    }

    /// The first record held back.
    pub fn front(&self) -> Option<&(OwnedMessage, u64)> {
        self.records.front()
    }

    pub fn pop(&mut self) -> Option<(OwnedMessage, u64)> {
        self.records.pop_front()
    }

    /// The registry failed again: wait longer (with jitter) before the next attempt.
    pub fn back_off(&mut self) -> Duration {
        let delay = self.backoff.next_delay();
        self.retry_at = Instant::now() + delay;
        delay
    }

    /// Try again at once (more records are waiting behind a full batch).
    pub fn retry_now(&mut self) {
        self.retry_at = Instant::now();
    }

    /// The registry answered: the next outage starts from the shortest wait.
    pub fn recovered(&mut self) {
        self.backoff.reset();
    }
}
