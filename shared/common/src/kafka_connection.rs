//! One metadata round trip to the brokers, its failure told apart: credentials refused, broker
//! certificate not trusted, client certificate refused (mutual TLS), a host that does not resolve, or nothing answering. librdkafka
//! retries these inside the client and reports each only through its error callback, so a bare
//! metadata request would end in a generic timeout; this listens to the callback.
//!
//! The messages carry librdkafka's reason (broker address, mechanism, OpenSSL's verdict), which
//! never includes the credentials; an integration test checks it (transformer `kafka_secured`).

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, NoCustomPartitioner, Producer, ProducerContext};

#[derive(Debug, thiserror::Error)]
pub enum KafkaConnectionError {
    #[error(
        "Kafka at {bootstrap} refused the SASL credentials (check the username and password Secret): {reason}"
    )]
    Authentication { bootstrap: String, reason: String },
    #[error(
        "TLS with Kafka at {bootstrap} failed: the broker's certificate is not trusted by the configured CA or does not name the host: {reason}"
    )]
    Certificate { bootstrap: String, reason: String },
    /// Mutual TLS: the broker ended the handshake with an alert about this client's certificate.
    #[error(
        "Kafka at {bootstrap} refused the client certificate (mutual TLS: none configured, or not signed by a CA the broker trusts, or expired): {reason}"
    )]
    ClientCertificate { bootstrap: String, reason: String },
    #[error("Kafka bootstrap host in {bootstrap} cannot be resolved: {reason}")]
    UnknownHost { bootstrap: String, reason: String },
    #[error("Kafka at {bootstrap} is unreachable: {reason}")]
    Unreachable { bootstrap: String, reason: String },
    #[error(
        "Kafka at {bootstrap} refused an operation to this principal (an ACL is missing; docs/security.md lists them): {reason}"
    )]
    Authorization { bootstrap: String, reason: String },
}

impl KafkaConnectionError {
    /// A short CamelCase name, fit for a condition reason.
    pub fn kind(&self) -> &'static str {
        match self {
            KafkaConnectionError::Authentication { .. } => "KafkaAuthenticationFailed",
            KafkaConnectionError::Certificate { .. } => "KafkaCertificateUntrusted",
            KafkaConnectionError::ClientCertificate { .. } => "KafkaClientCertificateRefused",
            KafkaConnectionError::UnknownHost { .. } => "KafkaHostUnknown",
            KafkaConnectionError::Unreachable { .. } => "KafkaUnreachable",
            KafkaConnectionError::Authorization { .. } => "KafkaAuthorizationFailed",
        }
    }
}

/// Whether `code` is Kafka's authorizer refusing the principal (a missing ACL).
pub fn is_authorization(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::DelegationTokenAuthorizationFailed
    )
}

/// Why a Kafka operation made with `config` failed, when that can be told: a refused ACL from
/// the error itself, else a connection failure found by [`check_connection`]. `None` when the
/// brokers answer and the error is not an authorization one (the caller's message stands).
/// Blocking (a metadata round trip, about `timeout`).
pub fn explain_failure(
    config: &ClientConfig,
    error: &KafkaError,
    timeout: Duration,
) -> Option<KafkaConnectionError> {
    let bootstrap = config
        .get("bootstrap.servers")
        .unwrap_or_default()
        .to_string();
    if error.rdkafka_error_code().is_some_and(is_authorization) {
        return Some(KafkaConnectionError::Authorization {
            bootstrap,
            reason: error.to_string(),
        });
    }
    check_connection(config, timeout).err()
}

/// Records librdkafka's error callbacks.
#[derive(Default)]
struct ErrorRecorder {
    errors: Mutex<Vec<(Option<RDKafkaErrorCode>, String)>>,
}

impl rdkafka::ClientContext for ErrorRecorder {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push((error.rdkafka_error_code(), reason.to_string()));
        }
    }
}

impl ProducerContext<NoCustomPartitioner> for ErrorRecorder {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// OpenSSL's words for a peer's alert refusing (or missing) this client's certificate.
const CLIENT_CERTIFICATE_ALERTS: [&str; 5] = [
    "alert bad certificate",
    "alert certificate unknown",
    "alert certificate required",
    "alert unknown ca",
    "alert certificate expired",
];

/// What went wrong, from the recorded callbacks; the most telling failure wins (a refused
/// password or an untrusted certificate explains the connections that went down after it).
fn classify(
    bootstrap: &str,
    errors: &[(Option<RDKafkaErrorCode>, String)],
    fallback: String,
) -> KafkaConnectionError {
    let bootstrap = bootstrap.to_string();
    let find = |code: RDKafkaErrorCode, words: &[&str]| {
        errors
            .iter()
            .find(|(c, reason)| *c == Some(code) || words.iter().any(|w| reason.contains(w)))
            .map(|(_, reason)| reason.clone())
    };
    if let Some(reason) = find(
        RDKafkaErrorCode::Authentication,
        &["SASL authentication error", "Authentication failed"],
    ) {
        return KafkaConnectionError::Authentication { bootstrap, reason };
    }
    // The broker's TLS alerts about our certificate (OpenSSL: "sslv3 alert bad certificate" for
    // none, "sslv3 alert certificate unknown" for another CA's from Kafka's JVM; "tlsv13 alert
    // certificate required", "tlsv1 alert unknown ca" from others), told by the words alone:
    // librdkafka reports them as a failed receive, under whichever code.
    if let Some(reason) = errors
        .iter()
        .map(|(_, reason)| reason)
        .find(|reason| CLIENT_CERTIFICATE_ALERTS.iter().any(|w| reason.contains(w)))
    {
        return KafkaConnectionError::ClientCertificate {
            bootstrap,
            reason: reason.clone(),
        };
    }
    if let Some(reason) = find(
        RDKafkaErrorCode::SSL,
        &["certificate verify failed", "SSL handshake failed"],
    ) {
        return KafkaConnectionError::Certificate { bootstrap, reason };
    }
    if let Some(reason) = find(RDKafkaErrorCode::Resolve, &["Failed to resolve"]) {
        return KafkaConnectionError::UnknownHost { bootstrap, reason };
    }
    let reason = errors
        .first()
        .map(|(_, reason)| reason.clone())
        .unwrap_or(fallback);
    KafkaConnectionError::Unreachable { bootstrap, reason }
}

/// Asks the brokers for cluster metadata with `config` (from [`crate::kafka::client_config`]);
/// the number of brokers on success. Blocking: at most about `timeout` plus a second.
pub fn check_connection(
    config: &ClientConfig,
    timeout: Duration,
) -> Result<usize, KafkaConnectionError> {
    let bootstrap = config
        .get("bootstrap.servers")
        .unwrap_or_default()
        .to_string();
    // A producer, because polling it serves the main queue, where librdkafka puts its error
    // events (an admin client never polls that queue, so its error callback stays silent).
    let producer: BaseProducer<ErrorRecorder> = config
        .create_with_context(ErrorRecorder::default())
        .map_err(|e| KafkaConnectionError::Unreachable {
            bootstrap: bootstrap.clone(),
            reason: e.to_string(),
        })?;
    let fallback = match producer.client().fetch_metadata(None, timeout) {
        Ok(metadata) if !metadata.brokers().is_empty() => return Ok(metadata.brokers().len()),
        Ok(_) => "no broker in the metadata".to_string(),
        Err(e) => e.to_string(),
    };
    // The failure's own event may trail the failed request: serve the queue for a moment.
    let mut errors = Vec::new();
    for _ in 0..10 {
        producer.poll(Duration::from_millis(100));
        errors = producer
            .context()
            .errors
            .lock()
            .map(|errors| errors.clone())
            .unwrap_or_default();
        if matches!(
            classify(&bootstrap, &errors, String::new()),
            KafkaConnectionError::Authentication { .. }
                | KafkaConnectionError::Certificate { .. }
                | KafkaConnectionError::ClientCertificate { .. }
                | KafkaConnectionError::UnknownHost { .. }
        ) {
            break;
        }
    }
    Err(classify(&bootstrap, &errors, fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(list: &[(RDKafkaErrorCode, &str)]) -> Vec<(Option<RDKafkaErrorCode>, String)> {
        list.iter()
            .map(|(c, r)| (Some(*c), (*r).to_string()))
            .collect()
    }

    #[test]
    fn the_telling_failure_wins_over_the_connections_it_closed() {
        let errors = reasons(&[
            (
                RDKafkaErrorCode::BrokerTransportFailure,
                "sasl_ssl://k:9093/bootstrap: Disconnected",
            ),
            (
                RDKafkaErrorCode::Authentication,
                "sasl_ssl://k:9093/bootstrap: SASL authentication error: Authentication failed",
            ),
            (RDKafkaErrorCode::AllBrokersDown, "1/1 brokers are down"),
        ]);
        let err = classify("k:9093", &errors, "timed out".into());
        assert_eq!(err.kind(), "KafkaAuthenticationFailed");
        assert!(err.to_string().contains("Authentication failed"), "{err}");
    }

    #[test]
    fn a_missing_acl_is_told_by_the_error_alone() {
        let config = ClientConfig::new()
            .set("bootstrap.servers", "k:9093")
            .clone();
        let refused = KafkaError::Global(RDKafkaErrorCode::TransactionalIdAuthorizationFailed);
        let explained =
            explain_failure(&config, &refused, Duration::from_millis(1)).expect("explained");
        assert_eq!(explained.kind(), "KafkaAuthorizationFailed");
        assert!(explained.to_string().contains("ACL"), "{explained}");
        assert!(is_authorization(RDKafkaErrorCode::GroupAuthorizationFailed));
        assert!(!is_authorization(RDKafkaErrorCode::BrokerTransportFailure));
    }

    #[test]
    fn certificate_and_resolution_failures_are_named() {
        let tls = reasons(&[(
            RDKafkaErrorCode::BrokerTransportFailure,
            "ssl://k:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
        )]);
        assert_eq!(
            classify("k:9093", &tls, String::new()).kind(),
            "KafkaCertificateUntrusted"
        );
        let no_client_certificate = reasons(&[(
            RDKafkaErrorCode::BrokerTransportFailure,
            "ssl://k:9093/bootstrap: Receive failed: error:0A000412:SSL routines::sslv3 alert bad certificate: SSL alert number 42 (after 15ms in state APIVERSION_QUERY)",
        )]);
        assert_eq!(
            classify("k:9093", &no_client_certificate, String::new()).kind(),
            "KafkaClientCertificateRefused"
        );
        let other_ca_client = reasons(&[(
            RDKafkaErrorCode::BrokerTransportFailure,
            "ssl://k:9093/bootstrap: Receive failed: error:0A000416:SSL routines::sslv3 alert certificate unknown: SSL alert number 46 (after 1ms in state APIVERSION_QUERY)",
        )]);
        assert_eq!(
            classify("k:9093", &other_ca_client, String::new()).kind(),
            "KafkaClientCertificateRefused"
        );
        let dns = reasons(&[(
            RDKafkaErrorCode::Resolve,
            "Failed to resolve 'nowhere.invalid:9093': Name or service not known",
        )]);
        assert_eq!(
            classify("nowhere.invalid:9093", &dns, String::new()).kind(),
            "KafkaHostUnknown"
        );
        let err = classify("k:9093", &[], "Local: Broker transport failure".into());
        assert_eq!(err.kind(), "KafkaUnreachable");
        assert!(
            err.to_string().contains("Broker transport failure"),
            "{err}"
        );
    }
}
