//! librdkafka client settings from the operator's config shape (`"kafka": {...}` in the
//! worker config). Secrets are read from files (mounted Secrets) and never logged.

use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;
use serde::Deserialize;

/// The `kafka` object of a worker config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub topic: String,
    #[serde(default)]
    pub schema_registry_url: Option<String>,
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    #[serde(default)]
    pub sasl_username_file: Option<PathBuf>,
    #[serde(default)]
    pub sasl_password_file: Option<PathBuf>,
    /// PEM CA bundle to verify the brokers (TLS).
    #[serde(default)]
    pub ssl_ca_file: Option<PathBuf>,
    /// Consumer group (transformer).
    #[serde(default)]
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_librdkafka(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaConfigError {
    #[error("cannot read {what} from {path}: {source}")]
    SecretFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} file {path} is empty")]
    EmptySecret { what: &'static str, path: PathBuf },
    #[error("security_protocol {protocol:?} needs {missing}")]
    Missing {
        protocol: SecurityProtocol,
        missing: &'static str,
    },
}

/// Reads a secret from a file, trimming the trailing newline Secrets often carry.
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<String, KafkaConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| KafkaConfigError::SecretFile {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KafkaConfigError::EmptySecret {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(trimmed.to_string())
}

/// A librdkafka config with the connection and security settings; callers add their role's
/// settings (transactional id, group id, ...).
pub fn client_config(settings: &KafkaSettings) -> Result<ClientConfig, KafkaConfigError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set(
            "security.protocol",
            settings.security_protocol.as_librdkafka(),
        )
        // Brokers that restart come back at the same address; keep reconnect attempts modest.
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "5000")
        .set("log_level", "4");
    if let Some(ca) = &settings.ssl_ca_file {
        config.set("ssl.ca.location", ca.display().to_string());
    }
    if settings.security_protocol.uses_sasl() {
        let protocol = settings.security_protocol;
        let mechanism = settings
            .sasl_mechanism
            .clone()
            .ok_or(KafkaConfigError::Missing {
                protocol,
                missing: "sasl_mechanism",
            })?;
        let user_file =
            settings
                .sasl_username_file
                .as_deref()
                .ok_or(KafkaConfigError::Missing {
                    protocol,
                    missing: "sasl_username_file",
                })?;
        let password_file =
            settings
                .sasl_password_file
                .as_deref()
                .ok_or(KafkaConfigError::Missing {
                    protocol,
                    missing: "sasl_password_file",
                })?;
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
        std::fs::remove_dir_all(dir).ok();
    }
}
