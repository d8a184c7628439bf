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
        }
        Ok(())
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
    fn rejects_out_of_range_values() {
        let mut c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        c.max_results = 5;
        assert!(c.validate().expect_err("too few").0.contains("max_results"));
        c.max_results = 10;
        c.queries[1].window_seconds = 0;
        assert!(c.validate().expect_err("no window").0.contains("covid-de"));
    }
}
