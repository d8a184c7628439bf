//! What the batcher hands to the writer: posts, dead letters, and per partition the highest
//! offset taken with the assignment epoch it was consumed under.

use std::collections::{BTreeMap, HashSet};

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};
use rdkafka::message::{Headers, Message, OwnedMessage};
use tweetpipe_common::headers as telemetry_headers;
use tweetpipe_common::telemetry;

use crate::ownership::PartitionKey;
use crate::rows::StoredPost;

/// Links from a batch span to the traces of its records' pages (one per page, not per record),
/// at most this many.
pub const MAX_TRACE_LINKS: usize = 128;

/// A record that goes to the dead-letter topic.
#[derive(Debug)]
pub struct DeadLetter {
    pub message: OwnedMessage,
    /// The assignment epoch its partition had when it was consumed.
    pub epoch: u64,
    /// Short, bounded: the metric label.
    pub kind: &'static str,
    /// The full reason, in the `tweetpipe-error` header.
    pub reason: String,
}

impl DeadLetter {
    pub fn partition_key(&self) -> PartitionKey {
        (self.message.topic().to_owned(), self.message.partition())
    }
}

/// A partition's progress in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub epoch: u64,
    /// The highest offset taken under that epoch.
    pub offset: i64,
}

/// A consumed record with the epoch its partition had then.
#[derive(Debug)]
pub struct Source {
    pub message: OwnedMessage,
    pub epoch: u64,
}

#[derive(Default)]
pub struct Batch {
    pub posts: Vec<StoredPost>,
    /// `sources[i]` is the record `posts[i]` came from (kept for dead-lettering).
    pub sources: Vec<Source>,
    pub dead: Vec<DeadLetter>,
    pub marks: BTreeMap<PartitionKey, Mark>,
    /// The trace context of the first record's page: the batch span's parent.
    pub parent: Option<opentelemetry::Context>,
    /// The other pages' trace contexts, each once (the batch span links the first
    /// [`MAX_TRACE_LINKS`]; each gets a span of its own).
    pub pages: Vec<SpanContext>,
    seen_pages: HashSet<(TraceId, SpanId)>,
    /// The `traceparent` of the record added last.
    last_traceparent: Option<Vec<u8>>,
    pub records: usize,
}

/// What became of one record.
pub enum Outcome {
    /// Boxed: the enum moves through the decoder and the stall queue by value.
    Post(Box<StoredPost>),
    Dead {
        kind: &'static str,
        reason: String,
    },
}

impl Batch {
    /// Adds a record that was decoded (or judged undecodable) under `epoch`.
    pub fn add(&mut self, message: OwnedMessage, epoch: u64, outcome: Outcome) {
        self.records += 1;
        let key = (message.topic().to_owned(), message.partition());
        let offset = message.offset();
        self.marks
            .entry(key)
            .and_modify(|mark| {
                // A newer epoch restarts the mark: the partition was given back and is read
                // again from its committed offset.
                if epoch > mark.epoch {
                    *mark = Mark { epoch, offset };
                } else if epoch == mark.epoch {
                    mark.offset = mark.offset.max(offset);
                }
            })
            .or_insert(Mark { epoch, offset });
        self.link_trace(&message);
        match outcome {
            Outcome::Post(stored) => {
                self.posts.push(*stored);
                self.sources.push(Source { message, epoch });
            }
            Outcome::Dead { kind, reason } => self.dead.push(DeadLetter {
                message,
                epoch,
                kind,
                reason,
            }),
        }
    }

    fn link_trace(&mut self, message: &OwnedMessage) {
        let Some(headers) = message.headers() else {
            return;
        };
        // A page's records come one after another with the same `traceparent`: compared as
        // bytes, the next ones skip extracting the context (a string per header, per record).
        let Some(traceparent) = headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(telemetry_headers::TRACEPARENT))
            .and_then(|h| h.value)
        else {
            return;
        };
        if self.last_traceparent.as_deref() == Some(traceparent) {
            return;
        }
        self.last_traceparent = Some(traceparent.to_vec());
        let cx = telemetry::extract_from_headers(headers);
        let span_context = cx.span().span_context().clone();
        if !span_context.is_valid() {
            return;
        }
        // The records of one page share its trace context: each page is kept once.
        if !self
            .seen_pages
            .insert((span_context.trace_id(), span_context.span_id()))
        {
            return;
        }
        if self.parent.is_none() {
            self.parent = Some(cx);
        } else {
            self.pages.push(span_context);
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};
    use tweetpipe_common::headers;

    use super::*;

    fn record(offset: i64, traceparent: &str) -> OwnedMessage {
        let headers = OwnedHeaders::new().insert(Header {
            key: headers::TRACEPARENT,
            value: Some(traceparent.as_bytes()),
        });
        OwnedMessage::new(
            None,
            None,
            "posts".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            Some(headers),
        )
    }

    fn dead() -> Outcome {
        Outcome::Dead {
            kind: "decode",
            reason: "test".into(),
        }
    }

    #[test]
    fn each_page_is_traced_once_the_first_as_parent() {
        let page_a = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let page_b = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut batch = Batch::default();
        batch.add(record(0, page_a), 1, dead());
        batch.add(record(1, page_a), 1, dead());
        batch.add(record(2, page_b), 1, dead());
        batch.add(record(3, page_b), 1, dead());
        // Page A again after B (not adjacent): still once.
        batch.add(record(4, page_a), 1, dead());
        let parent = batch.parent.as_ref().expect("a parent");
        assert_eq!(
            parent.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(batch.pages.len(), 1, "page B once, page A not repeated");
        assert_eq!(
            batch.pages[0].trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(batch.records, 5);
    }
}
