//! `extractor.json`: what the operator tells each extractor replica.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InvalidConfig;
use super::kafka::KafkaSettings;

/// Allowed `max_results` per request (the X API's bounds).
pub const MAX_RESULTS_MIN: u32 = 10;
pub const MAX_RESULTS_MAX: u32 = 100;
pub const MAX_RESULTS_RANGE: std::ops::RangeInclusive<u32> = MAX_RESULTS_MIN..=MAX_RESULTS_MAX;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractorConfig {
    /// `namespace/name` of the TweetPipeline.
    pub pipeline: String,
    /// E.g. `https://api.x.com` or the simulator's URL.
    pub api_base_url: String,
    #[serde(default)]
    pub tweet_fields: Vec<String>,
    #[serde(default)]
    pub user_fields: Vec<String>,
    #[serde(default)]
    pub place_fields: Vec<String>,
    #[serde(default)]
    pub expansions: Vec<String>,
    pub kafka: KafkaSettings,
    /// Every query of the pipeline; its index is its slot (a partition of the slots topic,
    /// [`super::topics::slots_topic`]). Replicas share the slots through a consumer group, so
    /// the list is the same for every replica and independent of the replica count.
    pub queries: Vec<QuerySlot>,
    /// Posts the pipeline may read this month (the cap after the safety margin,
    /// [`super::budget::after_safety_margin`]), `null` without a cap; each
    /// query takes the fraction of it that its request share is of all shares.
    #[serde(default)]
    pub monthly_post_budget: Option<u64>,
    /// `max_results` per request, within [`MAX_RESULTS_RANGE`].
    #[serde(default = "default_max_results")]
    pub max_results: u32,
    /// Tuning knobs with production defaults (tests shorten them).
    #[serde(default)]
    pub tuning: Tuning,
    /// The filtered stream's settings, for queries whose `delivery` is a stream mode. Left out
    /// of the JSON while default, so configs without stream queries stay byte-identical (and
    /// their restart fingerprint with them).
    #[serde(default, skip_serializing_if = "StreamSettings::is_default")]
    pub stream: StreamSettings,
}

/// How a query's posts are fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Polling recent search (the default, and what every config before stream mode meant).
    #[default]
    Search,
    /// The filtered stream only: a disconnect longer than `backfill_minutes` leaves a gap,
    /// recorded in the checkpoint (`last_gap`, `gaps_total`).
    Stream,
    /// The filtered stream, and recent search over exactly the interval a disconnect left
    /// beyond what backfill redelivers. The CRD's default when a stream is chosen.
    StreamWithSearchRecovery,
}

impl Delivery {
    pub fn is_search(&self) -> bool {
        *self == Delivery::Search
    }

    pub fn is_stream(&self) -> bool {
        !self.is_search()
    }

    pub fn recovers_by_search(&self) -> bool {
        *self == Delivery::StreamWithSearchRecovery
    }
}

/// `backfill_minutes` X accepts on a reconnect (Pro and Enterprise).
pub const BACKFILL_MINUTES_RANGE: std::ops::RangeInclusive<u8> = 1..=5;

/// The filtered stream's settings; X's documented values as defaults (tests shorten them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSettings {
    /// Minutes of missed posts asked on every reconnect, within [`BACKFILL_MINUTES_RANGE`].
    pub backfill_minutes: u8,
    /// Silence (no post, no keep-alive) after which the connection counts as dead. X sends a
    /// keep-alive about every 20 s.
    pub keepalive_timeout_ms: u64,
    /// Reconnect after a network error: linear steps of this size...
    pub network_backoff_initial_ms: u64,
    /// ...up to this.
    pub network_backoff_max_ms: u64,
    /// Reconnect after an HTTP error: doubling from this...
    pub http_backoff_initial_ms: u64,
    /// ...up to this.
    pub http_backoff_max_ms: u64,
    /// Reconnect after a 429: doubling from this...
    pub rate_limited_backoff_initial_ms: u64,
    /// ...up to this.
    pub rate_limited_backoff_max_ms: u64,
    /// A batch of streamed posts is written once it has this many posts...
    pub batch_max_posts: usize,
    /// ...or is this old.
    pub batch_max_ms: u64,
    /// Recently written post ids remembered per query, to drop redeliveries (backfill)
    /// before Kafka.
    pub recent_ids_per_query: usize,
    /// How far behind the newest message read `stored_until` is kept: a post X publishes at
    /// `t` may reach us a little later than a keep-alive or post written after it.
    pub delivery_lag_ms: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            backfill_minutes: 5,
            keepalive_timeout_ms: 30_000,
            network_backoff_initial_ms: 250,
            network_backoff_max_ms: 16_000,
            http_backoff_initial_ms: 5_000,
            http_backoff_max_ms: 320_000,
            rate_limited_backoff_initial_ms: 60_000,
            rate_limited_backoff_max_ms: 960_000,
            batch_max_posts: 100,
            batch_max_ms: 200,
            recent_ids_per_query: 20_000,
            delivery_lag_ms: 5_000,
        }
    }
}

impl StreamSettings {
    pub fn is_default(&self) -> bool {
        *self == StreamSettings::default()
    }

    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms.max(100))
    }
}

pub fn default_max_results() -> u32 {
    100
}

/// One query with its token and its share of that token's request budget.
///
/// `requests_per_window` and the pipeline's `monthly_post_budget` are *live* settings: a
/// running extractor picks up new values from the mounted file (the monthly slow-down changes
/// them often); every other field needs a restart, see [`ExtractorConfig::restart_fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySlot {
    /// Stable name (checkpoint key, metrics label, per-query table).
    pub name: String,
    /// X search query.
    pub query: String,
    /// The bearer token this query spends (a mounted Secret; each token is its own bucket).
    pub token_file: PathBuf,
    /// Requests this query may spend per window, evenly paced, whichever replica runs it.
    pub requests_per_window: u32,
    pub window_seconds: u64,
    /// How the query is delivered; absent means [`Delivery::Search`] (configs written before
    /// stream mode). Left out of the JSON while `search`.
    #[serde(default, skip_serializing_if = "Delivery::is_search")]
    pub delivery: Delivery,
    /// The stream rule's tag the operator assigns (unique per app); absent: the extractor
    /// uses [`default_rule_tag`]. Only stream modes use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_tag: Option<String>,
}

/// Every rule tag tweetpipe writes starts with this: a rule without it is never touched.
pub const RULE_TAG_PREFIX: &str = "tweetpipe:";

/// `tweetpipe:<pipeline>:` — the tags of one pipeline's rules.
pub fn rule_tag_prefix(pipeline: &str) -> String {
    format!("{RULE_TAG_PREFIX}{pipeline}:")
}

/// `tweetpipe:<pipeline>:<query>`.
pub fn default_rule_tag(pipeline: &str, query: &str) -> String {
    format!("{}{query}", rule_tag_prefix(pipeline))
}

/// Tunables; every field has a production default, so the operator may omit the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tuning {
    /// Ops server address (`/metrics`, `/healthz`, `/readyz`).
    pub ops_listen: String,
    pub request_timeout_ms: u64,
    /// Backoff after 5xx, timeouts, malformed answers and Kafka failures.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Kafka transaction commit / init timeout.
    pub kafka_timeout_ms: u64,
    /// How often the mounted config is read again for live settings.
    pub config_reload_ms: u64,
    /// Consumer-group session timeout of the slot owners: how long the slots of a replica
    /// that died without leaving stay idle before another replica takes them.
    pub group_session_timeout_ms: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            ops_listen: "0.0.0.0:8080".into(),
            request_timeout_ms: 30_000,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 60_000,
            kafka_timeout_ms: 30_000,
            config_reload_ms: 10_000,
            group_session_timeout_ms: 15_000,
        }
    }
}

impl Tuning {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn kafka_timeout(&self) -> Duration {
        Duration::from_millis(self.kafka_timeout_ms)
    }

    pub fn config_reload(&self) -> Duration {
        Duration::from_millis(self.config_reload_ms.max(100))
    }
}

impl ExtractorConfig {
    /// Rules beyond the JSON shape.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if !MAX_RESULTS_RANGE.contains(&self.max_results) {
            return Err(InvalidConfig(format!(
                "max_results {} must be between {} and {}",
                self.max_results,
                MAX_RESULTS_RANGE.start(),
                MAX_RESULTS_RANGE.end()
            )));
        }
        for (slot, q) in self.queries.iter().enumerate() {
            if q.requests_per_window == 0 || q.window_seconds == 0 {
                return Err(InvalidConfig(format!(
                    "query {slot} ({}): requests_per_window and window_seconds must be positive",
                    q.name
                )));
            }
            if q.delivery.is_stream() && !self.rule_tag(slot).starts_with(RULE_TAG_PREFIX) {
                return Err(InvalidConfig(format!(
                    "query {slot} ({}): rule_tag must start with {RULE_TAG_PREFIX:?}, so that rules tweetpipe did not create are never touched",
                    q.name
                )));
            }
        }
        if !BACKFILL_MINUTES_RANGE.contains(&self.stream.backfill_minutes) {
            return Err(InvalidConfig(format!(
                "stream.backfill_minutes {} must be between {} and {}",
                self.stream.backfill_minutes,
                BACKFILL_MINUTES_RANGE.start(),
                BACKFILL_MINUTES_RANGE.end()
            )));
        }
        Ok(())
    }

    /// The stream rule tag of the query in `slot`: the operator's, else [`default_rule_tag`].
    pub fn rule_tag(&self, slot: usize) -> String {
        match self.slot(slot) {
            Some(QuerySlot {
                rule_tag: Some(tag),
                ..
            }) => tag.clone(),
            Some(q) => default_rule_tag(&self.pipeline, &q.name),
            None => String::new(),
        }
    }

    /// The query of a slot.
    pub fn slot(&self, slot: usize) -> Option<&QuerySlot> {
        self.queries.get(slot)
    }

    /// The part of the monthly post budget of the query in `slot`: the fraction its request
    /// share is of all shares.
    pub fn monthly_budget_share(&self, slot: usize) -> Option<u64> {
        let budget = self.monthly_post_budget?;
        let total: u64 = self
            .queries
            .iter()
            .map(|q| u64::from(q.requests_per_window))
            .sum();
        let mine = u64::from(self.slot(slot)?.requests_per_window);
        (total > 0).then(|| budget * mine / total)
    }

    /// The config with its live settings blanked: equal fingerprints mean a running extractor
    /// can take the new config without a restart. The operator hashes it into the pod template.
    pub fn restart_fingerprint(&self) -> ExtractorConfig {
        let mut fixed = self.clone();
        fixed.monthly_post_budget = None;
        for q in &mut fixed.queries {
            q.requests_per_window = 0;
        }
        fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"{"pipeline":"ns/name","api_base_url":"http://sim:8080",
        "tweet_fields":["created_at","source"],"user_fields":[],"place_fields":[],"expansions":[],
        "kafka":{"bootstrap_servers":"k:9092","topic":"posts","schema_registry_url":null,
                 "security_protocol":"plaintext","sasl_mechanism":null,"sasl_username_file":null,"sasl_password_file":null},
        "queries":[{"name":"covid-en","query":"covid lang:en","requests_per_window":140,"window_seconds":900,
                    "token_file":"/var/run/secrets/tweetpipe/tokens/0/token"},
                   {"name":"covid-de","query":"covid lang:de","requests_per_window":280,"window_seconds":900,
                    "token_file":"/var/run/secrets/tweetpipe/tokens/1/token"}],
        "monthly_post_budget": 9000, "max_results": 100}"#;

    #[test]
    fn parses_the_operator_shape_with_defaults() {
        let c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        c.validate().expect("valid");
        assert_eq!(c.tuning, Tuning::default());
        assert_eq!(c.slot(0).map(|q| q.name.as_str()), Some("covid-en"));
        assert_eq!(c.monthly_budget_share(0), Some(3000));
        assert_eq!(c.monthly_budget_share(1), Some(6000));
        assert_eq!(c.monthly_budget_share(2), None);
    }

    #[test]
    fn round_trips() {
        let c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        let again: ExtractorConfig =
            serde_json::from_str(&serde_json::to_string(&c).expect("serialize")).expect("parse");
        assert_eq!(again, c);
    }

    #[test]
    fn live_settings_do_not_change_the_restart_fingerprint() {
        let c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        let mut throttled = c.clone();
        throttled.queries[0].requests_per_window = 70;
        throttled.monthly_post_budget = Some(100);
        assert_eq!(c.restart_fingerprint(), throttled.restart_fingerprint());
        let mut renamed = c.clone();
        renamed.queries[0].query = "covid lang:fr".into();
        assert_ne!(c.restart_fingerprint(), renamed.restart_fingerprint());
    }

    #[test]
    fn old_configs_mean_search_and_serialize_unchanged() {
        let c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        assert!(c.queries.iter().all(|q| q.delivery == Delivery::Search));
        assert!(c.queries.iter().all(|q| q.rule_tag.is_none()));
        assert_eq!(c.stream, StreamSettings::default());
        let json = serde_json::to_value(&c).expect("serialize");
        assert!(json.get("stream").is_none(), "{json}");
        assert!(json["queries"][0].get("delivery").is_none(), "{json}");
        assert!(json["queries"][0].get("rule_tag").is_none(), "{json}");
    }

    #[test]
    fn reads_stream_modes_and_tags() {
        let mut json: serde_json::Value = serde_json::from_str(CONTRACT).expect("parse");
        json["queries"][0]["delivery"] = "stream_with_search_recovery".into();
        json["queries"][1]["delivery"] = "stream".into();
        json["queries"][1]["rule_tag"] = "tweetpipe:ns/name:de".into();
        json["stream"] = serde_json::json!({"backfill_minutes": 2});
        let c: ExtractorConfig = serde_json::from_value(json).expect("parse");
        c.validate().expect("valid");
        assert_eq!(c.queries[0].delivery, Delivery::StreamWithSearchRecovery);
        assert_eq!(c.queries[1].delivery, Delivery::Stream);
        assert_eq!(c.rule_tag(0), "tweetpipe:ns/name:covid-en");
        assert_eq!(c.rule_tag(1), "tweetpipe:ns/name:de");
        assert_eq!(c.stream.backfill_minutes, 2);
        assert_eq!(c.stream.keepalive_timeout_ms, 30_000);
        let mut bad = c.clone();
        bad.queries[1].rule_tag = Some("mine".into());
        assert!(
            bad.validate()
                .expect_err("foreign tag")
                .0
                .contains("rule_tag")
        );
        let mut bad = c;
        bad.stream.backfill_minutes = 6;
        assert!(bad.validate().expect_err("backfill").0.contains("backfill"));
    }

    #[test]
    fn rejects_out_of_range_values() {
        let mut c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        c.max_results = 5;
        assert!(c.validate().expect_err("too few").0.contains("max_results"));
        c.max_results = 10;
        c.queries[1].window_seconds = 0;
        assert!(c.validate().expect_err("no window").0.contains("covid-de"));
    }
}
