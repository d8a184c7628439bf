//! The transformer's configuration: the JSON file the operator mounts (`TRANSFORMER_CONFIG`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tweetpipe_common::kafka::{KafkaSettings, read_secret_file};

pub const CONFIG_ENV: &str = "TRANSFORMER_CONFIG";
pub const DEFAULT_CONFIG_PATH: &str = "/etc/tweetpipe/transformer.json";

/// `transformer.json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// `namespace/name` of the TweetPipeline, for logs and metrics.
    pub pipeline: String,
    /// Topic to consume and `group_id` (required here).
    pub kafka: KafkaSettings,
    pub mysql: MysqlSettings,
    /// Records per database transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// A batch is written this long after its first record even when not full.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// The pipeline's query names (informational: records of other queries are stored too,
    /// since a query removed from the spec may still have records in flight).
    #[serde(default)]
    pub query_names: Vec<String>,
    /// Dead-letter topic; default `<topic>.dlq`.
    #[serde(default)]
    pub dlq_topic: Option<String>,
    /// Batches written at once, each in its own transaction and connection; offsets are
    /// still committed in order. 2 hides one batch's round trips behind another's.
    #[serde(default = "default_write_concurrency")]
    pub write_concurrency: usize,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[serde(default = "default_ops_addr")]
    pub ops_addr: SocketAddr,
    /// Longest wait between retries while MySQL or Kafka is unavailable.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// On SIGTERM, how long the open batch may take to finish before it is abandoned
    /// (abandoned records are not committed, so another transformer stores them).
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
}

/// `mysql` in the config: the URL with credentials lives in a file (a mounted Secret).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MysqlSettings {
    pub url_file: PathBuf,
    /// Connections in the pool; at least `write_concurrency`.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_batch_size() -> usize {
    500
}
fn default_flush_interval_ms() -> u64 {
    1_000
}
fn default_write_concurrency() -> usize {
    2
}
fn default_ops_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_shutdown_grace_ms() -> u64 {
    20_000
}
fn default_pool_size() -> u32 {
    3
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the transformer config {path}: {source}; set {CONFIG_ENV} to its path")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the transformer config {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the transformer config is invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] tweetpipe_common::kafka::KafkaConfigError),
}

impl TransformerConfig {
    /// Loads from `$TRANSFORMER_CONFIG`, else the default path.
    pub fn load_from_env() -> Result<Self, ConfigError> {
        let path = std::env::var_os(CONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        Self::load(&path)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.kafka.group_id.as_deref().is_none_or(str::is_empty) {
            return invalid("kafka.group_id is required for a transformer");
        }
        if self.kafka.topic.is_empty() {
            return invalid("kafka.topic is empty");
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return invalid("batch_size must be between 1 and 10000");
        }
        if self.flush_interval_ms == 0 {
            return invalid("flush_interval_ms must be positive");
        }
        if !(1..=8).contains(&self.write_concurrency) {
            return invalid("write_concurrency must be between 1 and 8");
        }
        if (self.mysql.pool_size as usize) < self.write_concurrency {
            return invalid("mysql.pool_size must be at least write_concurrency");
        }
        Ok(())
    }

    pub fn group_id(&self) -> &str {
        self.kafka.group_id.as_deref().unwrap_or_default()
    }

    pub fn dlq_topic(&self) -> String {
        self.dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.kafka.topic))
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

    /// The MySQL URL (with its password) from the mounted Secret. Never log it.
    pub fn mysql_url(&self) -> Result<String, ConfigError> {
        Ok(read_secret_file("MySQL URL", &self.mysql.url_file)?)
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

    #[test]
    fn parses_the_operator_contract_with_defaults() {
        let config: TransformerConfig =
            serde_json::from_str(CONTRACT).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.validate().is_ok());
        assert_eq!(config.group_id(), "tp-ns-name");
        assert_eq!(config.dlq_topic(), "tweets.dlq");
        assert_eq!(config.batch_size, 500);
        assert_eq!(config.ops_addr.port(), 8080);
        assert_eq!(config.mysql.pool_size, 3);
        assert_eq!(config.write_concurrency, 2);
    }

    #[test]
    fn rejects_missing_group_and_bad_batch_size() {
        let mut config: TransformerConfig =
            serde_json::from_str(CONTRACT).unwrap_or_else(|e| panic!("{e}"));
        config.kafka.group_id = None;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("group_id")
        );
        config.kafka.group_id = Some("g".into());
        config.batch_size = 0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("batch_size")
        );
    }

    #[test]
    fn missing_file_names_the_variable() {
        let err = TransformerConfig::load(Path::new("/nonexistent/t.json")).unwrap_err();
        assert!(err.to_string().contains(CONFIG_ENV), "{err}");
    }
}
