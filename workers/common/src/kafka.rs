//! librdkafka client settings from the config's `kafka` block
//! ([`crate::contract::kafka::KafkaSettings`]). Secrets are read from files (mounted Secrets)
//! and never logged.

use rdkafka::ClientConfig;

use crate::secret_file::{SecretFileError, read_secret_file};

// The settings type lives in the contract; re-exported so `kafka::KafkaSettings` callers (the
// operator's builder tests) keep compiling until they name the contract path.
pub use crate::contract::kafka::{KafkaSettings, SecurityProtocol};

#[derive(Debug, thiserror::Error)]
pub enum KafkaConfigError {
    #[error(transparent)]
    Secret(#[from] SecretFileError),
    #[error("security_protocol {protocol:?} needs {missing}")]
    Missing {
        protocol: SecurityProtocol,
        missing: &'static str,
    },
}

/// A librdkafka config with the connection and security settings; callers add their role's
/// settings (transactional id, group id, ...). Good for producers and consumers alike.
pub fn client_config(settings: &KafkaSettings) -> Result<ClientConfig, KafkaConfigError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("security.protocol", settings.security_protocol.as_str())
        // The operator owns the topics (partitions, retention, compaction). A producer that
        // auto-created a missing one would hide the fault behind a topic with broker defaults
        // (a non-compacted checkpoint topic, say); fail instead. librdkafka's producer
        // default is true, its consumer default false: state it for both.
        .set("allow.auto.create.topics", "false")
        // Brokers that restart come back at the same address; keep reconnect attempts modest.
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "5000")
        .set("log_level", "4");
    if let Some(ca) = &settings.ssl_ca_file {
        config.set("ssl.ca.location", ca.display().to_string());
    }
    if settings.security_protocol.uses_sasl() {
        let protocol = settings.security_protocol;
        let missing = |missing| KafkaConfigError::Missing { protocol, missing };
        let mechanism = settings
            .sasl_mechanism
            .clone()
            .ok_or_else(|| missing("sasl_mechanism"))?;
        let user_file = settings
            .sasl_username_file
            .as_deref()
            .ok_or_else(|| missing("sasl_username_file"))?;
        let password_file = settings
            .sasl_password_file
            .as_deref()
            .ok_or_else(|| missing("sasl_password_file"))?;
        config
            .set("sasl.mechanism", mechanism)
            .set(
                "sasl.username",
                read_secret_file("SASL username", user_file)?,
            )
            .set(
                "sasl.password",
                read_secret_file("SASL password", password_file)?,
            );
    }
    Ok(config)
}

/// Consumer context for reading to the end of a partition: librdkafka reports reaching the end
/// as an error, which would log a misleading ERROR line at every read.
pub struct EofIsNotAnError;

impl rdkafka::ClientContext for EofIsNotAnError {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        // librdkafka reports it per partition, or as a global error from the main queue.
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::error!(%error, reason, "librdkafka error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EofIsNotAnError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> KafkaSettings {
        serde_json::from_str(json).expect("settings")
    }

    #[test]
    fn plaintext_from_the_contract_shape() {
        let s = settings(
            r#"{"bootstrap_servers":"k:9092","topic":"t","schema_registry_url":null,
                "security_protocol":"plaintext","sasl_mechanism":null,
                "sasl_username_file":null,"sasl_password_file":null}"#,
        );
        let config = client_config(&s).expect("config");
        assert_eq!(config.get("bootstrap.servers"), Some("k:9092"));
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        assert_eq!(config.get("sasl.password"), None);
    }

    #[test]
    fn clients_never_auto_create_topics() {
        let config = client_config(&KafkaSettings::plaintext("k:9092", "t")).expect("config");
        assert_eq!(config.get("allow.auto.create.topics"), Some("false"));
    }

    #[test]
    fn sasl_reads_secrets_from_files() {
        let dir = std::env::temp_dir().join(format!("tp-kafka-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("user"), "alice\n").expect("user");
        std::fs::write(dir.join("pass"), "s3cret\n").expect("pass");
        let mut s = settings(
            r#"{"bootstrap_servers":"k:9093","topic":"t","security_protocol":"sasl_ssl"}"#,
        );
        let err = client_config(&s).expect_err("mechanism missing");
        assert!(err.to_string().contains("sasl_mechanism"), "{err}");
        s.sasl_mechanism = Some("SCRAM-SHA-512".into());
        s.sasl_username_file = Some(dir.join("user"));
        s.sasl_password_file = Some(dir.join("missing"));
        let err = client_config(&s).expect_err("password file missing");
        assert!(err.to_string().contains("SASL password"), "{err}");
        assert!(!err.to_string().contains("s3cret"));
        s.sasl_password_file = Some(dir.join("pass"));
        let config = client_config(&s).expect("config");
        assert_eq!(config.get("sasl.username"), Some("alice"));
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("allow.auto.create.topics"), Some("false"));
        std::fs::remove_dir_all(dir).ok();
    }
}
