//! The JSON configs the workers read (contract in the project briefing): built from the spec and
//! the scaling decision. Secrets appear only as file paths, never as values.

use serde::Serialize;

use crate::crd::{KafkaSpec, TweetPipeline};
use crate::decide::scaling::ReplicaAssignment;

/// Where the worker pods find mounted files.
pub mod paths {
    /// Directory of the mounted ConfigMap.
    pub const CONFIG_DIR: &str = "/etc/tweetpipe";
    /// Extractor config file.
    pub const EXTRACTOR_CONFIG: &str = "/etc/tweetpipe/extractor.json";
    /// Transformer config file.
    pub const TRANSFORMER_CONFIG: &str = "/etc/tweetpipe/transformer.json";
    /// Token `i` is mounted at `TOKENS_DIR/<i>/token`.
    pub const TOKENS_DIR: &str = "/var/run/secrets/tweetpipe/tokens";
    /// Kafka SASL username and password files live here.
    pub const KAFKA_SASL_DIR: &str = "/var/run/secrets/tweetpipe/kafka-sasl";
    /// Kafka CA certificate directory.
    pub const KAFKA_CA_DIR: &str = "/var/run/secrets/tweetpipe/kafka-ca";
    /// MySQL URL directory (transformer).
    pub const MYSQL_DIR: &str = "/var/run/secrets/tweetpipe/mysql";
}

/// Path of the `index`-th token inside an extractor pod.
pub fn token_file(index: usize) -> String {
    format!("{}/{index}/token", paths::TOKENS_DIR)
}

/// The `kafka` block both workers share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    pub bootstrap_servers: String,
    /// Posts topic.
    pub topic: String,
    /// Schema registry, if any.
    pub schema_registry_url: Option<String>,
    /// plaintext, ssl, sasl_plaintext or sasl_ssl.
    pub security_protocol: String,
    /// SASL mechanism, if any.
    pub sasl_mechanism: Option<String>,
    /// File holding the SASL username.
    pub sasl_username_file: Option<String>,
    /// File holding the SASL password.
    pub sasl_password_file: Option<String>,
    /// CA certificate file for TLS, if not the system roots.
    pub ssl_ca_file: Option<String>,
    /// Consumer group (transformer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// One query as the extractor sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryConfig {
    /// Stable name.
    pub name: String,
    /// X search query.
    pub query: String,
}

/// One replica's assignment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignmentConfig {
    /// Replica index.
    pub replica: i32,
    /// The token this replica uses (each token is its own rate bucket).
    pub token_file: String,
    /// Requests this replica may spend per window, evenly paced.
    pub requests_per_window: u32,
    /// Window length.
    pub window_seconds: u32,
    /// Its queries.
    pub queries: Vec<QueryConfig>,
}

/// `extractor.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtractorConfig {
    /// `namespace/name`.
    pub pipeline: String,
    /// X API base URL.
    pub api_base_url: String,
    /// Token of replica 0 (kept for workers reading a single token; assignments carry their own).
    pub token_file: String,
    /// `tweet.fields`.
    pub tweet_fields: Vec<String>,
    /// `user.fields`.
    pub user_fields: Vec<String>,
    /// `place.fields`.
    pub place_fields: Vec<String>,
    /// `expansions`.
    pub expansions: Vec<String>,
    /// Kafka.
    pub kafka: KafkaConfig,
    /// Per-replica work.
    pub assignments: Vec<AssignmentConfig>,
    /// Posts the whole pipeline may read this month (cap minus margin); `null` without a cap.
    pub monthly_post_budget: Option<u64>,
    /// `max_results` per request.
    pub max_results: u32,
}

/// `transformer.json` MySQL block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MySqlConfig {
    /// File holding the URL (with password and database).
    pub url_file: String,
}

/// `transformer.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransformerConfig {
    /// `namespace/name`.
    pub pipeline: String,
    /// Kafka, with the consumer group.
    pub kafka: KafkaConfig,
    /// MySQL.
    pub mysql: MySqlConfig,
    /// Rows per transaction.
    pub batch_size: u32,
    /// Longest wait for a partial batch.
    pub flush_interval_ms: u32,
    /// Query names (for per-query tables and metrics).
    pub query_names: Vec<String>,
}

/// `namespace/name` of a pipeline.
pub fn pipeline_id(tp: &TweetPipeline) -> String {
    format!(
        "{}/{}",
        tp.metadata.namespace.as_deref().unwrap_or("default"),
        tp.metadata.name.as_deref().unwrap_or("")
    )
}

/// The consumer group of a pipeline's transformers.
pub fn group_id(tp: &TweetPipeline) -> String {
    format!("tweetpipe.{}", pipeline_id(tp).replace('/', "."))
}

/// The shared Kafka block.
pub fn kafka_config(kafka: &KafkaSpec, group_id: Option<String>) -> KafkaConfig {
    let security_protocol = match (kafka.tls.is_some(), kafka.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    KafkaConfig {
        bootstrap_servers: kafka.bootstrap_servers.clone(),
        topic: kafka.topic.clone(),
        schema_registry_url: kafka.schema_registry_url.clone(),
        security_protocol: security_protocol.to_string(),
        sasl_mechanism: kafka
            .sasl
            .as_ref()
            .map(|s| s.mechanism.as_str().to_string()),
        sasl_username_file: kafka
            .sasl
            .as_ref()
            .map(|_| format!("{}/username", paths::KAFKA_SASL_DIR)),
        sasl_password_file: kafka
            .sasl
            .as_ref()
            .map(|_| format!("{}/password", paths::KAFKA_SASL_DIR)),
        ssl_ca_file: kafka
            .tls
            .as_ref()
            .and_then(|t| t.ca_secret.as_ref())
            .map(|_| format!("{}/ca.crt", paths::KAFKA_CA_DIR)),
        group_id,
    }
}

/// `extractor.json` for the given assignments.
pub fn extractor_config(
    tp: &TweetPipeline,
    assignments: &[ReplicaAssignment],
    monthly_post_budget: Option<u64>,
) -> ExtractorConfig {
    let source = &tp.spec.source;
    ExtractorConfig {
        pipeline: pipeline_id(tp),
        api_base_url: source.base_url.clone(),
        token_file: token_file(0),
        tweet_fields: source.fields.tweet_fields.clone(),
        user_fields: source.fields.user_fields.clone(),
        place_fields: source.fields.place_fields.clone(),
        expansions: source.fields.expansions.clone(),
        kafka: kafka_config(&tp.spec.kafka, None),
        assignments: assignments
            .iter()
            .map(|a| AssignmentConfig {
                replica: a.replica,
                token_file: token_file(a.token),
                requests_per_window: a.requests_per_window,
                window_seconds: source.limits.window_seconds,
                queries: a
                    .queries
                    .iter()
                    .filter_map(|&q| source.queries.get(q))
                    .map(|q| QueryConfig {
                        name: q.name.clone(),
                        query: q.query.clone(),
                    })
                    .collect(),
            })
            .collect(),
        monthly_post_budget,
        max_results: source.max_results,
    }
}

/// `transformer.json`.
pub fn transformer_config(tp: &TweetPipeline) -> TransformerConfig {
    TransformerConfig {
        pipeline: pipeline_id(tp),
        kafka: kafka_config(&tp.spec.kafka, Some(group_id(tp))),
        mysql: MySqlConfig {
            url_file: format!("{}/url", paths::MYSQL_DIR),
        },
        batch_size: tp.spec.transformer.batch_size,
        flush_interval_ms: tp.spec.transformer.flush_interval_ms,
        query_names: tp
            .spec
            .source
            .queries
            .iter()
            .map(|q| q.name.clone())
            .collect(),
    }
}
