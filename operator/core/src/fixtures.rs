//! The valid example pipeline (`operator/fixtures/pipeline.yaml`) and the spec blocks tests shape
//! it with, for tests here and in the operator (feature `fixtures`).

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd::{KafkaSasl, KafkaTls, SaslMechanism, SecretKeyRef, TweetPipeline};
use crate::decide::conditions::{Check, SchemaState};
use crate::decide::plan::Observed;

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

/// A world in shape at 2026-11-16T00:00Z: every check Ok, 6 partitions, 3 extractors and 3
/// transformers ready (1 running), a lag of 12,000, no checkpoints yet.
pub fn observed() -> Observed {
    Observed {
        now: Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap(),
        secrets: Check::Ok,
        kafka: Check::Ok,
        mysql: Check::Ok,
        schema: SchemaState::NotUsed,
        checkpoints: Vec::new(),
        lag: Some(12_000),
        partitions: Some(6),
        extractor_ready: 3,
        transformer_ready: 3,
        transformer_current: Some(1),
        extractor_current: Some(3),
        transformer_history: Vec::new(),
        scale_down_window: chrono::TimeDelta::minutes(5),
        invalid_queries: Vec::new(),
        api_host_refusal: None,
        image_refusal: None,
        stream_apps: None,
    }
}

/// Fetched Secrets by name, each with its `(key, value)` data.
pub fn fetched_secrets(secrets: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, Option<Secret>> {
    secrets
        .iter()
        .map(|(name, data)| (name.to_string(), fetched_secret(name, data)))
        .collect()
}

/// Secret `name` with its `(key, value)` data, as fetched.
pub fn fetched_secret(name: &str, data: &[(&str, &str)]) -> Option<Secret> {
    Some(Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    })
}
