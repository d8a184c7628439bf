//! Shared helpers: a private database per test on the real local MariaDB, random account
//! names, and logins as those accounts.
#![allow(dead_code)]

use sqlx::mysql::MySqlPool;

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// `host:port` of the platform's MariaDB (from its admin URL).
pub fn server() -> String {
    let platform = tweetpipe_testkit::platform();
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
    let platform = tweetpipe_testkit::platform();
    let after_scheme = platform
        .mysql_url
        .split_once("://")
        .map_or(platform.mysql_url.as_str(), |(_, rest)| rest);
    let credentials = after_scheme.rsplit_once('@').map_or("", |(c, _)| c);
    credentials.split(':').next().unwrap_or_default().to_owned()
}

/// Admin connection without a database.
pub async fn admin() -> MySqlPool {
    let platform = tweetpipe_testkit::platform();
    platform.require_mysql();
    MySqlPool::connect(&platform.mysql_url)
        .await
        .unwrap_or_else(|e| panic!("connect MariaDB as admin: {e}"))
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

/// A fresh database; `pool` is the admin account with it selected (what the operator uses).
pub struct TestDb {
    pub name: String,
    pub pool: MySqlPool,
}

impl TestDb {
    /// With the schema applied.
    pub async fn create(prefix: &str) -> Self {
        let db = Self::create_empty(prefix).await;
        tweetpipe_schema::MIGRATOR
            .run(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        db
    }

    pub async fn create_empty(prefix: &str) -> Self {
        let name = unique(prefix);
        let admin = admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        admin.close().await;
        let platform = tweetpipe_testkit::platform();
        let url = format!("{}/{name}", platform.mysql_url.trim_end_matches('/'));
        let pool = MySqlPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect {name}: {e}"));
        Self { name, pool }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Control rows recorded for this database.
    pub async fn recorded(&self) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT account_user, CAST(role AS CHAR) FROM tweetpipe_control.accounts \
             WHERE database_name = ? ORDER BY account_user",
        )
        .bind(&self.name)
        .fetch_all(&self.pool)
        .await
        .unwrap_or_else(|e| panic!("control rows: {e}"))
    }

    /// Drops the database, the given accounts and any control rows of the database.
    pub async fn drop(self, users: &[&str]) {
        for user in users {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP USER IF EXISTS '{user}'@'%'"
            )))
            .execute(&self.pool)
            .await;
        }
        let _ = sqlx::query("DELETE FROM tweetpipe_control.accounts WHERE database_name = ?")
            .bind(&self.name)
            .execute(&self.pool)
            .await;
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{}`",
            self.name
        )))
        .execute(&self.pool)
        .await;
        self.pool.close().await;
    }
}

/// The MySQL error number of a failed statement.
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
