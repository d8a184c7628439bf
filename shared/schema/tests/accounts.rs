//! The accounts the operator creates and owns (reporting, writer), on real MariaDB.

use sqlx::MySqlPool;
use tweetpipe_schema::{
    AccountOutcome, AccountSpec, MIGRATOR, Role, SchemaError, drop_accounts, ensure_account,
};
use tweetpipe_testkit::mysql::{
    TestDb, admin, admin_user, login, mysql_error, password_last_changed,
};
use tweetpipe_testkit::names::short_unique;

/// Control rows recorded for the test's database.
async fn recorded(db: &TestDb) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT account_user, CAST(role AS CHAR) FROM tweetpipe_control.accounts \
         WHERE database_name = ? ORDER BY account_user",
    )
    .bind(&db.name)
    .fetch_all(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("control rows: {e}"))
}

/// Drops the given accounts, the database's control rows, then the database.
async fn drop_with_accounts(db: TestDb, users: &[&str]) {
    db.drop_users(users).await;
    let _ = sqlx::query("DELETE FROM tweetpipe_control.accounts WHERE database_name = ?")
        .bind(&db.name)
        .execute(&db.pool)
        .await;
    db.drop().await;
}

fn spec<'a>(db: &'a TestDb, user: &'a str, role: Role, password: &'a str) -> AccountSpec<'a> {
    AccountSpec {
        database: &db.name,
        user,
        host: "%",
        role,
        password,
        require_tls: false,
    }
}

async fn ensure(db: &TestDb, spec: &AccountSpec<'_>) -> AccountOutcome {
    ensure_account(&db.pool, spec)
        .await
        .unwrap_or_else(|e| panic!("ensure {spec:?}: {e}"))
}

/// Runs `statements` as the admin; each must succeed.
async fn run_all(db: &TestDb, statements: impl IntoIterator<Item = String>) {
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A reporting user as earlier versions made it, without recording anything: password `old`,
/// `SELECT, SHOW VIEW` on `database`.
async fn earlier_reporting_user(db: &TestDb, user: &str, database: &str) {
    run_all(
        db,
        [
            format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'old'"),
            format!("GRANT SELECT, SHOW VIEW ON `{database}`.* TO '{user}'@'%'"),
        ],
    )
    .await;
}

/// Logs in as `user`, which must work; `why` it matters, in a failure.
async fn logs_in(user: &str, password: &str, database: &str, why: &str) {
    login(user, password, database)
        .await
        .unwrap_or_else(|e| panic!("{why}: {e}"))
        .close()
        .await;
}

/// Runs `sql` on `pool`, which MariaDB must deny it (1142, ER_TABLEACCESS_DENIED_ERROR); the
/// error message.
async fn denied(pool: &MySqlPool, sql: &'static str) -> String {
    let (number, message) = mysql_error(sqlx::query(sql).execute(pool).await);
    assert_eq!(number, 1142, "{sql}: {message}");
    message
}

async fn exists(db: &TestDb, user: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'")
        .bind(user)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporting_user_reads_only_its_password_rotates_and_is_not_reset_when_unchanged() {
    let db = TestDb::create("tp_s_report", &MIGRATOR).await;
    let user = short_unique("ro");
    let first = "first'pass\\word";
    assert_eq!(
        ensure(&db, &spec(&db, &user, Role::Reporting, first)).await,
        AccountOutcome::Created
    );
    assert_eq!(
        recorded(&db).await,
        vec![(user.clone(), "reporting".into())]
    );
    // The fingerprint is SHA-256(salt + password), with a salt of its own.
    let matches: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tweetpipe_control.accounts WHERE account_user = ? \
         AND password_fingerprint = CONVERT(SHA2(CONCAT(password_salt, ?), 256) USING ascii)",
    )
    .bind(&user)
    .bind(first)
    .fetch_one(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(matches, 1);

    let reader = login(&user, first, &db.name)
        .await
        .unwrap_or_else(|e| panic!("reporting user cannot log in: {e}"));
    let set_at = password_last_changed(&db.pool, &user).await;
    // password_last_changed has one-second resolution: let a second pass so an ALTER shows.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        ensure(&db, &spec(&db, &user, Role::Reporting, first)).await,
        AccountOutcome::Unchanged
    );
    assert_eq!(password_last_changed(&db.pool, &user).await, set_at);
    // The session opened before is still valid and reads; writes are denied.
    let posts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posts_hourly")
        .fetch_one(&reader)
        .await
        .unwrap_or_else(|e| panic!("reporting user cannot read: {e}"));
    assert_eq!(posts, 0);
    denied(&reader, "DELETE FROM posts").await;
    denied(
        &reader,
        "INSERT INTO hashtags_daily (day, tag, posts) VALUES ('2026-01-01', 'x', 1)",
    )
    .await;
    reader.close().await;

    // Rotation: the new password works, the old one no longer does.
    assert_eq!(
        ensure(&db, &spec(&db, &user, Role::Reporting, "second")).await,
        AccountOutcome::PasswordChanged
    );
    // The clock the Unchanged check relies on does move when the password is set.
    assert!(password_last_changed(&db.pool, &user).await > set_at);
    assert!(login(&user, first, &db.name).await.is_err());
    logs_in(&user, "second", &db.name, "rotated password refused").await;

    // Hostile names are refused before any SQL runs.
    let bad = ensure_account(&db.pool, &spec(&db, "x'@'%", Role::Reporting, "p")).await;
    assert!(
        matches!(bad, Err(SchemaError::InvalidName { .. })),
        "{bad:?}"
    );
    let bad = ensure_account(&db.pool, &spec(&db, &user, Role::Reporting, "")).await;
    assert!(matches!(bad, Err(SchemaError::EmptyPassword)), "{bad:?}");

    drop_with_accounts(db, &[&user]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_changes_rows_but_not_the_schema() {
    let db = TestDb::create("tp_s_writer", &MIGRATOR).await;
    let user = short_unique("w");
    assert_eq!(
        ensure(&db, &spec(&db, &user, Role::Writer, "w-pass")).await,
        AccountOutcome::Created
    );
    let writer = login(&user, "w-pass", &db.name)
        .await
        .unwrap_or_else(|e| panic!("writer cannot log in: {e}"));
    for dml in [
        "INSERT INTO hashtags_daily (day, tag, posts) VALUES ('2026-01-01', 'x', 1)",
        "UPDATE hashtags_daily SET posts = posts + 1 WHERE tag = 'x'",
    ] {
        sqlx::query(dml)
            .execute(&writer)
            .await
            .unwrap_or_else(|e| panic!("{dml}: {e}"));
    }
    let posts: i64 = sqlx::query_scalar("SELECT CAST(posts AS SIGNED) FROM hashtags_daily")
        .fetch_one(&writer)
        .await
        .unwrap_or_else(|e| panic!("SELECT: {e}"));
    assert_eq!(posts, 2);
    let deleted = sqlx::query("DELETE FROM hashtags_daily WHERE tag = 'x'")
        .execute(&writer)
        .await
        .unwrap_or_else(|e| panic!("DELETE: {e}"));
    assert_eq!(deleted.rows_affected(), 1);

    let message = denied(&writer, "CREATE TABLE sneaky (id INT)").await;
    assert!(message.contains("CREATE command denied"), "{message}");
    let message = denied(&writer, "DROP TABLE posts").await;
    assert!(message.contains("DROP command denied"), "{message}");
    denied(&writer, "ALTER TABLE posts ADD COLUMN sneaky INT").await;
    // Nor can it read the control database.
    denied(&writer, "SELECT COUNT(*) FROM tweetpipe_control.accounts").await;
    writer.close().await;
    drop_with_accounts(db, &[&user]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_account_is_never_managed() {
    let db = TestDb::create("tp_s_admin", &MIGRATOR).await;
    let admin = admin_user();
    assert!(!admin.is_empty(), "the platform's MySQL URL names a user");
    for user in [admin.clone(), admin.to_ascii_uppercase()] {
        for role in [Role::Reporting, Role::Writer] {
            let refused = ensure_account(&db.pool, &spec(&db, &user, role, "p")).await;
            match refused {
                Err(e @ SchemaError::AdminAccount { .. }) => {
                    assert!(e.to_string().contains("another name"), "{e}");
                }
                other => panic!("expected AdminAccount for {user}, got {other:?}"),
            }
        }
    }
    assert!(recorded(&db).await.is_empty());
    // The admin still logs in with its own password.
    let still = admin_pool_works().await;
    assert!(still);
    drop_with_accounts(db, &[]).await;
}

async fn admin_pool_works() -> bool {
    let pool = admin().await;
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    one == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_we_did_not_create_are_refused_with_their_name() {
    let db = TestDb::create("tp_s_foreign", &MIGRATOR).await;
    let other = TestDb::create("tp_s_foreign_other", &MIGRATOR).await;

    // A human's account with other grants.
    let human = short_unique("h");
    run_all(
        &db,
        [
            format!("CREATE USER '{human}'@'%' IDENTIFIED BY 'human-pass'"),
            format!("GRANT SELECT, INSERT ON `{}`.* TO '{human}'@'%'", db.name),
        ],
    )
    .await;
    for role in [Role::Reporting, Role::Writer] {
        match ensure_account(&db.pool, &spec(&db, &human, role, "taken-over")).await {
            Err(e @ SchemaError::ForeignAccount { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&format!("'{human}'@'%'")), "{text}");
                assert!(text.contains("choose another user name"), "{text}");
            }
            other => panic!("expected ForeignAccount, got {other:?}"),
        }
    }
    // Its password was not touched.
    logs_in(
        &human,
        "human-pass",
        &db.name,
        "the human's password changed",
    )
    .await;
    assert!(recorded(&db).await.is_empty());

    // Another pipeline's account: recorded for another database.
    let theirs = short_unique("ro");
    assert_eq!(
        ensure(&other, &spec(&other, &theirs, Role::Reporting, "theirs")).await,
        AccountOutcome::Created
    );
    match ensure_account(&db.pool, &spec(&db, &theirs, Role::Reporting, "mine")).await {
        Err(e @ SchemaError::AccountTaken { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("'{theirs}'@'%'")), "{text}");
            assert!(text.contains(&other.name), "{text}");
        }
        other => panic!("expected AccountTaken, got {other:?}"),
    }
    // Nor can our own reporting user double as the writer.
    match ensure_account(&other.pool, &spec(&other, &theirs, Role::Writer, "theirs")).await {
        Err(SchemaError::AccountTaken { .. }) => {}
        other => panic!("expected AccountTaken, got {other:?}"),
    }
    let changed = "the other pipeline's password changed";
    logs_in(&theirs, "theirs", &other.name, changed).await;

    drop_with_accounts(db, &[&human]).await;
    drop_with_accounts(other, &[&theirs]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_user_of_an_earlier_version_is_adopted() {
    let db = TestDb::create("tp_s_adopt", &MIGRATOR).await;
    let user = short_unique("ro");
    earlier_reporting_user(&db, &user, &db.name).await;
    assert_eq!(
        ensure(&db, &spec(&db, &user, Role::Reporting, "new")).await,
        AccountOutcome::Adopted
    );
    assert_eq!(
        recorded(&db).await,
        vec![(user.clone(), "reporting".into())]
    );
    logs_in(&user, "new", &db.name, "adopted user's password not set").await;
    assert_eq!(
        ensure(&db, &spec(&db, &user, Role::Reporting, "new")).await,
        AccountOutcome::Unchanged
    );
    // Adoption is for exactly our grants: the same account is no writer.
    let writer_db = TestDb::create("tp_s_adopt_w", &MIGRATOR).await;
    let writer = short_unique("w");
    earlier_reporting_user(&db, &writer, &writer_db.name).await;
    let refused = ensure_account(
        &writer_db.pool,
        &spec(&writer_db, &writer, Role::Writer, "new"),
    )
    .await;
    assert!(
        matches!(refused, Err(SchemaError::ForeignAccount { .. })),
        "{refused:?}"
    );
    drop_with_accounts(writer_db, &[&writer]).await;
    drop_with_accounts(db, &[&user]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_accounts_removes_ours_and_only_ours() {
    let db = TestDb::create("tp_s_drop", &MIGRATOR).await;
    let [reporting, writer, human] = ["ro", "w", "h"].map(short_unique);
    ensure(&db, &spec(&db, &reporting, Role::Reporting, "r")).await;
    ensure(&db, &spec(&db, &writer, Role::Writer, "w")).await;
    run_all(
        &db,
        [format!("CREATE USER '{human}'@'%' IDENTIFIED BY 'h'")],
    )
    .await;
    assert_eq!(recorded(&db).await.len(), 2);

    let mut dropped = drop_accounts(&db.pool, &db.name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dropped.sort();
    let mut want = vec![format!("'{reporting}'@'%'"), format!("'{writer}'@'%'")];
    want.sort();
    assert_eq!(dropped, want);
    assert!(!exists(&db, &reporting).await);
    assert!(!exists(&db, &writer).await);
    assert!(exists(&db, &human).await, "an account not ours stays");
    assert!(recorded(&db).await.is_empty());
    // Nothing left: a second call drops nothing.
    let again = drop_accounts(&db.pool, &db.name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.is_empty());
    drop_with_accounts(db, &[&human]).await;
}

/// A refused login or privilege is told apart from an unreachable server (the operator reports
/// `MySQLAccessDenied` with what to check, not `MySQLUnreachable`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_logins_are_access_denied_and_a_closed_port_is_not() {
    let refused = login(&short_unique("nobody"), "wrong-password", "mysql")
        .await
        .expect_err("no such account");
    assert!(tweetpipe_schema::is_access_denied(&refused), "{refused}");

    let closed = format!(
        "mysql://root:x@127.0.0.1:{}/mysql",
        tweetpipe_testkit::ports::free_port()
    );
    let unreachable = sqlx::mysql::MySqlPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&closed)
        .await
        .expect_err("nothing listens there");
    assert!(
        !tweetpipe_schema::is_access_denied(&unreachable),
        "{unreachable}"
    );
}
