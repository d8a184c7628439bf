//! What can stop a chaos run before its verdict.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ChaosError {
    #[error("setting {name}: {message}")]
    Setting { name: &'static str, message: String },
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("MariaDB: {0}")]
    Mysql(#[from] sqlx::Error),
    #[error("simulator admin API: {0}")]
    Simulator(#[from] reqwest::Error),
    #[error("command `{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}
