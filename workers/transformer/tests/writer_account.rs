//! The transformer with the writer account the operator gives it (DML only, no DDL), on
//! real MariaDB: the start-up version check and batch writes work with those rights alone.

mod support;

use sqlx::mysql::MySqlPool;
use support::*;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_schema::{
    AccountOutcome, AccountSpec, MIGRATOR, Role, check_migrated, drop_accounts, ensure_account,
};
use tweetpipe_testkit::mysql::TestDb;
use tweetpipe_testkit::names::short_unique;
use tweetpipe_transformer::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_account_checks_the_version_and_writes_batches() {
    let db = TestDb::create("tp_t_writer", &MIGRATOR).await;
    let platform = tweetpipe_testkit::platform();
    let admin = MySqlPool::connect(&platform.mysql_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let user = short_unique("w");
    let spec = AccountSpec {
        database: &db.name,
        user: &user,
        host: "%",
        role: Role::Writer,
        password: "writer'pass",
        require_tls: false,
    };
    let outcome = ensure_account(&admin, &spec)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome, AccountOutcome::Created);

    let host_part = platform.mysql_url.rsplit('@').next().unwrap_or_default();
    let writer_url = format!(
        "mysql://{user}:writer%27pass@{}/{}",
        host_part.trim_end_matches('/'),
        db.name
    );
    let writer =
        tweetpipe_transformer::db::connect_lazy(&writer_url, 2).unwrap_or_else(|e| panic!("{e}"));
    check_migrated(&writer)
        .await
        .unwrap_or_else(|e| panic!("version check as the writer: {e}"));

    let store = Store::new(writer.clone());
    let stored = transformed(&sample_posts(120, 1_830_000_000_000_000_000));
    let first = write_ok(&store, &stored, "batch as the writer").await;
    assert_eq!(first.posts_inserted, 120);
    // A redelivered batch takes the upsert paths (ON DUPLICATE KEY UPDATE).
    let again = write_ok(&store, &stored, "redelivered batch as the writer").await;
    assert_eq!(again.posts_inserted, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, 120);
    assert_eq!(
        db.count("SELECT CAST(SUM(posts) AS SIGNED) FROM posts_hourly")
            .await,
        120
    );
    writer.close().await;

    let dropped = drop_accounts(&admin, &db.name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dropped, vec![format!("'{user}'@'%'")]);
    admin.close().await;
    db.drop().await;
}
