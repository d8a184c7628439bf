//! The valid example pipeline (`operator/fixtures/pipeline.yaml`) and the spec blocks tests shape
//! it with, for tests here and in the operator (feature `fixtures`).

use crate::crd::{KafkaSasl, KafkaTls, SaslMechanism, SecretKeyRef, TweetPipeline};

/// The valid example pipeline.
pub fn pipeline() -> TweetPipeline {
    serde_yaml::from_str(include_str!("../../fixtures/pipeline.yaml")).expect("fixture parses")
}

/// The message an invalid manifest of `operator/fixtures/invalid` must be refused with: its first
/// line, `# expect: <message>`.
pub fn expected_refusal(manifest: &str) -> String {
    manifest
        .lines()
        .next()
        .expect("an invalid manifest starts with its `# expect:` line")
        .trim_start_matches("# expect: ")
        .to_string()
}

/// A fixture pipeline changed by `edit`.
pub fn pipeline_with(edit: impl FnOnce(&mut TweetPipeline)) -> TweetPipeline {
    let mut tp = pipeline();
    edit(&mut tp);
    tp
}

/// Key `key` of Secret `name`, as the spec's optional references hold it.
pub fn secret_key(name: &str, key: &str) -> Option<SecretKeyRef> {
    Some(SecretKeyRef {
        name: name.into(),
        key: key.into(),
    })
}

/// SCRAM-SHA-512 with the `username` and `password` of Secret `secret_name` (and the operator's
/// own from `admin_secret_name`, when given).
pub fn scram(secret_name: &str, admin_secret_name: Option<&str>) -> KafkaSasl {
    KafkaSasl {
        mechanism: SaslMechanism::ScramSha512,
        secret_name: secret_name.into(),
        username_key: "username".into(),
        password_key: "password".into(),
        admin_secret_name: admin_secret_name.map(Into::into),
    }
}

/// Mutual TLS: the client certificate and key of Secret `kafka-client`, the system's CA roots.
pub fn client_certificate_tls() -> KafkaTls {
    KafkaTls {
        ca_secret: None,
        client_certificate_secret: secret_key("kafka-client", "tls.crt"),
        client_key_secret: secret_key("kafka-client", "tls.key"),
    }
}
