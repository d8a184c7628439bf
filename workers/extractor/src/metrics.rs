//! The extractor's Prometheus metrics (prefix `tweetpipe_extractor_`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabel {
    pub query: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryOutcome {
    pub query: String,
    /// `ok` or the error kind (`rate_limited`, `server_error`, `malformed`, ...).
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StopLabel {
    pub query: String,
    pub reason: String,
}

/// A stream connection, named after the first query it serves (never the token).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabel {
    pub connection: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionReason {
    pub connection: String,
    /// `network`, `http`, `rate_limited` (X's reconnect schedules).
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub stream_connected: Family<ConnectionLabel, Gauge>,
    pub stream_reconnects: Family<ConnectionReason, Counter>,
    pub stream_keep_alives: Family<ConnectionLabel, Counter>,
    pub stream_backfill_minutes: Family<ConnectionLabel, Counter>,
    pub stream_recovered_posts: Family<QueryLabel, Counter>,
    pub stream_duplicates_dropped: Family<QueryLabel, Counter>,
    pub requests: Family<QueryOutcome, Counter>,
    pub rate_limited: Family<QueryLabel, Counter>,
    pub posts: Family<QueryLabel, Counter>,
    pub behind_seconds: Family<QueryLabel, Gauge>,
    pub stopped: Family<StopLabel, Gauge>,
    pub month_posts: Gauge,
    pub budget_paused: Gauge,
    pub rate_remaining: Gauge,
    pub rate_reset: Gauge,
    pub transactions: Counter,
    pub kafka_errors: Counter,
    pub gaps: Family<QueryLabel, Counter>,
    pub owned_slots: Gauge,
    pub slot_changes: Counter,
    pub config_reloads: Counter,
}

impl Metrics {
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("tweetpipe_extractor");
        r.register(
            "requests",
            "X API requests by query and outcome",
            self.requests.clone(),
        );
        r.register(
            "rate_limited",
            "429 rate-limit answers (the goal is zero)",
            self.rate_limited.clone(),
        );
        r.register("posts", "Posts produced to Kafka", self.posts.clone());
        r.register(
            "behind_seconds",
            "Age of the newest post fully collected (since_id): how far the query lags",
            self.behind_seconds.clone(),
        );
        r.register(
            "query_stopped",
            "1 when a query stopped (400, 401, usage cap), by reason",
            self.stopped.clone(),
        );
        r.register(
            "month_posts",
            "Posts collected this month by the queries this replica runs",
            self.month_posts.clone(),
        );
        r.register(
            "budget_paused",
            "1 while a query this replica runs has spent its monthly post budget share",
            self.budget_paused.clone(),
        );
        r.register(
            "rate_limit_remaining",
            "Last x-rate-limit-remaining seen",
            self.rate_remaining.clone(),
        );
        r.register(
            "rate_limit_reset",
            "Last x-rate-limit-reset seen (epoch seconds)",
            self.rate_reset.clone(),
        );
        r.register(
            "transactions",
            "Kafka transactions committed",
            self.transactions.clone(),
        );
        r.register(
            "kafka_errors",
            "Failed Kafka transactions (retried)",
            self.kafka_errors.clone(),
        );
        r.register(
            "gaps",
            "Checkpoints that had fallen out of the API's 7-day window: a time range lost",
            self.gaps.clone(),
        );
        r.register(
            "owned_slots",
            "Queries this replica runs now",
            self.owned_slots.clone(),
        );
        r.register(
            "slot_changes",
            "Slot assignments and revocations received from the group",
            self.slot_changes.clone(),
        );
        r.register(
            "config_reloads",
            "Live settings (request shares, monthly budget) taken from the mounted config",
            self.config_reloads.clone(),
        );
        r.register(
            "stream_connected",
            "1 while this replica holds the app's filtered-stream connection",
            self.stream_connected.clone(),
        );
        r.register(
            "stream_reconnects",
            "Stream connections lost or refused, by X's reconnect schedule (network, http, rate_limited)",
            self.stream_reconnects.clone(),
        );
        r.register(
            "stream_keep_alives",
            "Keep-alive lines read from the stream",
            self.stream_keep_alives.clone(),
        );
        r.register(
            "stream_backfill_minutes",
            "backfill_minutes asked on reconnects (sum)",
            self.stream_backfill_minutes.clone(),
        );
        r.register(
            "stream_recovered_posts",
            "Posts of a stream query fetched by recovery search over a gap longer than backfill",
            self.stream_recovered_posts.clone(),
        );
        r.register(
            "stream_duplicates_dropped",
            "Redelivered posts (backfill, recovery overlap) dropped before Kafka",
            self.stream_duplicates_dropped.clone(),
        );
        r
    }

    pub fn connection(name: &str) -> ConnectionLabel {
        ConnectionLabel {
            connection: name.to_string(),
        }
    }

    pub fn query(name: &str) -> QueryLabel {
        QueryLabel {
            query: name.to_string(),
        }
    }

    pub fn outcome(name: &str, outcome: &str) -> QueryOutcome {
        QueryOutcome {
            query: name.to_string(),
            outcome: outcome.to_string(),
        }
    }
}
