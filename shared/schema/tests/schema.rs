//! The migrations and the schema version, on real MariaDB.

use tweetpipe_schema::MIGRATOR;
use tweetpipe_schema::{SchemaError, check_migrated, required_version, schema_version};
use tweetpipe_testkit::mysql::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_twice_as_a_no_op_and_the_version_check_sees_them() {
    let db = TestDb::create("tp_s_schema", &MIGRATOR).await;
    let tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()";
    let before = db.count(tables).await;
    assert_eq!(before, 12, "11 tables and _sqlx_migrations");
    tweetpipe_schema::MIGRATOR
        .run(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("second run: {e}"));
    assert_eq!(db.count(tables).await, before);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM _sqlx_migrations").await,
        MIGRATOR.iter().count() as i64
    );
    let version = schema_version(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(version, Some(required_version()));
    check_migrated(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // An empty database has no version and is reported as not migrated, with the remedy.
    let empty = TestDb::create_empty("tp_s_schema_empty").await;
    let version = schema_version(&empty.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(version, None);
    match check_migrated(&empty.pool).await {
        Err(e @ SchemaError::NotMigrated { found: None, .. }) => {
            assert!(e.to_string().contains("operator applies migrations"), "{e}");
        }
        other => panic!("expected NotMigrated, got {other:?}"),
    }
    empty.drop().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_interrupted_midway_is_run_again() {
    let db = TestDb::create("tp_s_dirty", &MIGRATOR).await;
    // What a process killed between sqlx's "started" record and its "done" update leaves: the
    // newest migration recorded as started (sqlx stops at the first, so only one is dirty).
    sqlx::query("UPDATE _sqlx_migrations SET success = FALSE ORDER BY version DESC LIMIT 1")
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = MIGRATOR.run(&db.pool).await;
    assert!(
        matches!(refused, Err(sqlx::migrate::MigrateError::Dirty(_))),
        "sqlx alone refuses: {refused:?}"
    );
    tweetpipe_schema::migrate(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("repaired: {e}"));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .await,
        MIGRATOR.iter().count() as i64
    );
    check_migrated(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.drop().await;
}

/// The newest migration, as a database that has not had it yet sees it: its tables dropped and
/// its record removed. Returns its version and a table it creates after its first statement.
async fn before_the_newest_migration(db: &TestDb) -> (i64, &'static str) {
    let newest = MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or_else(|| panic!("no migrations"));
    assert_eq!(
        newest, 20261205000001,
        "the tables below are this migration's"
    );
    db.without_migration(newest, &["post_context_annotations"])
        .await;
    // Its second statement's table stays, so another session can hold a lock on it.
    (newest, "post_cashtags")
}

/// A migration that *fails* (nothing killed) must not leave the database "dirty", or the next
/// run warns "a migration was interrupted" although nothing was (issue 25's benchmark). The
/// failure here is the one the operator's sessions give a DDL stuck behind another session's
/// metadata lock: `lock_wait_timeout` runs out after the migration's record was committed (by its
/// first statement's implicit commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_leaves_no_interrupted_record_and_runs_again() {
    let db = TestDb::create("tp_s_failed", &MIGRATOR).await;
    let (newest, locked_table) = before_the_newest_migration(&db).await;
    let lock = db.lock_table(locked_table).await;
    let impatient = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, "SET SESSION lock_wait_timeout = 1").await?;
                Ok(())
            })
        })
        .connect_lazy(&db.url)
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = tweetpipe_schema::migrate(&impatient).await;
    impatient.close().await;
    assert!(
        matches!(&failed, Err(sqlx::migrate::MigrateError::ExecuteMigration(_, v)) if *v == newest),
        "the DDL waits out lock_wait_timeout: {failed:?}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = FALSE")
            .await,
        0,
        "a failed migration's 'started' record is what the next run reads as interrupted"
    );

    lock.release().await;
    // sqlx alone (which refuses a dirty database) applies it now: nothing to repair.
    MIGRATOR
        .run(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("the next run: {e}"));
    check_migrated(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.drop().await;
}

/// Rolling the operator back one release after the newer one migrated: the older `migrate` meets a
/// migration it does not know and goes on (every migration is additive), and its workers accept
/// the newer schema version. sqlx alone refuses such a database (`VersionMissing`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_rolled_back_accepts_the_newer_releases_migrations() {
    let db = TestDb::create("tp_s_rollback", &MIGRATOR).await;
    // What the next release leaves: one more applied migration this build does not have.
    let newer: i64 = 29_991_231_000_001;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (?, 'from a newer release', NOW(), TRUE, UNHEX(REPEAT('00', 48)), 1)",
    )
    .bind(newer)
    .execute(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = MIGRATOR.run(&db.pool).await;
    assert!(
        matches!(refused, Err(sqlx::migrate::MigrateError::VersionMissing(v)) if v == newer),
        "sqlx alone refuses: {refused:?}"
    );
    tweetpipe_schema::migrate(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("the rolled-back operator's migrate: {e}"));
    assert_eq!(
        schema_version(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Some(newer),
        "the newer release's version stays recorded"
    );
    check_migrated(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("the older workers accept the newer schema: {e}"));
    db.drop().await;
}
