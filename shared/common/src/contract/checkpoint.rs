//! Per-query progress, the value of the compacted `<topic>.checkpoints` topic (key = query name).
//!
//! The extractor writes one in the same Kafka transaction as the posts it covers; the operator
//! reads the topic to report progress and monthly usage. The topic name is
//! [`super::topics::checkpoint_topic`].
//!
//! Readers must accept records written by older extractors, so everything but `query` has a
//! default: a missing counter is 0, a missing `month` is empty (matches no month).

use serde::{Deserialize, Serialize};

/// Progress of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Query name (also the record key).
    pub query: String,
    /// Newest post id fully collected: the next poll asks for posts after it.
    #[serde(default)]
    pub since_id: Option<String>,
    /// Newest post id seen (equals `since_id` once a pagination run completes).
    #[serde(default)]
    pub newest_id: Option<String>,
    /// Posts collected since the beginning.
    #[serde(default)]
    pub posts_total: u64,
    /// RFC 3339 time of the last poll.
    #[serde(default)]
    pub last_poll_at: Option<String>,
    /// `YYYY-MM` the month counters belong to; empty in records that lack it.
    #[serde(default)]
    pub month: String,
    /// Posts collected in `month`.
    #[serde(default)]
    pub month_posts: u64,
    /// Set while a pagination run is in progress: the page token to resume from and the
    /// `since_id` that run started from. Absent in records written by older extractors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Why the query was stopped (invalid query, unauthorized, usage cap), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    /// The query's rate window as of this checkpoint, so whoever runs the query next (a
    /// restarted pod, another replica after a rescale) goes on spending the same window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_window: Option<RateWindow>,
    /// The latest time range that could no longer be fetched (the checkpoint fell out of the
    /// API's 7-day window); `gaps_total` counts all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_gap: Option<Gap>,
    #[serde(default)]
    pub gaps_total: u64,
    /// Progress of a stream-mode query; absent for search queries (and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamProgress>,
}

/// What a stream-mode query has stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamProgress {
    /// RFC 3339: every matching post published before this is stored (streamed, backfilled or
    /// recovered by search). A reconnect later than `backfill_minutes` after it leaves a gap
    /// from here.
    pub stored_until: String,
    /// Posts stored from recovery searches (of `posts_total`).
    #[serde(default)]
    pub recovered_posts: u64,
    /// Recovery searches run (each one gap beyond backfill).
    #[serde(default)]
    pub recoveries: u64,
    /// The id X gave the query's rule (absent in older records and before the rules were in
    /// place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// The app's connection as the holder saw it when it wrote this checkpoint; every query of
    /// the connection carries a copy, the freshest (`last_received_at`) tells the most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionProgress>,
    /// Ids of the posts written for this query that were published at or after
    /// `stored_until` (the newest [`STREAM_RECENT_IDS_MAX`]): a reconnection's backfill or a
    /// recovery search after a restart or handoff delivers them again, and whoever resumes the
    /// query drops them before Kafka. Absent in older records (those repeats then reach Kafka;
    /// the transformer's upsert absorbs them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_ids: Vec<String>,
}

/// The stream connection of a query's app (token), written with the query's checkpoint, so
/// no write is added for it: it is as fresh as the checkpoint (a batch, or on a quiet stream a
/// keep-alive once `stored_until` lags by `keepalive_timeout_ms`; once more after a reconnect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionProgress {
    /// Connections opened after the first one (by any replica: a restart's or a handoff's
    /// first connection counts), since the connection's first checkpoint.
    #[serde(default)]
    pub reconnects: u64,
    /// RFC 3339: when the current connection was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<String>,
    /// RFC 3339: when it last delivered anything, a post or a keep-alive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_received_at: Option<String>,
    /// `backfill_minutes` the current connection asked (0: none, a first connection).
    #[serde(default)]
    pub backfill_minutes: u8,
}

/// Bound on [`StreamProgress::recent_ids`]: the ids of a few seconds of posts (the extractor's
/// `delivery_lag_ms`) in normal streaming; a recovery search's pages until its last one.
pub const STREAM_RECENT_IDS_MAX: usize = 1_000;

/// Requests spent on a query in the API's current rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateWindow {
    /// `x-rate-limit-reset` of the window: epoch seconds.
    pub reset: i64,
    /// Requests this query sent in it.
    pub sent: u32,
}

/// Posts between `from` and `to` (RFC 3339) that were never fetched: recent search serves only
/// the last 7 days, and the query's checkpoint was older.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: String,
    pub to: String,
    /// When the gap was found (RFC 3339).
    pub recorded_at: String,
}

/// A pagination run in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    pub next_token: String,
    /// The `since_id` the run was started with; it must be repeated with the token.
    pub run_since_id: Option<String>,
    /// Newest id of the run's first page: becomes `since_id` when the run completes.
    pub run_newest_id: String,
}

/// Why a query no longer polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReason {
    /// `invalid_query`, `unauthorized`, `usage_capped`.
    pub reason: String,
    /// The API's explanation.
    #[serde(default)]
    pub message: String,
    /// RFC 3339 time the query was stopped.
    #[serde(default)]
    pub at: String,
}

impl Checkpoint {
    /// A fresh checkpoint for a query never polled.
    pub fn new(query: &str, month: &str) -> Self {
        Checkpoint {
            query: query.to_string(),
            since_id: None,
            newest_id: None,
            posts_total: 0,
            last_poll_at: None,
            month: month.to_string(),
            month_posts: 0,
            pagination: None,
            stopped: None,
            rate_window: None,
            last_gap: None,
            gaps_total: 0,
            stream: None,
        }
    }

    /// Parses one record value of the checkpoint topic.
    pub fn from_json(value: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_minimal_contract_shape() {
        let json = r#"{"query":"q","since_id":"9","newest_id":"9","posts_total":3,
            "last_poll_at":"2026-01-01T00:00:00Z","month":"2026-01","month_posts":3}"#;
        let cp: Checkpoint = serde_json::from_str(json).expect("parse");
        assert_eq!(cp.since_id.as_deref(), Some("9"));
        assert!(cp.pagination.is_none() && cp.stopped.is_none());
        let back = serde_json::to_value(&cp).expect("serialize");
        assert!(back.get("pagination").is_none());
        assert_eq!(back["posts_total"], 3);
    }

    #[test]
    fn tolerates_records_of_older_extractors() {
        let cp = Checkpoint::from_json(br#"{"query":"q","stopped":{"reason":"unauthorized"}}"#)
            .expect("parse");
        assert_eq!((cp.posts_total, cp.month_posts), (0, 0));
        assert_eq!(cp.month, "");
        let stopped = cp.stopped.expect("stopped");
        assert_eq!(stopped.reason, "unauthorized");
        assert_eq!((stopped.message.as_str(), stopped.at.as_str()), ("", ""));
        assert!(Checkpoint::from_json(b"not json").is_err());
        assert!(
            Checkpoint::from_json(br#"{"since_id":"1"}"#).is_err(),
            "query is required"
        );
    }

    #[test]
    fn stream_progress_of_older_extractors_has_no_rule_or_connection() {
        let old =
            br#"{"query":"q","stream":{"stored_until":"2026-12-06T06:00:00.000Z","recoveries":2}}"#;
        let stream = Checkpoint::from_json(old)
            .expect("parse")
            .stream
            .expect("stream");
        assert_eq!(stream.recoveries, 2);
        assert!(stream.rule_id.is_none() && stream.connection.is_none());
        let back = serde_json::to_value(&stream).expect("serialize");
        assert!(back.get("rule_id").is_none() && back.get("connection").is_none());

        let new = br#"{"query":"q","stream":{"stored_until":"2026-12-06T06:00:00.000Z","rule_id":"17","connection":{"reconnects":3,"last_received_at":"2026-12-06T06:00:01.000Z"}}}"#;
        let stream = Checkpoint::from_json(new)
            .expect("parse")
            .stream
            .expect("stream");
        assert_eq!(stream.rule_id.as_deref(), Some("17"));
        let connection = stream.connection.expect("connection");
        assert_eq!((connection.reconnects, connection.backfill_minutes), (3, 0));
        assert!(connection.connected_at.is_none());
    }

    #[test]
    fn reads_a_stopped_query() {
        let record = br#"{"query":"covid-en","since_id":"1","newest_id":"2","posts_total":3,"last_poll_at":"2026-11-22T00:00:00Z","month":"2026-11","month_posts":3,"stopped":{"reason":"unauthorized","message":"401","at":"2026-11-22T00:00:00Z"}}"#;
        let cp = Checkpoint::from_json(record).expect("parse");
        assert_eq!(cp.month, "2026-11");
        assert_eq!(cp.stopped.map(|s| s.message), Some("401".into()));
    }
}
