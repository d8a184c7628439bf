//! The migrations and the reporting user, on real MariaDB.

mod support;

use sqlx::mysql::MySqlPool;
use support::*;
use tweetpipe_transformer::schema::{SchemaError, check_migrated, ensure_reporting_user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_twice_as_a_no_op_and_the_version_check_sees_them() {
    let db = TestDb::create("tp_t_schema").await;
    let tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()";
    let before = db.count(tables).await;
    assert_eq!(before, 10, "9 tables and _sqlx_migrations");
    tweetpipe_transformer::MIGRATOR
        .run(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("second run: {e}"));
    assert_eq!(db.count(tables).await, before);
    assert_eq!(db.count("SELECT COUNT(*) FROM _sqlx_migrations").await, 1);
    check_migrated(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // An empty database is reported as not migrated, with the remedy.
    let empty = TestDb::create_empty("tp_t_schema_empty").await;
    match check_migrated(&empty.pool).await {
        Err(SchemaError::NotMigrated { found: None, .. }) => {}
        other => panic!("expected NotMigrated, got {other:?}"),
    }
    empty.drop().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporting_user_reads_only_and_its_password_rotates() {
    let db = TestDb::create("tp_t_report").await;
    let user = format!("ro_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let platform = tweetpipe_testkit::platform();
    let admin = MySqlPool::connect(&platform.mysql_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let host_part = platform
        .mysql_url
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let url_as = |password: &str| format!("mysql://{user}:{password}@{host_part}/{}", db.name);

    ensure_reporting_user(&admin, &db.name, &user, "%", "first'pass\\word")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Idempotent.
    ensure_reporting_user(&admin, &db.name, &user, "%", "first'pass\\word")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reader = MySqlPool::connect(&url_as("first'pass\\word"))
        .await
        .unwrap_or_else(|e| panic!("reporting user cannot log in: {e}"));
    let posts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posts_hourly")
        .fetch_one(&reader)
        .await
        .unwrap_or_else(|e| panic!("reporting user cannot read: {e}"));
    assert_eq!(posts, 0);
    let write = sqlx::query("DELETE FROM posts").execute(&reader).await;
    let denied = write
        .err()
        .and_then(|e| e.into_database_error())
        .and_then(|e| e.code().map(|c| c.to_string()));
    assert_eq!(denied.as_deref(), Some("42000"), "writes must be denied");
    reader.close().await;

    // Rotation: the new password works, the old one no longer does.
    ensure_reporting_user(&admin, &db.name, &user, "%", "second")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        MySqlPool::connect(&url_as("first'pass\\word"))
            .await
            .is_err()
    );
    let reader = MySqlPool::connect(&url_as("second"))
        .await
        .unwrap_or_else(|e| panic!("rotated password refused: {e}"));
    reader.close().await;

    // Hostile names are refused before any SQL runs.
    let bad = ensure_reporting_user(&admin, &db.name, "x'@'%", "%", "p").await;
    assert!(
        matches!(bad, Err(SchemaError::InvalidName { .. })),
        "{bad:?}"
    );

    sqlx::query(sqlx::AssertSqlSafe(format!("DROP USER '{user}'@'%'")))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    admin.close().await;
    db.drop().await;
}
