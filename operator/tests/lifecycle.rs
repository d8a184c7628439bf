//! End-to-end tests of the operator's life at rest and in deletion, on the local platform: a
//! settled pipeline costs almost nothing, and `deletionPolicy: Delete` leaves nothing behind in
//! whatever order things are deleted.

mod e2e {
    pub mod support;
}

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret};
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use sqlx::Connection;
use tweetpipe_operator::crd::{DeletionPolicy, TweetPipeline};
use tweetpipe_operator::labels::{Component, object_name, writer_account_name};

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

/// A Delete pipeline whose topics, database and accounts exist (in an [`operated_namespace`]).
async fn provisioned(client: &kube::Client, ns: &TestNamespace, name: &str) -> TweetPipeline {
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
    let operator = Operator::solo(
        &ns.name,
        "solo",
        vec![("TWEETPIPE_REQUEUE_SECONDS", "60".into())],
    );
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
    let (client, ns, _operator) = operated_namespace("nsdel").await;
    let tp = provisioned(&client, &ns, "nsdel").await;
    // The namespace controller deletes the Secrets and the pipeline together; the Secrets must
    // stay readable until the pipeline's cleanup is done.
    Api::<Namespace>::all(client.clone())
        .delete(&ns.name, &DeleteParams::background())
        .await
        .expect("delete namespace");
    wait_gone("the pipeline to be gone", &client, &ns.name, "nsdel").await;
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
    let (client, ns, _operator) = operated_namespace("fdel").await;
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
    wait_gone("the pipeline to be gone", &client, &ns.name, "fdel").await;
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

#[tokio::test(flavor = "multi_thread")]
async fn without_the_webhook_an_invalid_query_is_a_condition_in_xs_words() {
    let (client, ns, _operator) = operated_namespace("qv").await;
    let mut tp = pipeline(&ns, "qv");
    // CEL cannot parse queries, so this passes the API server when no webhook is installed.
    tp.spec.source.queries[0].query = "(covid OR flu lang:en".into();
    create(&client, &tp).await;
    let condition = ns.wait_false("qv", "QueriesValid", "QueryInvalid").await;
    assert!(
        condition.message.contains("spec.source.queries[0].query")
            && condition.message.contains("parentheses"),
        "{}",
        condition.message
    );
    ns.wait_false("qv", "Ready", "QueryInvalid").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reporting_user_that_is_the_admin_is_refused() {
    let (client, ns, _operator) = operated_namespace("adm").await;
    // An administrator other than root, so the CRD's "not root" rule does not catch it first.
    let admin = format!("adm_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut conn = admin_connection().await;
    for statement in [
        format!("CREATE USER '{admin}'@'%' IDENTIFIED BY 'adminpw1'"),
        format!("GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .expect("admin account");
    }
    let pod_url = &platform().mysql_url_pod;
    let server = pod_url.rsplit('@').next().expect("URL has a host");
    put_secret(
        &client,
        &ns.name,
        "mysql-admin",
        "url",
        &format!("mysql://{admin}:adminpw1@{server}"),
    )
    .await;
    let mut tp = pipeline(&ns, "adm");
    tp.spec
        .mysql
        .reporting_user
        .as_mut()
        .expect("fixture has one")
        .name = admin.clone();
    create(&client, &tp).await;
    let condition = ns.wait_false("adm", "MySQLReady", "AccountRefused").await;
    assert_message_has(&condition, &admin, "names the administrator");
    // The admin's password was not touched: it still logs in.
    let still = sqlx::mysql::MySqlConnection::connect(&format!(
        "mysql://{admin}:adminpw1@{}",
        platform().mysql_url.rsplit('@').next().expect("host")
    ))
    .await;
    assert!(still.is_ok(), "the admin account still works");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS '{admin}'@'%'"
    )))
    .execute(&mut conn)
    .await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{}`",
        tp.spec.mysql.database
    )))
    .execute(&mut conn)
    .await;
}

/// Tokens go only to allowed hosts, whenever the list changes: a pipeline admitted and running
/// while its simulator was allowed loses its extractors (and their mounted tokens) once the
/// operator's list no longer names the host, with a Warning saying which host and how to allow
/// it. (The webhook's refusal at admission is in tests/webhook.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn a_base_url_off_the_allow_list_gets_no_extractor_even_after_admission() {
    let (client, ns) = namespace_with_secrets("host").await;
    let mut allowing = Operator::for_namespace(&ns.name);
    let tp = pipeline(&ns, "host");
    create(&client, &tp).await;
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let extractor = object_name(&tp, Component::Extractor);
    let replicas = || async {
        statefulsets
            .get_opt(&extractor)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.spec?.replicas)
    };
    wait_for("extractors while the simulator is allowed", || async {
        replicas().await.filter(|r| *r > 0)
    })
    .await;
    allowing.kill();

    let narrowed_hosts = vec![("TWEETPIPE_ALLOWED_API_HOSTS", "https://api.x.com".into())];
    let _narrowed = Operator::solo(&ns.name, "narrowed", narrowed_hosts);
    let ready = ns.wait_false("host", "Ready", "ApiHostNotAllowed").await;
    let host = format!("http://x-api-simulator.{}.svc:8080", ns.name);
    assert!(
        ready.message.contains(&host)
            && ready.message.contains("allowed: https://api.x.com")
            && ready.message.contains("allowedApiServices"),
        "{}",
        ready.message
    );
    wait_for("the extractors to be scaled to zero", || async {
        (replicas().await == Some(0)).then_some(())
    })
    .await;
    let status = get(&client, &ns.name, "host")
        .await
        .and_then(|tp| tp.status)
        .expect("status");
    assert_eq!(status.extractor.cap_reason, "ApiHostNotAllowed");
    assert_eq!(status.extractor.requests_per_window_in_use, 0);

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    wait_for("no extractor pod to hold a token", || async {
        let all = pods.list(&Default::default()).await.ok()?;
        let left = all
            .items
            .iter()
            .filter(|p| p.name_any().starts_with(&extractor))
            .count();
        (left == 0).then_some(())
    })
    .await;

    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let warning = wait_for("a Warning event naming the host", || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("ApiHostNotAllowed")
                && e.type_.as_deref() == Some("Warning")
                && e.involved_object.name.as_deref() == Some("host")
        })
    })
    .await;
    assert!(
        warning.message.unwrap_or_default().contains(&host),
        "the event names the host"
    );
}
