//! The two checks and their configuration.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use sqlx::Connection;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("cannot read the MySQL URL file {path}: {source}")]
    UrlFile {
        path: String,
        source: std::io::Error,
    },
    #[error("PROBE_TIMEOUT_SECS must be a whole number of seconds")]
    Timeout,
}

pub struct ProbeConfig {
    pub kafka_bootstrap: String,
    pub mysql_url: String,
    pub topic: String,
    pub timeout_secs: u64,
}

impl ProbeConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| ConfigError::Missing(name));
        let mysql_url = match std::env::var("PROBE_MYSQL_URL_FILE") {
            Ok(path) => std::fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .map_err(|source| ConfigError::UrlFile { path, source })?,
            Err(_) => var("PROBE_MYSQL_URL")?,
        };
        let timeout_secs = match std::env::var("PROBE_TIMEOUT_SECS") {
            Ok(v) => v.parse().map_err(|_| ConfigError::Timeout)?,
            Err(_) => 30,
        };
        Ok(Self {
            kafka_bootstrap: var("PROBE_KAFKA_BOOTSTRAP")?,
            mysql_url,
            topic: std::env::var("PROBE_TOPIC").unwrap_or_else(|_| "tweetpipe.probe".into()),
            timeout_secs,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub ok: bool,
    /// What the check saw: the echoed message, or the server version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub millis: u128,
}

impl CheckResult {
    fn from(result: Result<String, String>, started: Instant) -> Self {
        let millis = started.elapsed().as_millis();
        match result {
            Ok(detail) => Self {
                ok: true,
                detail: Some(detail),
                error: None,
                millis,
            },
            Err(error) => Self {
                ok: false,
                detail: None,
                error: Some(error),
                millis,
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProbeReport {
    pub ok: bool,
    pub kafka: CheckResult,
    pub mysql: CheckResult,
}

impl ProbeReport {
    pub fn new(kafka: CheckResult, mysql: CheckResult) -> Self {
        Self {
            ok: kafka.ok && mysql.ok,
            kafka,
            mysql,
        }
    }
}

/// Produces a unique message and reads it back from the same topic.
pub async fn kafka_round_trip(bootstrap: &str, topic: &str, timeout: Duration) -> CheckResult {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, round_trip(bootstrap, topic))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer from Kafka at {bootstrap} within {timeout:?}"
            ))
        });
    CheckResult::from(result, started)
}

async fn round_trip(bootstrap: &str, topic: &str) -> Result<String, String> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);

    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|e| format!("admin client: {e}"))?;
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .map_err(|e| format!("create topic {topic}: {e}"))?;
    for outcome in created {
        match outcome {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("create topic {name}: {code}")),
        }
    }

    let marker = format!("probe-{}", uuid::Uuid::new_v4());
    let producer: FutureProducer = config
        .clone()
        .set("message.timeout.ms", "20000")
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    let delivery = producer
        .send(
            FutureRecord::to(topic).key(&marker).payload(&marker),
            Duration::from_secs(20),
        )
        .await
        .map_err(|(e, _)| format!("produce to {topic}: {e}"))?;
    let (partition, offset) = (delivery.partition, delivery.offset);

    let consumer: StreamConsumer = config
        .clone()
        .set("group.id", &marker)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
        .map_err(|e| format!("assign: {e}"))?;
    consumer
        .assign(&assignment)
        .map_err(|e| format!("assign: {e}"))?;
    let message = consumer
        .recv()
        .await
        .map_err(|e| format!("consume from {topic}: {e}"))?;
    let echoed = message
        .payload()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    if echoed != marker {
        return Err(format!(
            "read back {echoed:?} at offset {offset}, expected {marker:?}"
        ));
    }
    Ok(format!(
        "{topic}[{partition}]@{offset} round-tripped {marker}"
    ))
}

/// Connects and asks the server for its version.
pub async fn mysql_version(url: &str, timeout: Duration) -> CheckResult {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, async {
        let mut connection = sqlx::MySqlConnection::connect(url)
            .await
            .map_err(|e| format!("connect to MySQL: {}", redact(&e.to_string(), url)))?;
        let version: (String,) = sqlx::query_as("SELECT VERSION()")
            .fetch_one(&mut connection)
            .await
            .map_err(|e| format!("SELECT VERSION(): {e}"))?;
        connection.close().await.ok();
        Ok(version.0)
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer from MySQL within {timeout:?}")));
    CheckResult::from(result, started)
}

/// Errors may echo the URL; the password in it must never be printed.
fn redact(message: &str, url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
    {
        Some((credentials, _)) => match credentials.split_once(':') {
            Some((_, password)) if !password.is_empty() => message.replace(password, "***"),
            _ => message.to_string(),
        },
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password() {
        let url = "mysql://root:s3cret@db:3306/x";
        assert_eq!(redact("bad login s3cret at db", url), "bad login *** at db");
        assert_eq!(redact("plain", "mysql://db:3306"), "plain");
    }

    #[test]
    fn report_is_ok_only_when_both_checks_pass() {
        let pass = || CheckResult {
            ok: true,
            detail: None,
            error: None,
            millis: 1,
        };
        let fail = || CheckResult {
            ok: false,
            detail: None,
            error: Some("x".into()),
            millis: 1,
        };
        assert!(ProbeReport::new(pass(), pass()).ok);
        assert!(!ProbeReport::new(pass(), fail()).ok);
        assert!(!ProbeReport::new(fail(), pass()).ok);
    }
}
