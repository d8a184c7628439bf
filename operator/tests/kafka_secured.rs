//! End to end over the platform Kafka's SASL_SSL listener (SCRAM-SHA-512, the platform's Kafka
//! CA): a pipeline whose workers authenticate as `tweetpipe` and whose operator authenticates as
//! `tweetpipe-admin` (`kafka.sasl.adminSecretName`) reaches Ready and stores posts; a wrong
//! password, a wrong CA and an unknown host each become a `KafkaReady=False` condition whose
//! reason and message say which, with no secret in them.

mod e2e {
    pub mod support;
}

use kube::Client;
use tweetpipe_operator::crd::{KafkaSasl, KafkaTls, SaslMechanism, SecretKeyRef, TweetPipeline};
use tweetpipe_testkit::SecureKafka;

use e2e::support::*;

const WORKERS_SECRET: &str = "kafka-workers";
const ADMIN_SECRET: &str = "kafka-admin";
const CA_SECRET: &str = "kafka-ca";

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Username and password of one SCRAM user, as a Secret with keys `username` and `password`.
async fn put_user_secret(client: &Client, ns: &str, name: &str, username: &str, password: &str) {
    put_secret(client, ns, name, "username", username.trim()).await;
    put_secret(client, ns, name, "password", password.trim()).await;
}

/// The Secrets of a secured pipeline: the workers' and the operator's SCRAM users, the CA.
async fn put_kafka_secrets(client: &Client, ns: &str, kafka: &SecureKafka) {
    for (secret, username, password) in [
        (WORKERS_SECRET, &kafka.username_file, &kafka.password_file),
        (
            ADMIN_SECRET,
            &kafka.admin_username_file,
            &kafka.admin_password_file,
        ),
    ] {
        put_user_secret(client, ns, secret, &read(username), &read(password)).await;
    }
    put_secret(client, ns, CA_SECRET, "ca.crt", &read(&kafka.ca_file)).await;
}

/// The fixture pipeline on the SASL_SSL listener, as pods reach it.
fn secured_pipeline(ns: &TestNamespace, name: &str, kafka: &SecureKafka) -> TweetPipeline {
    let mut tp = pipeline(ns, name);
    tp.spec.kafka.bootstrap_servers = kafka.bootstrap_pod.clone();
    tp.spec.kafka.tls = Some(KafkaTls {
        ca_secret: Some(SecretKeyRef {
            name: CA_SECRET.into(),
            key: "ca.crt".into(),
        }),
        ..KafkaTls::default()
    });
    tp.spec.kafka.sasl = Some(KafkaSasl {
        mechanism: SaslMechanism::ScramSha512,
        secret_name: WORKERS_SECRET.into(),
        username_key: "username".into(),
        password_key: "password".into(),
        admin_secret_name: Some(ADMIN_SECRET.into()),
    });
    tp
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_over_sasl_ssl_becomes_ready_and_stores_posts() {
    let kafka = platform().require_secure_kafka();
    let (client, ns, _operator) = operated_namespace("sasl").await;
    put_kafka_secrets(&client, &ns.name, &kafka).await;
    deploy_simulator(&client, &ns.name).await;
    let mut tp = secured_pipeline(&ns, "secured", &kafka);
    tp.spec.source.tokens.truncate(1);
    create(&client, &tp).await;

    wait_condition(&client, &ns.name, "secured", "KafkaReady", "True", None).await;
    wait_condition(&client, &ns.name, "secured", "Ready", "True", None).await;
    let database = tp.spec.mysql.database.clone();
    let posts = wait_for_stored_posts(
        "posts in MariaDB, written by a transformer over SASL_SSL",
        &database,
    )
    .await;
    assert!(posts > 0);
    // The topics exist on the shared broker (made by the operator over SASL_SSL).
    let topic = tp.spec.kafka.topic.clone();
    assert_eq!(
        existing_topics(std::slice::from_ref(&topic)),
        vec![topic],
        "the operator created the posts topic"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_ca_or_host_each_become_a_condition_naming_it() {
    let kafka = platform().require_secure_kafka();
    let (client, ns, _operator) = operated_namespace("saslbad").await;
    put_kafka_secrets(&client, &ns.name, &kafka).await;
    let name = "secured";
    create(&client, &secured_pipeline(&ns, name, &kafka)).await;
    wait_condition(&client, &ns.name, name, "KafkaReady", "True", None).await;

    let passwords = [
        read(&kafka.password_file).trim().to_string(),
        read(&kafka.admin_password_file).trim().to_string(),
    ];
    let wrong_password = "not-the-password-4711";
    // Waits for KafkaReady False with `reason`; its message must contain `phrase` and no secret.
    let expect_failure = |case: &'static str, reason: &'static str, phrase: &'static str| {
        let (client, ns) = (client.clone(), ns.name.clone());
        let secrets: Vec<String> = passwords
            .iter()
            .cloned()
            .chain([wrong_password.to_string()])
            .collect();
        async move {
            let condition =
                wait_condition(&client, &ns, name, "KafkaReady", "False", Some(reason)).await;
            let message = &condition.message;
            eprintln!("{case}: {message}");
            assert!(message.contains(phrase), "{case}: {message}");
            for secret in &secrets {
                assert!(
                    !message.contains(secret.as_str()),
                    "{case}: a password leaked into the condition: {message}"
                );
            }
            assert!(
                !message.contains("BEGIN"),
                "{case}: PEM in the condition: {message}"
            );
        }
    };

    // 1. The operator's password is wrong.
    put_secret(&client, &ns.name, ADMIN_SECRET, "password", wrong_password).await;
    expect_failure(
        "wrong password",
        "KafkaAuthenticationFailed",
        "refused the SASL credentials",
    )
    .await;
    put_kafka_secrets(&client, &ns.name, &kafka).await;
    wait_condition(&client, &ns.name, name, "KafkaReady", "True", None).await;

    // 2. The CA is another one than the broker's.
    let other_ca = tweetpipe_testkit::files::temp_dir("other-kafka-ca");
    let status = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../dev/platform/pki.sh"
        ))
        .arg("kafka")
        .arg(&other_ca)
        .status()
        .expect("pki.sh");
    assert!(status.success(), "pki.sh kafka made a second CA");
    put_secret(
        &client,
        &ns.name,
        CA_SECRET,
        "ca.crt",
        &read(&other_ca.join("ca.crt")),
    )
    .await;
    expect_failure(
        "wrong CA",
        "KafkaCertificateUntrusted",
        "certificate is not trusted",
    )
    .await;
    std::fs::remove_dir_all(&other_ca).ok();
    put_kafka_secrets(&client, &ns.name, &kafka).await;
    wait_condition(&client, &ns.name, name, "KafkaReady", "True", None).await;

    // 3. The bootstrap host does not resolve.
    let port = kafka.bootstrap_pod.rsplit(':').next().expect("port");
    patch_spec(
        &client,
        &ns.name,
        name,
        serde_json::json!({"kafka": {"bootstrapServers": format!("no-such-kafka.invalid:{port}")}}),
    )
    .await;
    expect_failure("unknown host", "KafkaHostUnknown", "no-such-kafka.invalid").await;
    // Ready says why too.
    ns.wait_false(name, "Ready", "KafkaHostUnknown").await;
}

/// The acceptance case in one pipeline: Kafka over SASL_SSL with SCRAM-SHA-512 and MySQL
/// over TLS only (`mysql.tls` verify-identity against the platform MariaDB's CA; the writer and
/// reporting accounts `REQUIRE SSL`), Ready with posts stored.
#[tokio::test(flavor = "multi_thread")]
async fn pipeline_over_sasl_ssl_and_tls_only_mysql_stores_posts() {
    use sqlx::Connection;

    let kafka = platform().require_secure_kafka();
    let mysql_ca = platform().require_mysql_ca_file();
    let (client, ns, _operator) = operated_namespace("secured").await;
    put_kafka_secrets(&client, &ns.name, &kafka).await;
    put_secret(&client, &ns.name, "mysql-ca", "ca.crt", &read(&mysql_ca)).await;
    deploy_simulator(&client, &ns.name).await;
    let mut tp = secured_pipeline(&ns, "both", &kafka);
    tp.spec.source.tokens.truncate(1);
    verify_mysql_identity(&mut tp);
    create(&client, &tp).await;

    wait_condition(&client, &ns.name, "both", "KafkaReady", "True", None).await;
    wait_condition(&client, &ns.name, "both", "MySQLReady", "True", None).await;
    wait_condition(&client, &ns.name, "both", "Ready", "True", None).await;
    let database = tp.spec.mysql.database.clone();
    let posts = wait_for_stored_posts("posts stored over SASL_SSL and TLS", &database).await;
    assert!(posts > 0);

    // The pipeline's accounts accept TLS connections only.
    let writer = tweetpipe_operator::labels::writer_account_name(&tp);
    let reporting = tp
        .spec
        .mysql
        .reporting_user
        .as_ref()
        .expect("fixture has a reporting user")
        .name
        .clone();
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .expect("MariaDB");
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT User, CAST(ssl_type AS CHAR) FROM mysql.user WHERE User IN (?, ?) ORDER BY User",
    )
    .bind(&reporting)
    .bind(&writer)
    .fetch_all(&mut conn)
    .await
    .expect("accounts");
    assert_eq!(kinds.len(), 2, "writer and reporting account: {kinds:?}");
    assert!(
        kinds.iter().all(|(_, kind)| kind == "ANY"),
        "both REQUIRE SSL: {kinds:?}"
    );
}
