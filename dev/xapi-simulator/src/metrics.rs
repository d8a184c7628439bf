//! The simulator's own Prometheus metrics. Tokens appear by their configured name, never by value.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenStatus {
    pub token: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabel {
    pub token: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabel {
    pub kind: String,
}

#[derive(Debug, Clone, Default)]
pub struct SimMetrics {
    pub requests: Family<TokenStatus, Counter>,
    pub rate_limited: Family<TokenLabel, Counter>,
    pub usage_capped: Family<TokenLabel, Counter>,
    pub posts_served: Family<TokenLabel, Counter>,
    pub faults: Family<FaultLabel, Counter>,
    pub visible_posts: Gauge,
    /// Ledger entries recorded (never decreases, also across `DELETE /_sim/ledger`).
    pub ledger_entries: Family<TokenLabel, Counter>,
    /// Served ids the full ledger could not store.
    pub ledger_unrecorded: Family<TokenLabel, Counter>,
    /// Entries held now (drops to 0 when the ledger is cleared).
    pub ledger_entries_stored: Gauge,
    /// Filtered-stream connections open now, per app.
    pub stream_connections_open: Family<TokenLabel, Gauge>,
    /// Filtered-stream connections accepted, per app.
    pub stream_connections: Family<TokenLabel, Counter>,
    /// Keep-alives written on stream connections, per app.
    pub stream_keepalives: Family<TokenLabel, Counter>,
}

impl SimMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Search requests by token and HTTP status",
            self.requests.clone(),
        );
        registry.register(
            "rate_limited",
            "429 Too Many Requests answers",
            self.rate_limited.clone(),
        );
        registry.register(
            "usage_capped",
            "429 usage-capped answers",
            self.usage_capped.clone(),
        );
        registry.register(
            "posts_served",
            "Posts returned in data[]",
            self.posts_served.clone(),
        );
        registry.register(
            "faults_injected",
            "Injected faults by kind",
            self.faults.clone(),
        );
        registry.register(
            "visible_posts",
            "Posts published so far",
            self.visible_posts.clone(),
        );
        registry.register(
            "ledger_entries",
            "Distinct (token, query, post id) entries recorded in the ledger",
            self.ledger_entries.clone(),
        );
        registry.register(
            "ledger_unrecorded",
            "Served post ids the ledger could not store (capacity reached)",
            self.ledger_unrecorded.clone(),
        );
        registry.register(
            "ledger_entries_stored",
            "Entries the ledger holds now",
            self.ledger_entries_stored.clone(),
        );
        registry.register(
            "stream_connections_open",
            "Filtered-stream connections open now",
            self.stream_connections_open.clone(),
        );
        registry.register(
            "stream_connections",
            "Filtered-stream connections accepted",
            self.stream_connections.clone(),
        );
        registry.register(
            "stream_keepalives",
            "Keep-alives written on filtered-stream connections",
            self.stream_keepalives.clone(),
        );
    }

    /// Counts an injected fault of `kind`.
    pub fn fault(&self, kind: &str) {
        self.faults
            .get_or_create(&FaultLabel { kind: kind.into() })
            .inc();
    }

    pub fn token(name: &str) -> TokenLabel {
        TokenLabel {
            token: name.to_string(),
        }
    }
}
