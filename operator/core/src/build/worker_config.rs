//! The JSON configs the workers read (contract in the project briefing): built from the spec and
//! the scaling decision. Secrets appear only as file paths, never as values.

use std::path::PathBuf;

use tweetpipe_common::contract::extractor::{ExtractorConfig, QuerySlot, StreamSettings, Tuning};
use tweetpipe_common::contract::kafka::{KafkaSettings, SecurityProtocol};
use tweetpipe_common::contract::transformer::{MysqlSettings, TransformerConfig};
use tweetpipe_common::contract::{names, paths};

use crate::crd::{KafkaSpec, KafkaTls, SecretKeyRef, TweetPipeline};
use crate::decide::scaling::QueryShare;

/// `namespace/name` of a pipeline.
pub fn pipeline_id(tp: &TweetPipeline) -> String {
    names::pipeline_id(
        tp.metadata.namespace.as_deref().unwrap_or("default"),
        tp.metadata.name.as_deref().unwrap_or(""),
    )
}

/// The consumer group of a pipeline's transformers.
pub fn group_id(tp: &TweetPipeline) -> String {
    names::transformer_group_id(&pipeline_id(tp))
}

/// The shared Kafka block.
pub fn kafka_config(kafka: &KafkaSpec, group_id: Option<String>) -> KafkaSettings {
    let sasl_file = |file: &str| kafka.sasl.as_ref().map(|_| PathBuf::from(file));
    // The mounted path of a TLS Secret the spec names (see `workloads::kafka_secret_volumes`).
    let tls_file = |secret: fn(&KafkaTls) -> &Option<SecretKeyRef>, file: &str| {
        kafka
            .tls
            .as_ref()
            .and_then(|t| secret(t).as_ref())
            .map(|_| PathBuf::from(file))
    };
    KafkaSettings {
        bootstrap_servers: kafka.bootstrap_servers.clone(),
        topic: kafka.topic.clone(),
        schema_registry_url: kafka.schema_registry_url.clone(),
        security_protocol: SecurityProtocol::for_transport(
            kafka.tls.is_some(),
            kafka.sasl.is_some(),
        ),
        sasl_mechanism: kafka
            .sasl
            .as_ref()
            .map(|s| s.mechanism.as_str().to_string()),
        sasl_username_file: sasl_file(paths::KAFKA_SASL_USERNAME_FILE),
        sasl_password_file: sasl_file(paths::KAFKA_SASL_PASSWORD_FILE),
        ssl_ca_file: tls_file(|t| &t.ca_secret, paths::KAFKA_CA_FILE),
        ssl_certificate_file: tls_file(
            |t| &t.client_certificate_secret,
            paths::KAFKA_CLIENT_CERT_FILE,
        ),
        ssl_key_file: tls_file(|t| &t.client_key_secret, paths::KAFKA_CLIENT_KEY_FILE),
        ssl_verify_hostname: true,
        group_id,
    }
}

/// `extractor.json`: every query with its token and share (the same file for every replica).
pub fn extractor_config(
    tp: &TweetPipeline,
    shares: &[QueryShare],
    monthly_post_budget: Option<u64>,
) -> ExtractorConfig {
    let source = &tp.spec.source;
    ExtractorConfig {
        pipeline: pipeline_id(tp),
        api_base_url: source.base_url.clone(),
        tweet_fields: source.fields.tweet_fields.clone(),
        user_fields: source.fields.user_fields.clone(),
        place_fields: source.fields.place_fields.clone(),
        expansions: source.fields.expansions.clone(),
        kafka: kafka_config(&tp.spec.kafka, None),
        queries: shares
            .iter()
            .filter_map(|share| {
                let q = source.queries.get(share.query)?;
                Some(QuerySlot {
                    name: q.name.clone(),
                    query: q.query.clone(),
                    token_file: paths::token_file(share.token),
                    requests_per_window: share.requests_per_window,
                    window_seconds: u64::from(source.limits.window_seconds),
                    delivery: q.delivery_mode(),
                    // Written out (it is the extractor's default): the operator names the rules
                    // it deletes with the pipeline by the same tag.
                    rule_tag: q
                        .delivery_mode()
                        .is_stream()
                        .then(|| crate::decide::stream::rule_tag(tp, &q.name)),
                })
            })
            .collect(),
        monthly_post_budget,
        max_results: source.max_results,
        tuning: Tuning::default(),
        stream: stream_settings(tp),
    }
}

/// The stream block: the defaults (left out of the JSON) unless a query streams, so a
/// search-only pipeline's config, and its pods, stay as they were whatever `source.stream` says.
pub fn stream_settings(tp: &TweetPipeline) -> StreamSettings {
    let source = &tp.spec.source;
    let streams = source.queries.iter().any(|q| q.delivery_mode().is_stream());
    match &source.stream {
        Some(stream) if streams => StreamSettings {
            backfill_minutes: stream.backfill_minutes,
            ..StreamSettings::default()
        },
        _ => StreamSettings::default(),
    }
}

/// `transformer.json`.
pub fn transformer_config(tp: &TweetPipeline) -> TransformerConfig {
    TransformerConfig {
        batch_size: tp.spec.transformer.batch_size as usize,
        flush_interval_ms: u64::from(tp.spec.transformer.flush_interval_ms),
        query_names: tp
            .spec
            .source
            .queries
            .iter()
            .map(|q| q.name.clone())
            .collect(),
        ..TransformerConfig::new(
            pipeline_id(tp),
            kafka_config(&tp.spec.kafka, Some(group_id(tp))),
            mysql_settings(tp),
        )
    }
}

/// `mysql` of `transformer.json`: the URL file, and `mysql.tls` as mode and mounted CA file.
fn mysql_settings(tp: &TweetPipeline) -> MysqlSettings {
    let tls = tp.spec.mysql.tls.as_ref();
    MysqlSettings {
        ssl_mode: tls.map(|t| t.mode.ssl_mode().to_string()),
        ssl_ca_file: tls
            .and_then(|t| t.ca_secret.as_ref())
            .map(|_| PathBuf::from(paths::MYSQL_CA_FILE)),
        ..MysqlSettings::new(paths::MYSQL_URL_FILE)
    }
}
