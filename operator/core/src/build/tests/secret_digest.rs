//! `build::secret_digest`: a rotated Secret rolls exactly the pods that mount it, and nothing
//! else moves their digest.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{PodTemplateSpec, Secret};

use crate::build::resources::{self, BuildInputs};
use crate::build::workloads::{self, SECRETS_HASH_ANNOTATION};
use crate::crd::{MySqlTls, TweetPipeline};
use crate::decide::plan;
use crate::fixtures::{fetched_secrets, observed, pipeline_with, scram, secret_key};

use super::defaults;

/// The fixture with every kind of mounted Secret: tokens, Kafka SASL and CA, the MySQL CA.
fn secured() -> TweetPipeline {
    pipeline_with(|tp| {
        tp.spec.kafka.sasl = Some(scram("kafka-user", None));
        tp.spec.kafka.tls = Some(crate::crd::KafkaTls {
            ca_secret: secret_key("kafka-ca", "ca.crt"),
            client_certificate_secret: None,
            client_key_secret: None,
        });
        tp.spec.mysql.tls = Some(MySqlTls {
            ca_secret: secret_key("mysql-ca", "ca.crt"),
            mode: Default::default(),
        });
    })
}

/// Every Secret `secured()` references, each with one key the pods do not mount.
fn observed_secrets() -> BTreeMap<String, Option<Secret>> {
    fetched_secrets(&[
        ("x-token-a", &[("token", "AAAA"), ("note", "n")]),
        ("x-token-b", &[("bearer", "BBBB")]),
        ("kafka-user", &[("username", "u"), ("password", "p")]),
        ("kafka-ca", &[("ca.crt", "KAFKA CA")]),
        ("mysql-ca", &[("ca.crt", "MYSQL CA"), ("ca.key", "K")]),
        ("mysql-admin", &[("url", "mysql://root:r@db:3306")]),
        ("mysql-reporting", &[("password", "rp")]),
    ])
}

fn digest_of(template: &PodTemplateSpec) -> String {
    template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()[SECRETS_HASH_ANNOTATION]
        .clone()
}

/// The pipeline's objects built from `secrets` and the writer's password (which the
/// transformers read inside their URL).
fn built(
    tp: &TweetPipeline,
    secrets: &BTreeMap<String, Option<Secret>>,
    writer_password: &str,
) -> (PodTemplateSpec, PodTemplateSpec) {
    let writer_url = format!("mysql://w:{writer_password}@db:3306/tweets_covid19");
    let inputs = BuildInputs {
        defaults: &defaults(),
        writer_url: &writer_url,
        writer_password,
        secrets,
    };
    let built = resources::resources(tp, &plan::plan(tp, &observed()), inputs).unwrap();
    (
        built.statefulset.spec.unwrap().template,
        built.deployment.spec.unwrap().template,
    )
}

/// The (extractor, transformer) digests of [`built`].
fn digests(
    tp: &TweetPipeline,
    secrets: &BTreeMap<String, Option<Secret>>,
    writer_password: &str,
) -> (String, String) {
    let (extractor, transformer) = built(tp, secrets, writer_password);
    (digest_of(&extractor), digest_of(&transformer))
}

/// `observed_secrets()` with key `key` of Secret `name` set to `value`.
fn with(name: &str, key: &str, value: &str) -> BTreeMap<String, Option<Secret>> {
    let mut secrets = observed_secrets();
    let data = secrets
        .get_mut(name)
        .and_then(Option::as_mut)
        .and_then(|s| s.data.as_mut())
        .unwrap();
    data.insert(key.into(), ByteString(value.as_bytes().to_vec()));
    secrets
}

#[test]
fn a_rotated_secret_rolls_the_pods_that_mount_it_and_only_those() {
    let tp = secured();
    let (extractor, transformer) = digests(&tp, &observed_secrets(), "w");
    assert_eq!(
        (extractor.clone(), transformer.clone()),
        digests(&tp, &observed_secrets(), "w"),
        "the same Secrets give the same digests (no roll at every reconcile)"
    );
    // Which of (extractor, transformer) each change rolls.
    let rolls = |secrets, writer_password| {
        let (e, t) = digests(&tp, &secrets, writer_password);
        (e != extractor, t != transformer)
    };
    let token = with("x-token-b", "bearer", "B2");
    assert_eq!(rolls(token, "w"), (true, false), "a token");
    let sasl = with("kafka-user", "password", "p2");
    assert_eq!(rolls(sasl, "w"), (true, true), "the Kafka SASL password");
    let kafka_ca = with("kafka-ca", "ca.crt", "NEW CA");
    assert_eq!(rolls(kafka_ca, "w"), (true, true), "the Kafka CA");
    let mysql_ca = with("mysql-ca", "ca.crt", "NEW CA");
    assert_eq!(rolls(mysql_ca, "w"), (false, true), "the MySQL CA");
    let same = observed_secrets();
    assert_eq!(rolls(same, "w2"), (false, true), "the writer's password");
    let unmounted = with("mysql-ca", "ca.key", "K2");
    assert_eq!(rolls(unmounted, "w"), (false, false), "a key no pod mounts");
    let admin = with("mysql-admin", "url", "mysql://x");
    assert_eq!(
        rolls(admin, "w"),
        (false, false),
        "the admin URL (the operator's)"
    );
    let reporting = with("mysql-reporting", "password", "rp2");
    assert_eq!(
        rolls(reporting, "w"),
        (false, false),
        "the reporting password"
    );
}

#[test]
fn an_absent_secret_digests_apart_from_an_empty_value() {
    let tp = secured();
    let mut absent = observed_secrets();
    absent.insert("mysql-ca".into(), None);
    let empty = with("mysql-ca", "ca.crt", "");
    assert_ne!(digests(&tp, &absent, "w").1, digests(&tp, &empty, "w").1);
}

#[test]
fn the_digest_lists_every_secret_key_the_pods_mount_and_never_a_value() {
    let tp = secured();
    let (extractor, transformer) = built(&tp, &observed_secrets(), "w");
    let pair = |name: &str, key: &str| (name.to_string(), key.to_string());
    let kafka = [
        pair("kafka-user", "username"),
        pair("kafka-user", "password"),
        pair("kafka-ca", "ca.crt"),
    ];
    let mut expected_extractor = vec![pair("x-token-a", "token"), pair("x-token-b", "bearer")];
    expected_extractor.extend(kafka.clone());
    let mut expected_transformer = vec![
        pair("covid19-transformer-mysql", "url"),
        pair("mysql-ca", "ca.crt"),
    ];
    expected_transformer.extend(kafka);
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(workloads::mounted_secret_keys(&extractor)),
        sorted(expected_extractor)
    );
    assert_eq!(
        sorted(workloads::mounted_secret_keys(&transformer)),
        sorted(expected_transformer)
    );
    let digest = digest_of(&transformer);
    assert_eq!(digest.len(), 16, "64 bits, hex");
    assert!(!digest.contains("MYSQL") && digest.chars().all(|c| c.is_ascii_hexdigit()));
}
