//! The `kafka` block of both worker configs: where the brokers are and how to authenticate.
//! Credentials are file paths (mounted Secrets); the workers read them (see `crate::kafka`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `kafka` object of a worker config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// The posts topic; the companion topics are named after it (see `contract::topics`).
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
    /// PEM CA bundle to verify the brokers (TLS); the system roots when absent.
    #[serde(default)]
    pub ssl_ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with `ssl_key_file`).
    #[serde(default)]
    pub ssl_certificate_file: Option<PathBuf>,
    /// PEM private key (unencrypted) of `ssl_certificate_file`.
    #[serde(default)]
    pub ssl_key_file: Option<PathBuf>,
    /// Check that the broker's certificate names the host connected to (librdkafka's
    /// `ssl.endpoint.identification.algorithm=https`). On unless a config turns it off.
    #[serde(default = "verify_hostname_by_default")]
    pub ssl_verify_hostname: bool,
    /// Consumer group (transformer only; absent from `extractor.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

impl KafkaSettings {
    /// Plaintext, no registry, no credentials, no group: callers fill in the rest.
    pub fn plaintext(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSettings {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            schema_registry_url: None,
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username_file: None,
            sasl_password_file: None,
            ssl_ca_file: None,
            ssl_certificate_file: None,
            ssl_key_file: None,
            ssl_verify_hostname: true,
            group_id: None,
        }
    }
}

fn verify_hostname_by_default() -> bool {
    true
}

/// How the clients talk to the brokers; serialized as librdkafka spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// The protocol for a transport with or without TLS and SASL.
    pub fn for_transport(tls: bool, sasl: bool) -> Self {
        match (tls, sasl) {
            (false, false) => SecurityProtocol::Plaintext,
            (true, false) => SecurityProtocol::Ssl,
            (false, true) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        }
    }

    /// The value of librdkafka's `security.protocol` (and of the JSON field).
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_shape_with_nulls() {
        let s: KafkaSettings = serde_json::from_str(
            r#"{"bootstrap_servers":"k:9092","topic":"t","schema_registry_url":null,
                "security_protocol":"sasl_ssl","sasl_mechanism":"PLAIN",
                "sasl_username_file":null,"sasl_password_file":null}"#,
        )
        .expect("parse");
        assert_eq!(s.security_protocol, SecurityProtocol::SaslSsl);
        assert!(s.security_protocol.uses_sasl());
        assert_eq!(s.group_id, None);
        // Configs written before mutual TLS and hostname verification existed still parse,
        // with verification on.
        assert_eq!(s.ssl_certificate_file, None);
        assert_eq!(s.ssl_key_file, None);
        assert!(s.ssl_verify_hostname);
    }

    #[test]
    fn protocol_names_match_serde_and_transport() {
        for (tls, sasl) in [(false, false), (true, false), (false, true), (true, true)] {
            let p = SecurityProtocol::for_transport(tls, sasl);
            assert_eq!(
                serde_json::to_value(p).expect("serialize"),
                serde_json::json!(p.as_str())
            );
            assert_eq!(p.uses_sasl(), sasl);
        }
        assert_eq!(
            SecurityProtocol::for_transport(true, true).as_str(),
            "sasl_ssl"
        );
    }

    #[test]
    fn group_id_is_omitted_when_absent() {
        let json = serde_json::to_value(KafkaSettings::plaintext("k:9092", "t")).expect("json");
        assert!(json.get("group_id").is_none());
        assert!(json["schema_registry_url"].is_null());
        assert_eq!(json["security_protocol"], "plaintext");
    }
}
