//! librdkafka client settings from the config's `kafka` block
//! ([`crate::contract::kafka::KafkaSettings`]). Secrets are read from files (mounted Secrets)
//! and never logged.

use std::path::PathBuf;

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
    #[error("sasl_mechanism {0:?} is not supported: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")]
    UnsupportedMechanism(String),
    #[error("{setting} is set but security_protocol {protocol:?} does not use {uses}")]
    Unused {
        setting: &'static str,
        protocol: SecurityProtocol,
        uses: &'static str,
    },
    #[error("mutual TLS needs both ssl_certificate_file and ssl_key_file; only {given} is set")]
    HalfMutualTls { given: &'static str },
    /// A TLS file librdkafka will read itself: checked here so that the error names the setting.
    #[error("cannot read {setting} {path}: {source}")]
    TlsFile {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Drops a Kafka client on a thread of its own: rdkafka's close of a consumer with a group id
/// polls until librdkafka's group machinery has stopped, which waits for outstanding requests
/// (for ever while the coordinator is unreachable), and a producer's drop flushes and destroys.
/// Done on an async worker, that freezes the runtime (its health and metrics endpoints too); done
/// inside `spawn_blocking`, it holds the awaiting task and keeps the runtime from shutting down.
pub fn retire<T: Send + 'static>(client: T) {
    let spawned = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || drop(client));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread to close a Kafka client; closing it here");
    }
}

/// A topic to create: its name, partitions, replication factor and topic configs. One
/// conversion for the operator's topic specs, wherever they are created (the operator's ensure
/// step, and benchmarks that lay out a pipeline's topics as the operator would).
pub fn new_topic<'a>(
    name: &'a str,
    partitions: i32,
    replication_factor: i32,
    configs: &'a std::collections::BTreeMap<String, String>,
) -> rdkafka::admin::NewTopic<'a> {
    configs.iter().fold(
        rdkafka::admin::NewTopic::new(
            name,
            partitions,
            rdkafka::admin::TopicReplication::Fixed(replication_factor),
        ),
        |topic, (key, value)| topic.set(key, value),
    )
}

/// The SASL mechanisms librdkafka implements without cyrus-sasl (GSSAPI would need it).
pub const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// A librdkafka config with the connection and security settings; callers add their role's
/// settings (transactional id, group id, ...). Good for producers and consumers alike.
///
/// The SASL username and password are read from their files here; TLS files (CA, client
/// certificate and key) are checked for readability and handed to librdkafka by path, so the key
/// never passes through this process's memory. `ClientConfig`'s `Debug` leaves `sasl.password`
/// out.
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
    set_tls(&mut config, settings)?;
    set_sasl(&mut config, settings)?;
    Ok(config)
}

fn set_tls(config: &mut ClientConfig, settings: &KafkaSettings) -> Result<(), KafkaConfigError> {
    let protocol = settings.security_protocol;
    let files = [
        ("ssl_ca_file", &settings.ssl_ca_file),
        ("ssl_certificate_file", &settings.ssl_certificate_file),
        ("ssl_key_file", &settings.ssl_key_file),
    ];
    if !protocol.uses_tls() {
        // librdkafka would ignore them: a config that names a CA but talks plaintext is a
        // mistake worth stopping at.
        return match files.iter().find(|(_, file)| file.is_some()) {
            Some((setting, _)) => Err(KafkaConfigError::Unused {
                setting,
                protocol,
                uses: "TLS",
            }),
            None => Ok(()),
        };
    }
    for (setting, file) in files {
        if let Some(path) = file {
            std::fs::File::open(path).map_err(|source| KafkaConfigError::TlsFile {
                setting,
                path: path.clone(),
                source,
            })?;
        }
    }
    config.set(
        "ssl.endpoint.identification.algorithm",
        if settings.ssl_verify_hostname {
            "https"
        } else {
            "none"
        },
    );
    match &settings.ssl_ca_file {
        Some(ca) => config.set("ssl.ca.location", ca.display().to_string()),
        // The system roots, wherever this image keeps them: librdkafka probes the usual bundle
        // paths (/etc/ssl/certs/ca-certificates.crt here) rather than trusting OpenSSL's
        // compiled-in directory, which a minimal image may lack.
        None => config.set("ssl.ca.location", "probe"),
    };
    match (&settings.ssl_certificate_file, &settings.ssl_key_file) {
        (Some(certificate), Some(key)) => {
            config
                .set(
                    "ssl.certificate.location",
                    certificate.display().to_string(),
                )
                .set("ssl.key.location", key.display().to_string());
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(KafkaConfigError::HalfMutualTls {
                given: "ssl_certificate_file",
            });
        }
        (None, Some(_)) => {
            return Err(KafkaConfigError::HalfMutualTls {
                given: "ssl_key_file",
            });
        }
    }
    Ok(())
}

fn set_sasl(config: &mut ClientConfig, settings: &KafkaSettings) -> Result<(), KafkaConfigError> {
    let protocol = settings.security_protocol;
    if !protocol.uses_sasl() {
        let sasl = [
            ("sasl_mechanism", settings.sasl_mechanism.is_some()),
            ("sasl_username_file", settings.sasl_username_file.is_some()),
            ("sasl_password_file", settings.sasl_password_file.is_some()),
        ];
        return match sasl.iter().find(|(_, set)| *set) {
            Some((setting, _)) => Err(KafkaConfigError::Unused {
                setting,
                protocol,
                uses: "SASL",
            }),
            None => Ok(()),
        };
    }
    let missing = |missing| KafkaConfigError::Missing { protocol, missing };
    let mechanism = settings
        .sasl_mechanism
        .as_deref()
        .ok_or_else(|| missing("sasl_mechanism"))?;
    if !SASL_MECHANISMS.contains(&mechanism) {
        return Err(KafkaConfigError::UnsupportedMechanism(
            mechanism.to_string(),
        ));
    }
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
    Ok(())
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

    /// A scratch directory with a CA, a client certificate and key, and SASL credentials.
    fn files(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tp-kafka-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (file, text) in [
            ("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
            ("client.crt", "-----BEGIN CERTIFICATE-----\n"),
            ("client.key", "-----BEGIN PRIVATE KEY-----\n"),
            ("user", "alice\n"),
            ("pass", "s3cret-pa55\n"),
        ] {
            std::fs::write(dir.join(file), text).expect("write");
        }
        dir
    }

    fn tls(dir: &std::path::Path, protocol: SecurityProtocol) -> KafkaSettings {
        let mut s = KafkaSettings::plaintext("k:9093", "t");
        s.security_protocol = protocol;
        s.ssl_ca_file = Some(dir.join("ca.crt"));
        if protocol.uses_sasl() {
            s.sasl_mechanism = Some("SCRAM-SHA-512".into());
            s.sasl_username_file = Some(dir.join("user"));
            s.sasl_password_file = Some(dir.join("pass"));
        }
        s
    }

    #[test]
    fn every_protocol_maps_to_librdkafka() {
        let dir = files("protocols");
        for (protocol, name, tls_on, sasl_on) in [
            (SecurityProtocol::Plaintext, "plaintext", false, false),
            (SecurityProtocol::Ssl, "ssl", true, false),
            (
                SecurityProtocol::SaslPlaintext,
                "sasl_plaintext",
                false,
                true,
            ),
            (SecurityProtocol::SaslSsl, "sasl_ssl", true, true),
        ] {
            let mut s = tls(&dir, protocol);
            if !tls_on {
                s.ssl_ca_file = None;
            }
            let config = client_config(&s).expect("config");
            assert_eq!(config.get("security.protocol"), Some(name));
            assert_eq!(
                config.get("ssl.ca.location").is_some(),
                tls_on,
                "{name}: CA only with TLS"
            );
            assert_eq!(
                config.get("ssl.endpoint.identification.algorithm"),
                tls_on.then_some("https"),
                "{name}: hostname verification on with TLS"
            );
            assert_eq!(config.get("sasl.mechanism").is_some(), sasl_on, "{name}");
            assert_eq!(config.get("sasl.username").is_some(), sasl_on, "{name}");
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn tls_without_a_ca_file_probes_the_system_bundle() {
        let dir = files("probe");
        let mut s = tls(&dir, SecurityProtocol::Ssl);
        s.ssl_ca_file = None;
        let config = client_config(&s).expect("config");
        assert_eq!(config.get("ssl.ca.location"), Some("probe"));
        s.ssl_verify_hostname = false;
        let config = client_config(&s).expect("config");
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("none")
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn mutual_tls_passes_certificate_and_key_by_path() {
        let dir = files("mtls");
        let mut s = tls(&dir, SecurityProtocol::Ssl);
        s.ssl_certificate_file = Some(dir.join("client.crt"));
        let err = client_config(&s).expect_err("key missing");
        assert!(
            err.to_string().contains("only ssl_certificate_file"),
            "{err}"
        );
        s.ssl_key_file = Some(dir.join("client.key"));
        let config = client_config(&s).expect("config");
        let path = |f: &str| dir.join(f).display().to_string();
        assert_eq!(
            config.get("ssl.certificate.location"),
            Some(path("client.crt").as_str())
        );
        assert_eq!(
            config.get("ssl.key.location"),
            Some(path("client.key").as_str())
        );
        s.ssl_certificate_file = None;
        let err = client_config(&s).expect_err("certificate missing");
        assert!(err.to_string().contains("only ssl_key_file"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unreadable_tls_files_are_named() {
        let dir = files("unreadable");
        let mut s = tls(&dir, SecurityProtocol::SaslSsl);
        s.ssl_ca_file = Some(dir.join("no-such-ca.crt"));
        let err = client_config(&s).expect_err("CA missing");
        let message = err.to_string();
        assert!(message.contains("ssl_ca_file"), "{message}");
        assert!(message.contains("no-such-ca.crt"), "{message}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn settings_the_protocol_would_ignore_are_refused() {
        let dir = files("unused");
        let s = tls(&dir, SecurityProtocol::Plaintext);
        let err = client_config(&s).expect_err("CA with plaintext");
        assert!(err.to_string().contains("ssl_ca_file"), "{err}");
        let mut s = tls(&dir, SecurityProtocol::Ssl);
        s.sasl_mechanism = Some("PLAIN".into());
        let err = client_config(&s).expect_err("mechanism without SASL");
        assert!(err.to_string().contains("sasl_mechanism"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn only_mechanisms_built_in_to_librdkafka() {
        let dir = files("mechanisms");
        let mut s = tls(&dir, SecurityProtocol::SaslSsl);
        for mechanism in SASL_MECHANISMS {
            s.sasl_mechanism = Some(mechanism.into());
            let config = client_config(&s).expect("config");
            assert_eq!(config.get("sasl.mechanism"), Some(mechanism));
        }
        s.sasl_mechanism = Some("GSSAPI".into());
        let err = client_config(&s).expect_err("GSSAPI");
        assert!(err.to_string().contains("GSSAPI"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn no_secret_in_debug_output_or_errors() {
        let dir = files("debug");
        let s = tls(&dir, SecurityProtocol::SaslSsl);
        let config = client_config(&s).expect("config");
        assert_eq!(config.get("sasl.password"), Some("s3cret-pa55"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-pa55"), "{debug}");
        assert!(debug.contains("sasl_ssl"), "{debug}");
        let settings_debug = format!("{s:?}");
        assert!(!settings_debug.contains("s3cret-pa55"), "{settings_debug}");
        std::fs::remove_dir_all(dir).ok();
    }
}
