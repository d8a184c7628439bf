//! End-to-end tests of the operator's life at rest and in deletion, on the local platform: a
//! settled pipeline costs almost nothing, and `deletionPolicy: Delete` leaves nothing behind in
//! whatever order things are deleted.

mod e2e {
    pub mod support;
}

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use sqlx::Connection;
use tweetpipe_operator::crd::{DeletionPolicy, TweetPipeline};
use tweetpipe_operator::labels::writer_account_name;

use e2e::support::*;

async fn admin_connection() -> sqlx::mysql::MySqlConnection {
    sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .expect("MariaDB")
}

async fn account_exists(user: &str) -> bool {
    let mut conn = admin_connection().await;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mysql.user WHERE User = ?")
        .bind(user)
        .fetch_one(&mut conn)
        .await
        .expect("mysql.user");
    count > 0
}

fn topics(tp: &TweetPipeline) -> Vec<String> {
    let t = &tp.spec.kafka.topic;
    vec![t.clone(), format!("{t}.checkpoints"), format!("{t}.dlq")]
}

fn counter(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A Delete pipeline whose topics, database and accounts exist.
async fn provisioned(client: &kube::Client, ns: &TestNamespace, name: &str) -> TweetPipeline {
    put_pipeline_secrets(client, &ns.name).await;
    let mut tp = pipeline(ns, name);
    tp.spec.deletion_policy = DeletionPolicy::Delete;
    create(client, &tp).await;
    wait_condition(client, &ns.name, name, "KafkaReady", "True", None).await;
    wait_condition(client, &ns.name, name, "MySQLReady", "True", None).await;
    assert_eq!(existing_topics(&topics(&tp)).len(), 3);
    assert!(database_exists(&tp.spec.mysql.database).await);
    assert!(
        account_exists(&writer_account_name(&tp)).await,
        "writer account made"
    );
    tp
}

async fn assert_nothing_left(tp: &TweetPipeline) {
    wait_for("the topics to be deleted", || async {
        existing_topics(&topics(tp)).is_empty().then_some(())
    })
    .await;
    assert!(
        !database_exists(&tp.spec.mysql.database).await,
        "the database is dropped"
    );
    assert!(
        !account_exists(&writer_account_name(tp)).await,
        "the writer account is dropped"
    );
    let reporting = &tp
        .spec
        .mysql
        .reporting_user
        .as_ref()
        .expect("fixture has one")
        .name;
    assert!(
        !account_exists(reporting).await,
        "the reporting user is dropped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_pipeline_rests_and_its_writer_cannot_change_the_schema() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "rest").await;
    // Production refresh interval: what "at rest" costs for real.
    let operator = Operator::start(OperatorOptions {
        namespace: &ns.name,
        identity: "solo",
        leader_election: false,
        lease_name: "unused",
        env: vec![("TWEETPIPE_REQUEUE_SECONDS", "60".into())],
    });
    put_pipeline_secrets(&client, &ns.name).await;
    deploy_simulator(&client, &ns.name).await;
    let mut tp = pipeline(&ns, "rest");
    tp.spec.source.tokens.truncate(1);
    create(&client, &tp).await;
    wait_condition(&client, &ns.name, "rest", "Ready", "True", None).await;
    wait_for("posts collected", || async {
        let status = get(&client, &ns.name, "rest").await?.status?;
        (status.posts_total > 0).then_some(())
    })
    .await;

    // Extractors keep polling and writing checkpoints; status writes follow. None of that may
    // wake the controller: at most the refresh interval's reconciles in a minute.
    let before = counter(
        &operator.metrics().await.expect("metrics"),
        "tweetpipe_operator_reconciles_total",
    )
    .expect("reconcile counter");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = counter(
        &operator.metrics().await.expect("metrics"),
        "tweetpipe_operator_reconciles_total",
    )
    .expect("reconcile counter");
    let status = get(&client, &ns.name, "rest").await.and_then(|t| t.status);
    assert!(
        after - before <= 2.0,
        "a Ready pipeline reconciled {} times in 60 s (status: {status:?})",
        after - before
    );

    // The transformers' account may write rows but never change the schema.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let secret = secrets
        .get("rest-transformer-mysql")
        .await
        .expect("writer Secret");
    let url = String::from_utf8(secret.data.expect("data")["url"].0.clone()).expect("utf-8");
    assert!(
        url.contains(&writer_account_name(&tp)),
        "transformers use the writer account"
    );
    let mut writer = sqlx::mysql::MySqlConnection::connect(&url)
        .await
        .expect("writer connects");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posts")
        .fetch_one(&mut writer)
        .await
        .expect("writer reads posts");
    assert!(count > 0);
    for statement in [
        "CREATE TABLE intruder (id INT)",
        "DROP TABLE posts",
        "ALTER TABLE posts ADD COLUMN x INT",
    ] {
        let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut writer)
            .await;
        assert!(refused.is_err(), "the writer ran {statement}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_deletion_still_deletes_topics_database_and_accounts() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "nsdel").await;
    let _operator = Operator::for_namespace(&ns.name);
    let tp = provisioned(&client, &ns, "nsdel").await;
    // The namespace controller deletes the Secrets and the pipeline together; the Secrets must
    // stay readable until the pipeline's cleanup is done.
    Api::<Namespace>::all(client.clone())
        .delete(&ns.name, &DeleteParams::background())
        .await
        .expect("delete namespace");
    wait_for("the pipeline to be gone", || async {
        get(&client, &ns.name, "nsdel")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert_nothing_left(&tp).await;
    wait_for("the namespace to be gone", || async {
        Api::<Namespace>::all(client.clone())
            .get_opt(&ns.name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_manifest_with_its_secrets_still_cleans_up() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "fdel").await;
    let _operator = Operator::for_namespace(&ns.name);
    let tp = provisioned(&client, &ns, "fdel").await;
    // `kubectl delete -f` on a file listing the Secrets first.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    for name in ["x-token-a", "x-token-b", "mysql-admin", "mysql-reporting"] {
        let _ = secrets.delete(name, &DeleteParams::default()).await;
    }
    Api::<TweetPipeline>::namespaced(client.clone(), &ns.name)
        .delete("fdel", &DeleteParams::default())
        .await
        .expect("delete pipeline");
    wait_for("the pipeline to be gone", || async {
        get(&client, &ns.name, "fdel").await.is_none().then_some(())
    })
    .await;
    assert_nothing_left(&tp).await;
    wait_for("the Secrets to be let go", || async {
        let left = secrets.list(&Default::default()).await.ok()?;
        let ours = left
            .items
            .iter()
            .filter(|s| !s.name_any().ends_with("-transformer-mysql"))
            .count();
        (ours == 0).then_some(())
    })
    .await;
}
