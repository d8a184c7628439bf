//! `transformer.json`: what the operator tells the transformers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InvalidConfig;
use super::kafka::KafkaSettings;
use super::topics;

/// Bounds the transformer accepts. The CRD, admission and the Terraform module take the same
/// bounds from here (the operator's `contract_twins` tests hold them together): a spec the API
/// server accepts must never crash-loop its workers.
pub const BATCH_SIZE_MAX: u32 = 10_000;
pub const BATCH_SIZE_RANGE: std::ops::RangeInclusive<usize> = 1..=BATCH_SIZE_MAX as usize;
pub const WRITE_CONCURRENCY_RANGE: std::ops::RangeInclusive<usize> = 1..=8;
/// `mysql.ssl_mode` values (MySQL's `--ssl-mode` names, as sqlx reads them).
pub const SSL_MODES: [&str; 5] = [
    "DISABLED",
    "PREFERRED",
    "REQUIRED",
    "VERIFY_CA",
    "VERIFY_IDENTITY",
];

/// `transformer.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// `namespace/name` of the TweetPipeline, for logs and metrics.
    pub pipeline: String,
    /// Topic to consume and `group_id` (required here).
    pub kafka: KafkaSettings,
    pub mysql: MysqlSettings,
    /// Records per database transaction.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// A batch is written this long after its first record even when not full.
    #[serde(default = "defaults::flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// The pipeline's query names (informational: records of other queries are stored too,
    /// since a query removed from the spec may still have records in flight).
    #[serde(default)]
    pub query_names: Vec<String>,
    /// Dead-letter topic; `<topic>.dlq` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlq_topic: Option<String>,
    /// Batches written at once, each in its own transaction and connection; offsets are
    /// still committed in order. Two hide one batch's round trips and commit behind the
    /// other's; more only add contention once MySQL is busy: with two transformers on one
    /// server, paired rounds gave 58/60/58% of the fair ceiling with 2 against 44/57/58% with
    /// 4, and MariaDB less CPU per post (docs/transformer.md, Benchmark).
    #[serde(default = "defaults::write_concurrency")]
    pub write_concurrency: usize,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[serde(default = "defaults::ops_addr")]
    pub ops_addr: SocketAddr,
    /// Longest wait between retries while MySQL or Kafka is unavailable.
    #[serde(default = "defaults::max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// On SIGTERM, how long the open batch may take to finish before it is abandoned
    /// (abandoned records are not committed, so another transformer stores them).
    #[serde(default = "defaults::shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
}

/// `mysql` in the config: the URL with credentials lives in a file (a mounted Secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlSettings {
    pub url_file: PathBuf,
    /// Connections in the pool; at least `write_concurrency`.
    #[serde(default = "defaults::pool_size")]
    pub pool_size: u32,
    /// TLS mode (`REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`), over the URL's `ssl-mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<String>,
    /// CA bundle (PEM) that verifies the server, a mounted Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_ca_file: Option<PathBuf>,
}

/// The production values of the tunables, used by serde and by the constructors.
pub mod defaults {
    use std::net::SocketAddr;

    pub fn batch_size() -> usize {
        500
    }
    pub fn flush_interval_ms() -> u64 {
        1_000
    }
    pub fn write_concurrency() -> usize {
        2
    }
    pub fn ops_addr() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 8080))
    }
    pub fn max_backoff_ms() -> u64 {
        30_000
    }
    pub fn shutdown_grace_ms() -> u64 {
        20_000
    }
    /// `write_concurrency` and one spare (a connection being closed or reconnected does not hold
    /// up a store).
    pub fn pool_size() -> u32 {
        3
    }
}

impl MysqlSettings {
    /// The URL in `url_file`, the default pool.
    pub fn new(url_file: impl Into<PathBuf>) -> Self {
        MysqlSettings {
            url_file: url_file.into(),
            pool_size: defaults::pool_size(),
            ssl_mode: None,
            ssl_ca_file: None,
        }
    }
}

impl TransformerConfig {
    /// A config with every tunable at its default.
    pub fn new(pipeline: impl Into<String>, kafka: KafkaSettings, mysql: MysqlSettings) -> Self {
        TransformerConfig {
            pipeline: pipeline.into(),
            kafka,
            mysql,
            batch_size: defaults::batch_size(),
            flush_interval_ms: defaults::flush_interval_ms(),
            query_names: Vec::new(),
            dlq_topic: None,
            write_concurrency: defaults::write_concurrency(),
            ops_addr: defaults::ops_addr(),
            max_backoff_ms: defaults::max_backoff_ms(),
            shutdown_grace_ms: defaults::shutdown_grace_ms(),
        }
    }

    /// Rules beyond the JSON shape.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let invalid = |m: &str| Err(InvalidConfig(m.to_owned()));
        if self.kafka.group_id.as_deref().is_none_or(str::is_empty) {
            return invalid("kafka.group_id is required for a transformer");
        }
        if self.kafka.topic.is_empty() {
            return invalid("kafka.topic is empty");
        }
        if !BATCH_SIZE_RANGE.contains(&self.batch_size) {
            return Err(InvalidConfig(format!(
                "batch_size must be between 1 and {BATCH_SIZE_MAX}"
            )));
        }
        if self.flush_interval_ms == 0 {
            return invalid("flush_interval_ms must be positive");
        }
        if !WRITE_CONCURRENCY_RANGE.contains(&self.write_concurrency) {
            return invalid("write_concurrency must be between 1 and 8");
        }
        if usize::try_from(self.mysql.pool_size).unwrap_or(usize::MAX) < self.write_concurrency {
            return invalid("mysql.pool_size must be at least write_concurrency");
        }
        if let Some(mode) = &self.mysql.ssl_mode
            && !SSL_MODES.iter().any(|m| m.eq_ignore_ascii_case(mode))
        {
            return invalid(
                "mysql.ssl_mode must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY",
            );
        }
        Ok(())
    }

    /// The consumer group (empty only in a config that failed [`Self::validate`]).
    pub fn group_id(&self) -> &str {
        self.kafka.group_id.as_deref().unwrap_or_default()
    }

    pub fn dlq_topic(&self) -> String {
        self.dlq_topic
            .clone()
            .unwrap_or_else(|| topics::dlq_topic(&self.kafka.topic))
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"{"pipeline":"ns/name",
        "kafka":{"bootstrap_servers":"k:9092","topic":"tweets","schema_registry_url":null,
                 "security_protocol":"plaintext","sasl_mechanism":null,"sasl_username_file":null,
                 "sasl_password_file":null,"group_id":"tp-ns-name"},
        "mysql":{"url_file":"/var/run/secrets/tweetpipe/mysql/url"},"batch_size":500,
        "flush_interval_ms":1000,"query_names":["covid-en"]}"#;

    fn contract() -> TransformerConfig {
        serde_json::from_str(CONTRACT).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_operator_shape_with_defaults() {
        let config = contract();
        assert!(config.validate().is_ok());
        assert_eq!(config.group_id(), "tp-ns-name");
        assert_eq!(config.dlq_topic(), "tweets.dlq");
        assert_eq!(config.ops_addr.port(), 8080);
        assert_eq!(config.mysql.pool_size, 3);
        assert_eq!(config.write_concurrency, 2);
        let mut built = TransformerConfig::new(
            "ns/name",
            config.kafka.clone(),
            MysqlSettings::new("/var/run/secrets/tweetpipe/mysql/url"),
        );
        built.query_names = vec!["covid-en".into()];
        assert_eq!(
            built, config,
            "serde defaults and constructor defaults agree"
        );
    }

    #[test]
    fn round_trips_and_rejects_unknown_fields() {
        let config = contract();
        let json = serde_json::to_value(&config).unwrap_or_else(|e| panic!("{e}"));
        assert!(json.get("dlq_topic").is_none());
        let again: TransformerConfig =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, config);
        let mut unknown = json;
        unknown["batchsize"] = serde_json::json!(1);
        assert!(serde_json::from_value::<TransformerConfig>(unknown).is_err());
    }

    #[test]
    fn rejects_missing_group_and_bad_batch_size() {
        let mut config = contract();
        config.kafka.group_id = None;
        assert!(config.validate().unwrap_err().0.contains("group_id"));
        config.kafka.group_id = Some("g".into());
        config.batch_size = 0;
        assert!(config.validate().unwrap_err().0.contains("batch_size"));
        config.batch_size = 10;
        config.write_concurrency = 6;
        assert!(config.validate().unwrap_err().0.contains("pool_size"));
    }
}
