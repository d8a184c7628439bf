//! `build::worker_config`: the configs the workers parse, and the files they name mounted where
//! the workloads put them.

use crate::build::worker_config;
use crate::build::workloads;
use crate::crd::{KafkaTls, MySqlTls};
use crate::decide::scaling;
use crate::fixtures::{client_certificate_tls, pipeline, pipeline_with, scram, secret_key};

use super::{assert_config, defaults, secret_file};

#[test]
fn extractor_config_follows_the_worker_contract() {
    let tp = pipeline();
    let shares = scaling::query_shares(2, 405, 100, 3);
    let config = worker_config::extractor_config(&tp, &shares, Some(900_000));
    let json: serde_json::Value = serde_json::to_value(&config).unwrap();
    assert_config(
        &json,
        &[
            ("/pipeline", "tweets/covid19".into()),
            (
                "/api_base_url",
                "http://x-api-simulator.tweetpipe-system:8080".into(),
            ),
            ("/kafka/bootstrap_servers", "kafka.kafka:9092".into()),
            ("/kafka/topic", "tweets.covid19".into()),
            ("/kafka/security_protocol", "plaintext".into()),
            ("/monthly_post_budget", 900_000.into()),
            ("/max_results", 100.into()),
            ("/queries/1/token_file", secret_file("tokens/1/token")),
            ("/queries/2/token_file", secret_file("tokens/0/token")),
            // Token 0 carries queries 0 and 2, token 1 query 1 alone.
            ("/queries/0/requests_per_window", 203.into()),
            ("/queries/1/requests_per_window", 405.into()),
            ("/queries/2/requests_per_window", 202.into()),
            ("/queries/1/window_seconds", 900.into()),
            ("/queries/0/name", "covid-en".into()),
            (
                "/queries/0/query",
                "(covid OR covid19) lang:en -is:retweet".into(),
            ),
        ],
    );
    assert!(json["kafka"]["schema_registry_url"].is_null());
    assert!(
        json["kafka"].get("group_id").is_none(),
        "extractors have no consumer group"
    );
    assert!(json.get("assignments").is_none() && json.get("token_file").is_none());
    assert_eq!(json["queries"].as_array().unwrap().len(), 3);
    for (list, wanted) in [("tweet_fields", "created_at"), ("expansions", "author_id")] {
        let listed = json[list].as_array().unwrap();
        assert!(listed.iter().any(|f| f == wanted), "{list} has {wanted}");
    }
}

#[test]
fn transformer_config_follows_the_worker_contract() {
    let tp = pipeline_with(|tp| {
        tp.spec.kafka.sasl = Some(scram("kafka-creds", None));
        tp.spec.kafka.tls = Some(KafkaTls {
            ca_secret: secret_key("kafka-ca", "ca.crt"),
            ..KafkaTls::default()
        });
    });
    let json: serde_json::Value =
        serde_json::to_value(worker_config::transformer_config(&tp)).unwrap();
    assert_config(
        &json,
        &[
            ("/kafka/group_id", "tweetpipe.tweets.covid19".into()),
            ("/kafka/security_protocol", "sasl_ssl".into()),
            ("/kafka/sasl_mechanism", "SCRAM-SHA-512".into()),
            (
                "/kafka/sasl_password_file",
                secret_file("kafka-sasl/password"),
            ),
            ("/kafka/ssl_ca_file", secret_file("kafka-ca/ca.crt")),
            ("/mysql/url_file", secret_file("mysql/url")),
            ("/batch_size", 500.into()),
            ("/flush_interval_ms", 1000.into()),
            (
                "/query_names",
                serde_json::json!(["covid-en", "covid-pt", "quarantine-en"]),
            ),
        ],
    );
    let text = serde_json::to_string(&json).unwrap();
    assert!(
        !text.contains("password\":\"") || text.contains("_file"),
        "only file paths, never values"
    );
}

#[test]
fn mutual_tls_secrets_are_mounted_and_named_in_both_configs() {
    let tp = pipeline_with(|tp| tp.spec.kafka.tls = Some(client_certificate_tls()));
    for json in [
        serde_json::to_value(worker_config::transformer_config(&tp)).unwrap(),
        serde_json::to_value(worker_config::extractor_config(&tp, &[], None)).unwrap(),
    ] {
        assert_config(
            &json,
            &[
                ("/kafka/security_protocol", "ssl".into()),
                (
                    "/kafka/ssl_certificate_file",
                    secret_file("kafka-client-cert/tls.crt"),
                ),
                (
                    "/kafka/ssl_key_file",
                    secret_file("kafka-client-key/tls.key"),
                ),
                ("/kafka/ssl_verify_hostname", true.into()),
            ],
        );
        assert!(json["kafka"]["ssl_ca_file"].is_null(), "system roots");
    }
    let deployment = workloads::transformer_deployment(&tp, &defaults(), 1, "{}");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    for (volume, dir, file) in [
        (
            "kafka-client-cert",
            "/var/run/secrets/tweetpipe/kafka-client-cert",
            "tls.crt",
        ),
        (
            "kafka-client-key",
            "/var/run/secrets/tweetpipe/kafka-client-key",
            "tls.key",
        ),
    ] {
        let secret = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == volume)
            .and_then(|v| v.secret.as_ref())
            .unwrap_or_else(|| panic!("volume {volume}"));
        assert_eq!(secret.secret_name.as_deref(), Some("kafka-client"));
        assert_eq!(secret.items.as_ref().unwrap()[0].path, file);
        let mounted = pod.containers[0]
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.name == volume && m.mount_path == dir && m.read_only == Some(true));
        assert!(mounted, "{volume} mounted read-only at {dir}");
    }
}

#[test]
fn mysql_tls_mounts_the_ca_into_transformers_and_names_mode_and_file_in_their_config() {
    let tp = pipeline_with(|tp| {
        tp.spec.mysql.tls = Some(MySqlTls {
            ca_secret: secret_key("mysql-ca", "ca.crt"),
            ..MySqlTls::default()
        });
    });
    let json = serde_json::to_value(worker_config::transformer_config(&tp)).unwrap();
    assert_config(
        &json,
        &[
            ("/mysql/ssl_mode", "VERIFY_IDENTITY".into()),
            ("/mysql/ssl_ca_file", secret_file("mysql-ca/ca.crt")),
        ],
    );
    let deployment = workloads::transformer_deployment(&tp, &defaults(), 1, "{}");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "mysql-ca")
        .expect("a mysql-ca volume");
    let secret = volume.secret.unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("mysql-ca"));
    assert_eq!(secret.items.unwrap()[0].path, "ca.crt");
    let mounts = pod.containers[0].volume_mounts.clone().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.name == "mysql-ca" && m.mount_path == "/var/run/secrets/tweetpipe/mysql-ca")
    );

    // No block: nothing TLS in the config (older transformers keep reading it), no volume.
    let plain = pipeline();
    let json = serde_json::to_value(worker_config::transformer_config(&plain)).unwrap();
    assert!(json["mysql"].get("ssl_mode").is_none());
    assert!(json["mysql"].get("ssl_ca_file").is_none());
}

#[test]
fn worker_configs_deserialize_into_the_workers_own_types() {
    let tp = pipeline();
    let transformer = serde_json::to_string(&worker_config::transformer_config(&tp)).unwrap();
    let parsed: tweetpipe_common::contract::transformer::TransformerConfig =
        serde_json::from_str(&transformer).expect("the transformer accepts the operator's config");
    parsed.validate().expect("and finds it valid");
    assert_eq!(
        parsed.kafka.group_id.as_deref(),
        Some("tweetpipe.tweets.covid19")
    );
    let extractor =
        worker_config::extractor_config(&tp, &scaling::query_shares(2, 405, 100, 3), None);
    let kafka = serde_json::to_string(&extractor.kafka).unwrap();
    let parsed: tweetpipe_common::contract::kafka::KafkaSettings =
        serde_json::from_str(&kafka).expect("the shared Kafka settings accept it");
    assert_eq!(parsed.topic, "tweets.covid19");
}

/// Delivery per query, the rule tag of stream queries and the stream block, as a table: the
/// CRD's two fields map onto the extractor's three modes.
#[test]
fn delivery_rule_tags_and_stream_settings_reach_the_extractor_config() {
    use crate::crd::{QueryDelivery, StreamSpec};
    use tweetpipe_common::contract::extractor::{Delivery, StreamSettings};

    let shares = scaling::query_shares(2, 405, 100, 3);
    // (case, delivery and searchRecovery of query 0, stream settings, mode, tag, backfill)
    type Case = (
        &'static str,
        QueryDelivery,
        Option<bool>,
        Option<StreamSpec>,
        Delivery,
        Option<&'static str>,
        u8,
    );
    let cases: [Case; 5] = [
        (
            "search",
            QueryDelivery::Search,
            None,
            None,
            Delivery::Search,
            None,
            5,
        ),
        (
            "stream recovers by search unless told not to",
            QueryDelivery::Stream,
            None,
            None,
            Delivery::StreamWithSearchRecovery,
            Some("tweetpipe:tweets/covid19:covid-en"),
            5,
        ),
        (
            "searchRecovery true",
            QueryDelivery::Stream,
            Some(true),
            Some(StreamSpec {
                backfill_minutes: 2,
            }),
            Delivery::StreamWithSearchRecovery,
            Some("tweetpipe:tweets/covid19:covid-en"),
            2,
        ),
        (
            "searchRecovery false",
            QueryDelivery::Stream,
            Some(false),
            Some(StreamSpec {
                backfill_minutes: 1,
            }),
            Delivery::Stream,
            Some("tweetpipe:tweets/covid19:covid-en"),
            1,
        ),
        (
            "stream settings without a stream query change nothing",
            QueryDelivery::Search,
            None,
            Some(StreamSpec {
                backfill_minutes: 1,
            }),
            Delivery::Search,
            None,
            5,
        ),
    ];
    for (case, delivery, search_recovery, stream, mode, tag, backfill) in cases {
        let tp = pipeline_with(|tp| {
            tp.spec.source.queries[0].delivery = delivery;
            tp.spec.source.queries[0].search_recovery = search_recovery;
            tp.spec.source.stream = stream;
        });
        let config = worker_config::extractor_config(&tp, &shares, None);
        config.validate().expect(case);
        assert_eq!(config.queries[0].delivery, mode, "{case}");
        assert_eq!(config.queries[0].rule_tag.as_deref(), tag, "{case}");
        assert_eq!(config.stream.backfill_minutes, backfill, "{case}");
        // The tag is the one the extractor would default to (its cleanup deletes by it).
        if mode.is_stream() {
            assert_eq!(config.rule_tag(0), tag.unwrap_or_default(), "{case}");
        }
        // The other queries stay search, and say nothing about it.
        assert!(config.queries[1..].iter().all(|q| q.delivery.is_search()));
        let json = serde_json::to_value(&config).unwrap();
        assert!(json["queries"][1].get("delivery").is_none(), "{case}");
        assert_eq!(
            json.get("stream").is_some(),
            config.stream != StreamSettings::default(),
            "{case}"
        );
    }
}

/// Upgrading the operator must not restart a search-only pipeline's extractors: its config, and
/// so the restart key hashed into the pod template, says nothing about streams, whatever
/// `source.stream` holds.
#[test]
fn search_only_configs_are_unchanged_by_the_stream_fields() {
    use crate::crd::StreamSpec;
    use tweetpipe_common::contract::extractor::{Delivery, StreamSettings};

    let shares = scaling::query_shares(2, 405, 100, 3);
    let plain = worker_config::extractor_config(&pipeline(), &shares, Some(900_000));
    let with_settings = worker_config::extractor_config(
        &pipeline_with(|tp| {
            tp.spec.source.stream = Some(StreamSpec {
                backfill_minutes: 2,
            })
        }),
        &shares,
        Some(900_000),
    );
    // What the operator wrote before the stream fields existed: the contract's defaults.
    let mut before = plain.clone();
    for q in &mut before.queries {
        q.delivery = Delivery::Search;
        q.rule_tag = None;
    }
    before.stream = StreamSettings::default();
    let text = serde_json::to_string(&plain).unwrap();
    assert_eq!(text, serde_json::to_string(&before).unwrap());
    assert_eq!(text, serde_json::to_string(&with_settings).unwrap());
    for key in ["stream", "delivery", "rule_tag", "backfill"] {
        assert!(!text.contains(key), "{key} in {text}");
    }
}
