//! `extractor.json`: what the operator tells each extractor replica.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InvalidConfig;
use super::kafka::KafkaSettings;

/// Allowed `max_results` per request (the X API's bounds).
pub const MAX_RESULTS_RANGE: std::ops::RangeInclusive<u32> = 10..=100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractorConfig {
    /// `namespace/name` of the TweetPipeline.
    pub pipeline: String,
    /// E.g. `https://api.x.com` or the simulator's URL.
    pub api_base_url: String,
    /// Token file of replicas whose assignment names none (a mounted Secret).
    pub token_file: PathBuf,
    #[serde(default)]
    pub tweet_fields: Vec<String>,
    #[serde(default)]
    pub user_fields: Vec<String>,
    #[serde(default)]
    pub place_fields: Vec<String>,
    #[serde(default)]
    pub expansions: Vec<String>,
    pub kafka: KafkaSettings,
    /// Per-replica work.
    pub assignments: Vec<Assignment>,
    /// Posts the pipeline may read this month (cap minus margin), `null` without a cap; each
    /// replica takes the fraction of it that its request share is of all shares.
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

/// One replica's work: its queries and its share of its token's request budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// StatefulSet ordinal.
    pub replica: u32,
    /// This replica's token (each token is its own rate bucket); the top-level `token_file`
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Requests this replica may spend per window, evenly paced.
    pub requests_per_window: u32,
    pub window_seconds: u64,
    pub queries: Vec<Query>,
}

/// One search query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Stable name (checkpoint key, metrics label, per-query table).
    pub name: String,
    /// X search query.
    pub query: String,
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
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            ops_listen: "0.0.0.0:8080".into(),
            request_timeout_ms: 30_000,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 60_000,
            kafka_timeout_ms: 30_000,
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
        for a in &self.assignments {
            if a.requests_per_window == 0 || a.window_seconds == 0 {
                return Err(InvalidConfig(format!(
                    "replica {}: requests_per_window and window_seconds must be positive",
                    a.replica
                )));
            }
        }
        Ok(())
    }

    pub fn assignment(&self, replica: u32) -> Option<&Assignment> {
        self.assignments.iter().find(|a| a.replica == replica)
    }

    /// The token file of `replica`: its assignment's own, else the top-level one.
    pub fn token_path(&self, replica: u32) -> &Path {
        self.assignment(replica)
            .and_then(|a| a.token_file.as_deref())
            .unwrap_or(&self.token_file)
    }

    /// This replica's part of the monthly post budget.
    pub fn monthly_budget_share(&self, replica: u32) -> Option<u64> {
        let budget = self.monthly_post_budget?;
        let total: u64 = self
            .assignments
            .iter()
            .map(|a| u64::from(a.requests_per_window))
            .sum();
        let mine = u64::from(self.assignment(replica)?.requests_per_window);
        (total > 0).then(|| budget * mine / total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"{"pipeline":"ns/name","api_base_url":"http://sim:8080",
        "token_file":"/var/run/secrets/tweetpipe/tokens/0/token",
        "tweet_fields":["created_at","source"],"user_fields":[],"place_fields":[],"expansions":[],
        "kafka":{"bootstrap_servers":"k:9092","topic":"posts","schema_registry_url":null,
                 "security_protocol":"plaintext","sasl_mechanism":null,"sasl_username_file":null,"sasl_password_file":null},
        "assignments":[{"replica":0,"requests_per_window":140,"window_seconds":900,
                        "queries":[{"name":"covid-en","query":"covid lang:en"}]},
                       {"replica":1,"requests_per_window":280,"window_seconds":900,"queries":[],
                        "token_file":"/var/run/secrets/tweetpipe/tokens/1/token"}],
        "monthly_post_budget": 9000, "max_results": 100}"#;

    #[test]
    fn parses_the_operator_shape_with_defaults() {
        let c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        c.validate().expect("valid");
        assert_eq!(c.tuning, Tuning::default());
        assert_eq!(c.assignment(0).map(|a| a.queries.len()), Some(1));
        assert_eq!(c.monthly_budget_share(0), Some(3000));
        assert_eq!(c.monthly_budget_share(1), Some(6000));
        assert_eq!(c.token_path(0), c.token_file.as_path());
        assert_eq!(
            c.token_path(1),
            Path::new("/var/run/secrets/tweetpipe/tokens/1/token")
        );
    }

    #[test]
    fn round_trips() {
        let c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        let again: ExtractorConfig =
            serde_json::from_str(&serde_json::to_string(&c).expect("serialize")).expect("parse");
        assert_eq!(again, c);
    }

    #[test]
    fn rejects_out_of_range_values() {
        let mut c: ExtractorConfig = serde_json::from_str(CONTRACT).expect("parse");
        c.max_results = 5;
        assert!(c.validate().expect_err("too few").0.contains("max_results"));
        c.max_results = 10;
        c.assignments[1].window_seconds = 0;
        assert!(c.validate().expect_err("no window").0.contains("replica 1"));
    }
}
