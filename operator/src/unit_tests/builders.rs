//! Builders: worker configs (the contract), workloads, topics, secrets, settings, backoff.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use crate::build::topics::{self, TopicSpec};
use crate::build::worker_config;
use crate::build::workloads::{self, WorkerDefaults};
use crate::crd::{KafkaSasl, KafkaTls, MySqlTls, SaslMechanism, SecretKeyRef};
use crate::decide::scaling;
use crate::labels::Component;
use crate::reconcile::backoff;
use crate::reconcile::dependencies::mysql::{self, DesiredAccount};
use crate::reconcile::observe::secrets::{self, Missing, SecretString};
use crate::settings;
use tweetpipe_operator_core::fixtures::{pipeline, pipeline_with};

fn defaults() -> WorkerDefaults {
    WorkerDefaults {
        extractor_image: "tweetpipe/extractor:test".into(),
        transformer_image: "tweetpipe/transformer:test".into(),
        image_pull_policy: "IfNotPresent".into(),
        otlp_endpoint: None,
        log_filter: "info".into(),
    }
}

/// Asserts the value at each JSON pointer of a rendered worker config; a failure names the
/// pointer.
fn assert_config(config: &serde_json::Value, expected: &[(&str, serde_json::Value)]) {
    for (pointer, value) in expected {
        let actual = config.pointer(pointer).unwrap_or(&serde_json::Value::Null);
        assert_eq!(actual, value, "{pointer}");
    }
}

/// A file the workers read from their mounted Secrets, as their configs name it.
fn secret_file(path: &str) -> serde_json::Value {
    format!("/var/run/secrets/tweetpipe/{path}").into()
}

/// Key `key` of Secret `name`, as the spec's optional references hold it.
fn secret_key(name: &str, key: &str) -> Option<SecretKeyRef> {
    Some(SecretKeyRef {
        name: name.into(),
        key: key.into(),
    })
}

/// SCRAM-SHA-512 with the `username` and `password` of Secret `secret_name`.
fn scram(secret_name: &str, admin_secret_name: Option<&str>) -> KafkaSasl {
    KafkaSasl {
        mechanism: SaslMechanism::ScramSha512,
        secret_name: secret_name.into(),
        username_key: "username".into(),
        password_key: "password".into(),
        admin_secret_name: admin_secret_name.map(Into::into),
    }
}

/// Mutual TLS: the client certificate and key of Secret `kafka-client`, the system's CA roots.
fn client_certificate_tls() -> KafkaTls {
    KafkaTls {
        ca_secret: None,
        client_certificate_secret: secret_key("kafka-client", "tls.crt"),
        client_key_secret: secret_key("kafka-client", "tls.key"),
    }
}

/// The config hash on an extractor StatefulSet's pod template (a change rolls the pods).
fn config_hash(sts: StatefulSet) -> String {
    sts.spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()[workloads::CONFIG_HASH_ANNOTATION]
        .clone()
}

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
fn extractor_statefulset_is_locked_down_and_owned() {
    let tp = pipeline();
    let sts = workloads::extractor_statefulset(&tp, &defaults(), 3, "{}");
    assert_eq!(sts.name_any(), "covid19-extractor");
    assert_eq!(sts.namespace().as_deref(), Some("tweets"));
    let owner = &sts.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("TweetPipeline", "covid19", Some(true))
    );
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.service_name.as_deref(), Some("covid19-extractor"));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("tweetpipe/extractor:test"));
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );
    assert!(container.liveness_probe.is_some() && container.readiness_probe.is_some());
    let env = container.env.as_ref().unwrap();
    assert!(env.iter().any(|e| e.name == "EXTRACTOR_CONFIG"
        && e.value.as_deref() == Some("/etc/tweetpipe/extractor.json")));
    assert!(
        env.iter()
            .any(|e| e.name == "REPLICA_INDEX" && e.value_from.is_some())
    );
    assert!(
        env.iter().all(|e| !e.name.contains("TOKEN")),
        "tokens are files, not env"
    );
    let volumes = pod.volumes.as_ref().unwrap();
    let token_b = volumes
        .iter()
        .find(|v| v.name == "token-1")
        .unwrap()
        .secret
        .as_ref()
        .unwrap();
    assert_eq!(token_b.secret_name.as_deref(), Some("x-token-b"));
    assert_eq!(token_b.items.as_ref().unwrap()[0].key, "bearer");
    let mounts = container.volume_mounts.as_ref().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.mount_path == "/var/run/secrets/tweetpipe/tokens/1")
    );
    assert!(
        mounts.iter().any(|m| m.mount_path == "/tmp"),
        "writable scratch on a read-only root"
    );
}

#[test]
fn config_change_rolls_the_pods() {
    let tp = pipeline();
    let hash =
        |json: &str| config_hash(workloads::extractor_statefulset(&tp, &defaults(), 1, json));
    assert_eq!(hash("{\"a\":1}"), hash("{\"a\":1}"));
    assert_ne!(hash("{\"a\":1}"), hash("{\"a\":2}"));
}

#[test]
fn worker_pods_ask_prometheus_to_scrape_their_ops_port() {
    let tp = pipeline();
    let sts = workloads::extractor_statefulset(&tp, &defaults(), 1, "{}");
    let deployment = workloads::transformer_deployment(&tp, &defaults(), 1, "{}");
    for template in [
        sts.spec.unwrap().template,
        deployment.spec.unwrap().template,
    ] {
        let annotations = template.metadata.unwrap().annotations.unwrap();
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(
            annotations["prometheus.io/port"],
            workloads::OPS_PORT.to_string()
        );
        assert_eq!(annotations["prometheus.io/path"], "/metrics");
    }
}

#[test]
fn transformer_deployment_mounts_its_mysql_secret() {
    let tp = pipeline_with(|tp| tp.spec.transformer.image = Some("custom/transformer:1".into()));
    let deployment = workloads::transformer_deployment(&tp, &defaults(), 2, "{}");
    assert_eq!(deployment.name_any(), "covid19-transformer");
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("custom/transformer:1")
    );
    let mysql = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "mysql")
        .unwrap();
    assert_eq!(
        mysql.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("covid19-transformer-mysql")
    );
    let secret = workloads::mysql_secret(&tp, "mysql://u:p@db:3306/tweets_covid19", "p");
    assert_eq!(secret.name_any(), "covid19-transformer-mysql");
    assert_eq!(secret.owner_references().len(), 1);
    let service = workloads::service(&tp, Component::Transformer);
    assert_eq!(service.spec.unwrap().cluster_ip.as_deref(), Some("None"));
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
fn accounts_require_tls_when_the_spec_or_the_admin_url_asks_for_it() {
    let plain = pipeline();
    assert!(!mysql::tls_required(&plain.spec.mysql, "mysql://root:p@db"));
    assert!(!mysql::tls_required(
        &plain.spec.mysql,
        "mysql://root:p@db?ssl-mode=PREFERRED"
    ));
    for mode in ["REQUIRED", "VERIFY_CA", "verify_identity"] {
        assert!(
            mysql::tls_required(
                &plain.spec.mysql,
                &format!("mysql://root:p@db?ssl-mode={mode}")
            ),
            "{mode}"
        );
    }
    let tls = pipeline_with(|tp| tp.spec.mysql.tls = Some(MySqlTls::default()));
    assert!(mysql::tls_required(&tls.spec.mysql, "mysql://root:p@db"));
    assert_eq!(
        serde_json::to_value(MySqlTls::default()).unwrap(),
        serde_json::json!({"mode": "verify-identity"})
    );
}

#[test]
fn topics_and_drift() {
    let tp = pipeline();
    let desired = topics::desired_topics(&tp.spec.kafka, tp.spec.source.queries.len());
    let names: Vec<&str> = desired.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "tweets.covid19",
            "tweets.covid19.checkpoints",
            "tweets.covid19.dlq",
            "tweets.covid19.slots"
        ]
    );
    let slots = &desired[3];
    assert_eq!(slots.partitions as usize, tp.spec.source.queries.len());
    // Removing queries leaves their slots: no shrink to refuse.
    let fewer = topics::drift(slots, slots.partitions + 2, &slots.configs);
    assert_eq!(fewer, topics::TopicDrift::default());
    assert_eq!(
        topics::drift(slots, 1, &slots.configs).grow_partitions_to,
        Some(slots.partitions)
    );
    assert_eq!(desired[0].partitions, 6);
    assert_eq!(desired[0].configs["retention.ms"], "604800000");
    assert_eq!(desired[1].configs["cleanup.policy"], "compact");
    let posts: &TopicSpec = &desired[0];
    let same = topics::drift(posts, 6, &posts.configs);
    assert_eq!(same, topics::TopicDrift::default());
    let mut actual = posts.configs.clone();
    actual.insert("retention.ms".into(), "1000".into());
    actual.insert("segment.bytes".into(), "1".into());
    let drift = topics::drift(posts, 3, &actual);
    assert_eq!(drift.grow_partitions_to, Some(6));
    assert_eq!(
        drift.configs,
        BTreeMap::from([("retention.ms".to_string(), "604800000".to_string())])
    );
    let shrink = topics::drift(posts, 12, &posts.configs);
    assert_eq!(shrink.shrink_refused, Some((12, 6)));
    assert_eq!(shrink.grow_partitions_to, None);
}

/// Fetched Secrets by name, each with its `(key, value)` data.
fn fetched_secrets(secrets: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, Option<Secret>> {
    secrets
        .iter()
        .map(|(name, data)| (name.to_string(), secret(name, data)))
        .collect()
}

fn secret(name: &str, data: &[(&str, &str)]) -> Option<Secret> {
    Some(Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    })
}

#[test]
fn secrets_resolve_or_name_what_is_missing() {
    let tp = pipeline();
    let mut fetched = fetched_secrets(&[
        ("x-token-a", &[("token", "AAA\n")]),
        ("x-token-b", &[("bearer", "BBB")]),
        ("mysql-admin", &[("url", "mysql://root:pw@db:3306")]),
        ("mysql-reporting", &[("password", "reader")]),
    ]);
    let resolved = secrets::resolve_from(&tp.spec, &fetched).expect("all present");
    assert_eq!(resolved.mysql_admin_url.expose(), "mysql://root:pw@db:3306");
    assert_eq!(
        resolved.reporting_password.as_ref().unwrap().expose(),
        "reader"
    );
    assert!(
        !format!("{resolved:?}").contains("pw@"),
        "Debug never shows secret values"
    );

    fetched.insert("x-token-b".into(), None);
    let missing = secrets::resolve_from(&tp.spec, &fetched).unwrap_err();
    assert_eq!(
        missing,
        Missing::Secret {
            name: "x-token-b".into(),
            used_for: "X API bearer token"
        }
    );
    match missing.to_check() {
        crate::decide::conditions::Check::Failed { reason, message } => {
            assert_eq!(reason, "SecretMissing");
            assert!(message.contains("x-token-b"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    fetched.insert(
        "x-token-b".into(),
        secret("x-token-b", &[("token", "wrong key")]),
    );
    let missing = secrets::resolve_from(&tp.spec, &fetched).unwrap_err();
    assert_eq!(
        missing,
        Missing::Key {
            name: "x-token-b".into(),
            key: "bearer".into(),
            used_for: "X API bearer token"
        }
    );
    fetched.insert("x-token-b".into(), secret("x-token-b", &[("bearer", "")]));
    assert!(
        matches!(
            secrets::resolve_from(&tp.spec, &fetched),
            Err(Missing::Key { .. })
        ),
        "empty values count as missing"
    );
    assert_eq!(
        format!("{:?}", SecretString::new("hunter2".into())),
        "<redacted>"
    );
}

#[test]
fn transformer_url_is_the_writer_on_the_pipeline_database() {
    let writer = DesiredAccount {
        user: "tpw_0123".into(),
        password: SecretString::new("Secret123".into()),
        role: tweetpipe_schema::Role::Writer,
        require_tls: false,
    };
    let cases = [
        (
            "mysql://root:adm@db:3306",
            "mysql://tpw_0123:Secret123@db:3306/tweets",
        ),
        (
            "mysql://root:adm@db:3306/",
            "mysql://tpw_0123:Secret123@db:3306/tweets",
        ),
        (
            "mysql://root:adm@db/other?ssl-mode=required",
            "mysql://tpw_0123:Secret123@db:3306/tweets?ssl-mode=required",
        ),
        // The operator's CA file means nothing in a pod: dropped, other parameters kept.
        (
            "mysql://root:adm@db/other?ssl-mode=VERIFY_CA&ssl-ca=/etc/ca.pem&charset=utf8mb4",
            "mysql://tpw_0123:Secret123@db:3306/tweets?ssl-mode=VERIFY_CA&charset=utf8mb4",
        ),
    ];
    for (admin, expected) in cases {
        assert_eq!(
            mysql::writer_url(admin, "tweets", &writer, false).expect("valid URL"),
            expected,
            "{admin}"
        );
    }
    // With `mysql.tls`, the transformer config carries the mode: the URL's is dropped too.
    assert_eq!(
        mysql::writer_url(
            "mysql://root:adm@db/other?ssl-mode=required&charset=utf8mb4",
            "tweets",
            &writer,
            true
        )
        .expect("valid URL"),
        "mysql://tpw_0123:Secret123@db:3306/tweets?charset=utf8mb4"
    );
}

#[test]
fn backoff_grows_is_bounded_and_jittered() {
    assert_eq!(backoff::delay(1, 1.0), backoff::BASE);
    assert_eq!(backoff::delay(1, 0.0), backoff::BASE / 2);
    assert!(backoff::delay(4, 0.5) > backoff::delay(3, 0.5));
    assert_eq!(backoff::delay(40, 1.0), backoff::MAX);
    assert!(backoff::delay(40, 0.0) >= backoff::MAX / 2);
    let failures = backoff::Failures::default();
    assert_eq!(
        (
            failures.record("ns/a"),
            failures.record("ns/a"),
            failures.record("ns/b")
        ),
        (1, 2, 1)
    );
    failures.reset("ns/a");
    assert_eq!(
        failures.record("ns/a"),
        1,
        "a success resets only that object"
    );
}

/// An environment of `pairs` for `settings::from_env`.
fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn settings_from_env() {
    let defaults = settings::from_env(env(&[])).unwrap();
    assert!(defaults.leader_election);
    assert_eq!(defaults.controller.kafka_timeout.as_secs(), 10);
    assert_eq!(defaults.ops_addr.port(), 8080);
    let custom = settings::from_env(env(&[
        ("TWEETPIPE_EXTRACTOR_IMAGE", "local/extractor:dev"),
        ("TWEETPIPE_LEADER_ELECTION", "false"),
        ("POD_NAME", "op-0"),
        ("TWEETPIPE_REQUEUE_SECONDS", "7"),
    ]))
    .unwrap();
    assert_eq!(
        custom.controller.workers.extractor_image,
        "local/extractor:dev"
    );
    assert!(!custom.leader_election);
    assert_eq!(custom.identity, "op-0");
    assert_eq!(custom.controller.requeue_ready.as_secs(), 7);
    let bad = settings::from_env(env(&[("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", "soon")])).unwrap_err();
    assert!(
        bad.to_string().contains("TWEETPIPE_KAFKA_TIMEOUT_SECONDS"),
        "{bad}"
    );
    assert!(settings::from_env(env(&[("TWEETPIPE_IMAGE_PULL_POLICY", "Sometimes")])).is_err());
}

#[test]
fn every_reconcile_has_a_deadline_past_its_bounded_steps() {
    let defaults = settings::from_env(env(&[])).unwrap().controller;
    assert_eq!(defaults.api_timeout.as_secs(), 20);
    // max(10 s × 4, 5 s × 12) + 10 s × 4 + 20 s × 2
    assert_eq!(defaults.reconcile_timeout.as_secs(), 140);
    let test_like = settings::from_env(env(&[
        ("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", "4"),
        ("TWEETPIPE_MYSQL_TIMEOUT_SECONDS", "4"),
        ("TWEETPIPE_API_TIMEOUT_SECONDS", "10"),
    ]))
    .unwrap()
    .controller;
    assert_eq!(test_like.reconcile_timeout.as_secs(), 48 + 16 + 20);
    let set = settings::from_env(env(&[("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS", "45")]))
        .unwrap()
        .controller;
    assert_eq!(
        set.reconcile_timeout.as_secs(),
        45,
        "an explicit deadline wins"
    );
    let bad =
        settings::from_env(env(&[("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS", "never")])).unwrap_err();
    assert!(
        bad.to_string()
            .contains("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS"),
        "{bad}"
    );
}

#[test]
fn allowed_api_hosts_come_from_the_environment() {
    let get = |value: Option<&'static str>| {
        move |name: &str| (name == "TWEETPIPE_ALLOWED_API_HOSTS").then_some(value?.to_string())
    };
    let hosts = |value| {
        settings::from_env(get(value))
            .map(|s| s.controller.allowed_api_hosts.to_string())
            .map_err(|e| e.to_string())
    };
    let x_api = Ok("https://api.x.com, https://api.twitter.com".to_string());
    assert_eq!(hosts(None), x_api, "unset: the X API");
    assert_eq!(hosts(Some("  ")), x_api, "blank: the X API");
    assert_eq!(
        hosts(Some(
            "https://api.x.com,x-api-simulator.tweetpipe-system:8080"
        )),
        Ok("https://api.x.com, x-api-simulator.tweetpipe-system:8080".to_string())
    );
    let bad = hosts(Some("api.x.com,*.evil.com")).unwrap_err();
    assert!(
        bad.contains("TWEETPIPE_ALLOWED_API_HOSTS") && bad.contains("wildcards are not supported"),
        "{bad}"
    );
}

/// The tenancy policy's settings: defaults that break no existing pipeline (any registry host,
/// the operator's own images, 64 partitions / RF 5 / 90 days), and errors naming the variable.
#[test]
fn tenancy_policy_comes_from_the_environment() {
    let defaults = settings::from_env(env(&[])).unwrap().controller;
    assert!(defaults.allowed_registry_hosts.allows_any());
    let own = &defaults.workers;
    assert!(defaults.allowed_worker_images.allows(&own.extractor_image));
    assert!(
        defaults
            .allowed_worker_images
            .allows(&own.transformer_image)
    );
    assert!(!defaults.allowed_worker_images.allows("busybox:latest"));
    assert_eq!(defaults.kafka_limits.max_partitions, 64);
    assert_eq!(defaults.kafka_limits.max_replication_factor, 5);
    assert_eq!(defaults.kafka_limits.max_retention_hours, 2160);
    assert_eq!(defaults.policy().kafka_limits, defaults.kafka_limits);

    let custom = settings::from_env(env(&[
        ("TWEETPIPE_EXTRACTOR_IMAGE", "local/extractor:dev"),
        ("TWEETPIPE_ALLOWED_REGISTRY_HOSTS", "registry.kafka:8080"),
        (
            "TWEETPIPE_ALLOWED_WORKER_IMAGES",
            "ghcr.io/acme/extractor:*",
        ),
        ("TWEETPIPE_MAX_PARTITIONS", "256"),
        ("TWEETPIPE_MAX_REPLICATION_FACTOR", "3"),
        ("TWEETPIPE_MAX_RETENTION_HOURS", "24"),
    ]))
    .unwrap()
    .controller;
    assert!(
        custom
            .allowed_registry_hosts
            .judge("http://registry.kafka:8080/x")
            .is_ok()
    );
    assert!(
        custom
            .allowed_registry_hosts
            .judge("http://10.0.0.1:8080/x")
            .is_err()
    );
    assert!(custom.allowed_worker_images.allows("local/extractor:dev"));
    assert!(
        custom
            .allowed_worker_images
            .allows("ghcr.io/acme/extractor:2")
    );
    assert_eq!(custom.kafka_limits.max_partitions, 256);
    assert_eq!(custom.kafka_limits.max_replication_factor, 3);
    assert_eq!(custom.kafka_limits.max_retention_hours, 24);

    for (name, value) in [
        ("TWEETPIPE_ALLOWED_REGISTRY_HOSTS", "http://reg/path"),
        ("TWEETPIPE_ALLOWED_WORKER_IMAGES", "ghcr.io/*"),
        ("TWEETPIPE_MAX_PARTITIONS", "0"),
        ("TWEETPIPE_MAX_REPLICATION_FACTOR", "-1"),
        ("TWEETPIPE_MAX_RETENTION_HOURS", "forever"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(vec![(name, value)].into_boxed_slice());
        let err = settings::from_env(env(pairs)).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
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

#[test]
fn a_deep_slow_down_still_leaves_every_query_a_request() {
    let shares = scaling::query_shares(1, 405, 1, 6);
    assert!(shares.iter().all(|a| a.requests_per_window >= 1));
}

#[test]
fn throttle_steps_do_not_roll_the_extractors() {
    let tp = pipeline();
    let rendered = |throttle| {
        let config = worker_config::extractor_config(
            &tp,
            &scaling::query_shares(2, 405, throttle, 3),
            Some(900_000),
        );
        let transformer = worker_config::transformer_config(&tp);
        let r = workloads::render(&config, &transformer).unwrap();
        let sts = workloads::extractor_statefulset(&tp, &defaults(), 3, &r.extractor_restart_key);
        (r.extractor, config_hash(sts))
    };
    let (full, full_hash) = rendered(100);
    let (slowed, slowed_hash) = rendered(73);
    assert_ne!(full, slowed, "the mounted config carries the new shares");
    assert_eq!(
        full_hash, slowed_hash,
        "but the pods are not rolled for them"
    );
}

#[test]
fn operator_instances_split_pipelines_by_label() {
    use crate::labels::instance_selector;
    assert_eq!(instance_selector(None), "!tweetpipe.io/operator-instance");
    assert_eq!(
        instance_selector(Some("e2e-a")),
        "tweetpipe.io/operator-instance=e2e-a"
    );
    let env = |name: &str| (name == "TWEETPIPE_INSTANCE").then(|| "blue".to_string());
    assert_eq!(
        settings::from_env(env).unwrap().instance.as_deref(),
        Some("blue")
    );
}

#[test]
fn operator_kafka_client_uses_its_own_principal_verifies_hosts_and_presents_the_client_certificate()
{
    use crate::reconcile::dependencies::kafka;
    let tp = pipeline_with(|tp| {
        tp.spec.kafka.sasl = Some(scram("kafka-workers", Some("kafka-admin")));
        tp.spec.kafka.tls = Some(client_certificate_tls());
    });
    let mut fetched = fetched_secrets(&[
        ("x-token-a", &[("token", "A")]),
        ("x-token-b", &[("bearer", "B")]),
        ("mysql-admin", &[("url", "mysql://root:pw@db:3306")]),
        ("mysql-reporting", &[("password", "reader")]),
        (
            "kafka-workers",
            &[("username", "tweetpipe"), ("password", "worker-pw")],
        ),
        (
            "kafka-client",
            &[("tls.crt", "CERT PEM"), ("tls.key", "KEY PEM")],
        ),
    ]);
    assert_eq!(
        secrets::resolve_from(&tp.spec, &fetched).unwrap_err(),
        Missing::Secret {
            name: "kafka-admin".into(),
            used_for: "operator's Kafka SASL username"
        },
        "the admin Secret is required once named"
    );
    fetched.extend(fetched_secrets(&[(
        "kafka-admin",
        &[("username", "tweetpipe-admin"), ("password", "admin-pw")],
    )]));
    let resolved = secrets::resolve_from(&tp.spec, &fetched).expect("all present");
    let config = kafka::client_config(&tp.spec.kafka, &resolved, std::time::Duration::from_secs(4));
    assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(config.get("sasl.username"), Some("tweetpipe-admin"));
    assert_eq!(config.get("sasl.password"), Some("admin-pw"));
    assert_eq!(
        config.get("ssl.endpoint.identification.algorithm"),
        Some("https")
    );
    assert_eq!(config.get("ssl.ca.location"), Some("probe"));
    assert_eq!(config.get("ssl.certificate.pem"), Some("CERT PEM"));
    assert_eq!(config.get("ssl.key.pem"), Some("KEY PEM"));
    let rendered = format!("{config:?}");
    assert!(!rendered.contains("admin-pw"), "{rendered}");

    // A rotated client key makes a new client (the cache's fingerprint covers it).
    let before = crate::reconcile::clients::fingerprint(&resolved.kafka_credentials());
    fetched.extend(fetched_secrets(&[(
        "kafka-client",
        &[("tls.crt", "CERT PEM"), ("tls.key", "NEW KEY PEM")],
    )]));
    let rotated = secrets::resolve_from(&tp.spec, &fetched).expect("all present");
    assert_ne!(
        before,
        crate::reconcile::clients::fingerprint(&rotated.kafka_credentials())
    );

    // Without an admin Secret, the workers' credentials serve the operator too.
    let shared = pipeline_with(|t| {
        t.spec.kafka = tp.spec.kafka.clone();
        if let Some(sasl) = t.spec.kafka.sasl.as_mut() {
            sasl.admin_secret_name = None;
        }
    });
    let resolved = secrets::resolve_from(&shared.spec, &fetched).expect("all present");
    let config = kafka::client_config(
        &shared.spec.kafka,
        &resolved,
        std::time::Duration::from_secs(4),
    );
    assert_eq!(config.get("sasl.username"), Some("tweetpipe"));
}

/// `TWEETPIPE_WATCH_NAMESPACE` takes one namespace or a comma-separated list (the chart's
/// `watchNamespaces`); empty means every namespace; a name Kubernetes would refuse is an error
/// naming it.
#[test]
fn watch_namespaces_are_a_list_of_namespace_names() {
    let read = |value: &'static str| {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([("TWEETPIPE_WATCH_NAMESPACE", value)]));
        settings::from_env(env(pairs)).map(|s| s.watch_namespaces)
    };
    let cases: [(&str, &[&str]); 5] = [
        ("", &[]),
        ("tweets", &["tweets"]),
        ("team-a, team-b,team-a", &["team-a", "team-b"]),
        (" tweets ,", &["tweets"]),
        ("a1,b-2", &["a1", "b-2"]),
    ];
    for (value, expected) in cases {
        assert_eq!(read(value).expect(value), expected, "{value:?}");
    }
    assert_eq!(
        settings::from_env(env(&[])).map(|s| s.watch_namespaces),
        Ok(Vec::new())
    );
    for bad in ["Tweets", "team_a", "-a", "a-", "a b", &"x".repeat(64)] {
        let value: &'static str = Box::leak(bad.to_owned().into_boxed_str());
        let error = read(value).expect_err(bad).to_string();
        assert!(error.contains("TWEETPIPE_WATCH_NAMESPACE"), "{error}");
        assert!(error.contains("is not one"), "{error}");
    }
}
