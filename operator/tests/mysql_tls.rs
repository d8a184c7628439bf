//! End to end on the local platform: a pipeline whose MySQL is reached over TLS only
//! (`spec.mysql.tls`, accounts `REQUIRE SSL`). The MySQL server is a private MariaDB with the
//! platform's TLS settings, listening on the pod bridge address (`mariadb.sh private … pods`), so
//! the shared server is untouched. Needs a transformer image with TLS support:
//! `E2E_TRANSFORMER_IMAGE` (see docs/mysql-tls.md).

mod e2e {
    pub mod support;
}

use k8s_openapi::api::apps::v1::Deployment;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Connection};
use tweetpipe_testkit::private_mysql::{PrivateTlsMariaDb, unrelated_ca_file};

use e2e::support::*;
use tweetpipe_operator::build::workloads::SECRETS_HASH_ANNOTATION;

const ROOT_PASSWORD: &str = "tls-e2e-root";

/// The pod bridge address, from the platform's pod URL of MariaDB.
fn node_ip() -> String {
    let url: MySqlConnectOptions = platform()
        .mysql_url_pod
        .parse()
        .unwrap_or_else(|e| panic!("TWEETPIPE_MYSQL_URL_POD: {e}"));
    url.get_host().to_owned()
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The secrets hash on the transformer Deployment's pod template, once it exists.
async fn transformer_secrets_hash(client: &kube::Client, namespace: &str) -> Option<String> {
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(client.clone(), namespace);
    let deployment = deployments.get_opt("covid-transformer").await.ok()??;
    deployment
        .spec?
        .template
        .metadata?
        .annotations?
        .remove(SECRETS_HASH_ANNOTATION)
}

/// Waits for the pipeline's `MySQLReady=False` with `reason`; its message must say `phrase` and
/// never the root password.
async fn refused_saying(ns: &TestNamespace, reason: &str, phrase: &str) {
    let condition = ns.wait_false("covid", "MySQLReady", reason).await;
    let message = &condition.message;
    assert!(message.contains(phrase), "{reason}: {message}");
    assert!(!message.contains(ROOT_PASSWORD), "{reason}: {message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_only_mysql_pipeline_reaches_ready_and_wrong_ca_host_or_password_are_conditions() {
    let server = tokio::task::spawn_blocking(PrivateTlsMariaDb::start_for_pods)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    server.create_remote_root(ROOT_PASSWORD).await;
    let (client, ns, _operator) = operated_namespace("mysqltls").await;
    let admin_url = format!("mysql://root:{ROOT_PASSWORD}@{}:{}", node_ip(), server.port);
    put_secret(&client, &ns.name, "mysql-admin", "url", &admin_url).await;
    let wrong_ca = unrelated_ca_file();
    put_secret(&client, &ns.name, "mysql-ca", "ca.crt", &read(&wrong_ca)).await;
    deploy_simulator(&client, &ns.name).await;
    let mut tp = pipeline(&ns, "covid");
    tp.spec.source.tokens.truncate(1);
    verify_mysql_identity(&mut tp);
    create(&client, &tp).await;

    // The wrong CA: a condition that says so, without the URL or its password.
    refused_saying(
        &ns,
        "MySQLCertificateUntrusted",
        "not signed by the configured CA",
    )
    .await;

    // The transformers started with the wrong CA and read it once: the rotation must roll them.
    let before = wait_for("the transformer Deployment's secrets hash", || {
        transformer_secrets_hash(&client, &ns.name)
    })
    .await;

    // The right CA: the transformers roll, then Ready, posts stored, over TLS only.
    put_secret(
        &client,
        &ns.name,
        "mysql-ca",
        "ca.crt",
        &read(&server.ca_file()),
    )
    .await;
    let after = wait_for(
        "a new secrets hash on the transformers after the CA rotation",
        || {
            let (client, before) = (client.clone(), before.clone());
            let namespace = ns.name.clone();
            async move {
                let now = transformer_secrets_hash(&client, &namespace).await?;
                (now != before).then_some(now)
            }
        },
    )
    .await;
    assert_ne!(after, before);
    wait_condition(&client, &ns.name, "covid", "Ready", "True", None).await;
    let database = tp.spec.mysql.database.clone();
    let verified = server
        .root_options()
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca(server.ca_file());
    let posts = wait_for("posts in the TLS MariaDB", || {
        let (database, verified) = (database.clone(), verified.clone());
        async move {
            let mut conn = verified.connect().await.ok()?;
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM `{database}`.posts"
            )))
            .fetch_one(&mut conn)
            .await
            .ok()?;
            let _ = conn.close().await;
            (count > 0).then_some(count)
        }
    })
    .await;
    assert!(posts > 0);

    // Both accounts are REQUIRE SSL (ssl_type ANY).
    let mut conn = verified.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let reporting = &tp.spec.mysql.reporting_user.as_ref().expect("fixture").name;
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT User, CAST(ssl_type AS CHAR) FROM mysql.user WHERE User = ? OR User LIKE 'tpw\\_%'",
    )
    .bind(reporting)
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds.len(), 2, "writer and reporting user: {kinds:?}");
    assert!(kinds.iter().all(|(_, t)| t == "ANY"), "{kinds:?}");
    let _ = conn.close().await;

    // The transformer pods mount the CA.
    let transformer = component_pods(&client, &ns.name, "covid", "transformer")
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no transformer pod"));
    let spec = transformer.spec.unwrap_or_default();
    assert!(
        spec.volumes
            .unwrap_or_default()
            .iter()
            .any(|v| v.name == "mysql-ca"),
        "the transformer pod mounts the CA"
    );

    // A host the certificate does not name (the operator runs on this machine, where the
    // server also listens on 127.0.0.2): its own reason.
    let unnamed_url = format!(
        "mysql://root:{ROOT_PASSWORD}@{}:{}",
        tweetpipe_testkit::private_mysql::UNNAMED_HOST,
        server.port
    );
    put_secret(&client, &ns.name, "mysql-admin", "url", &unnamed_url).await;
    refused_saying(&ns, "MySQLHostNotOnCertificate", "does not name the host").await;

    // A wrong password: access denied (not "unreachable"), the server's words, no password.
    let wrong_password = format!(
        "mysql://root:not-{ROOT_PASSWORD}@{}:{}",
        node_ip(),
        server.port
    );
    put_secret(&client, &ns.name, "mysql-admin", "url", &wrong_password).await;
    refused_saying(&ns, "MySQLAccessDenied", "Access denied").await;
    if let Some(dir) = wrong_ca.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
