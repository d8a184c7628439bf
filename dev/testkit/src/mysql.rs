//! A private database per test on the platform's MariaDB, logins as other accounts, and what
//! MariaDB answers (error numbers, password change times).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::names::unique;

/// An administrative connection without a database; panics unless MariaDB answers.
pub async fn admin() -> MySqlPool {
    let platform = crate::platform();
    platform.require_mysql();
    MySqlPool::connect(&platform.mysql_url)
        .await
        .unwrap_or_else(|e| panic!("connect MariaDB as admin: {e}"))
}

/// `host:port` of the platform's MariaDB (from its admin URL).
pub fn server() -> String {
    let platform = crate::platform();
    platform
        .mysql_url
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

/// The user part of the platform's admin URL.
pub fn admin_user() -> String {
    let platform = crate::platform();
    let after_scheme = platform
        .mysql_url
        .split_once("://")
        .map_or(platform.mysql_url.as_str(), |(_, rest)| rest);
    let credentials = after_scheme.rsplit_once('@').map_or("", |(c, _)| c);
    credentials.split(':').next().unwrap_or_default().to_owned()
}

/// Logs in as `user` (password percent-encoded as needed) with `database` selected.
pub async fn login(user: &str, password: &str, database: &str) -> Result<MySqlPool, sqlx::Error> {
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    MySqlPool::connect(&format!("mysql://{user}:{encoded}@{}/{database}", server())).await
}

/// A fresh database of one test; `pool` is the admin account with it selected (what the
/// operator uses), with the transformer's session settings (UTC, utf8mb4).
pub struct TestDb {
    pub name: String,
    /// Admin URL with this database selected.
    pub url: String,
    pub pool: MySqlPool,
}

impl TestDb {
    /// A fresh database with `migrator`'s schema applied (`tweetpipe_schema::MIGRATOR`).
    pub async fn create(prefix: &str, migrator: &Migrator) -> Self {
        let db = Self::create_empty(prefix).await;
        migrator
            .run(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        db
    }

    /// A fresh database without a schema.
    pub async fn create_empty(prefix: &str) -> Self {
        let name = unique(prefix);
        let admin = admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        admin.close().await;
        let url = format!(
            "{}/{name}",
            crate::platform().mysql_url.trim_end_matches('/')
        );
        let pool = session_pool(&url, 4);
        Self { name, url, pool }
    }

    /// The single integer `sql` returns.
    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The database as it was before migration `version`: `tables` (the ones it creates) dropped
    /// and its record removed, so the next run applies it again.
    pub async fn without_migration(&self, version: i64, tables: &[&str]) {
        for table in tables {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE `{table}`")))
                .execute(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("drop {table}: {e}"));
        }
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
            .bind(version)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("forget migration {version}: {e}"));
    }

    /// A session holding `LOCK TABLES <table> WRITE`: DDL on the table waits for its metadata
    /// lock until [`TableLock::release`].
    pub async fn lock_table(&self, table: &str) -> TableLock {
        let mut session = self.pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("LOCK TABLES `{table}` WRITE")))
            .execute(&mut *session)
            .await
            .unwrap_or_else(|e| panic!("lock {table}: {e}"));
        TableLock(session)
    }

    /// Drops the given accounts (best effort), as the admin.
    pub async fn drop_users(&self, users: &[&str]) {
        for user in users {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP USER IF EXISTS '{user}'@'%'"
            )))
            .execute(&self.pool)
            .await;
        }
    }

    /// Drops the database (best effort).
    pub async fn drop(self) {
        self.pool.close().await;
        let platform = crate::platform();
        if let Ok(admin) = MySqlPool::connect(&platform.mysql_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// A session holding a table lock ([`TestDb::lock_table`]).
pub struct TableLock(sqlx::pool::PoolConnection<sqlx::MySql>);

impl TableLock {
    /// Releases the lock.
    pub async fn release(mut self) {
        sqlx::query("UNLOCK TABLES")
            .execute(&mut *self.0)
            .await
            .unwrap_or_else(|e| panic!("unlock: {e}"));
    }
}

/// A pool with the transformer's session settings (`tweetpipe_transformer::db::connect_lazy`):
/// UTC and utf8mb4, connecting on first use, failing fast while MariaDB is down.
fn session_pool(url: &str, size: u32) -> MySqlPool {
    let options = MySqlConnectOptions::from_str(url)
        .unwrap_or_else(|e| panic!("MariaDB URL: {e}"))
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned()));
    MySqlPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

/// Polls `sql` until it returns `expected`; panics with the last value after `limit`.
/// (A liveness bound, not a performance assertion.)
pub async fn wait_for_count(db: &TestDb, sql: &'static str, expected: i64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = "no answer yet".to_string();
    while tokio::time::Instant::now() < deadline {
        match sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await {
            Ok(n) if n == expected => return,
            Ok(n) => last = n.to_string(),
            Err(e) => last = format!("error: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{sql} was last {last}, expected {expected} within {limit:?}");
}

/// The MySQL error number and message of a statement that must be refused.
pub fn mysql_error(result: Result<impl Sized, sqlx::Error>) -> (u16, String) {
    match result {
        Ok(_) => panic!("statement succeeded but must be refused"),
        Err(e) => {
            let db = e
                .as_database_error()
                .unwrap_or_else(|| panic!("not a MySQL error: {e}"));
            let number = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map_or(0, |m| m.number());
            (number, db.message().to_owned())
        }
    }
}

/// Seconds since the epoch at which MariaDB last set the account's password.
pub async fn password_last_changed(pool: &MySqlPool, user: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(JSON_VALUE(Priv, '$.password_last_changed') AS SIGNED) \
         FROM mysql.global_priv WHERE User = ? AND Host = '%'",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("password_last_changed of {user}: {e}"))
}
