//! The admin-only control database: which MySQL accounts tweetpipe created, for which
//! pipeline database and role, and a fingerprint of the password last set.
//!
//! It lives outside every pipeline database on purpose: a reporting user can read all of its
//! pipeline's database, and must not learn which accounts exist nor their fingerprints.

use sqlx::mysql::MySqlConnection;
use sqlx::{Executor, Row};

use crate::SchemaError;

/// Name of the control database (created if missing, with the administrative account).
pub use tweetpipe_common::contract::databases::CONTROL_DATABASE;

/// Named lock that serialises account changes between operator replicas or versions.
const LOCK: &str = "tweetpipe_control.accounts";
const LOCK_SECONDS: u32 = 30;

const CREATE_DATABASE: &str = "CREATE DATABASE IF NOT EXISTS `tweetpipe_control` \
     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

// User names are case-sensitive in MySQL, host names are not.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS `tweetpipe_control`.`accounts` (
    account_user          VARCHAR(80)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    account_host          VARCHAR(255) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    database_name         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    role                  ENUM('reporting', 'writer') NOT NULL,
    password_salt         CHAR(32)     CHARACTER SET ascii NOT NULL,
    password_fingerprint  CHAR(64)     CHARACTER SET ascii NOT NULL,
    created_at            DATETIME(3)  NOT NULL,
    updated_at            DATETIME(3)  NOT NULL,
    PRIMARY KEY (account_user, account_host),
    KEY accounts_database (database_name)
) ENGINE = InnoDB";

// Which pipeline each database belongs to (docs/security.md, "Databases are owned").
const CREATE_DATABASES_TABLE: &str = "CREATE TABLE IF NOT EXISTS `tweetpipe_control`.`databases` (
    database_name    VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner_namespace  VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner_name       VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner_uid        VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at       DATETIME(3)  NOT NULL,
    updated_at       DATETIME(3)  NOT NULL,
    PRIMARY KEY (database_name)
) ENGINE = InnoDB";

/// A control row.
pub(crate) struct Recorded {
    pub database: String,
    pub role: String,
    pub salt: String,
    pub fingerprint: String,
}

/// Creates the control database and table if missing, then takes the accounts lock for
/// this session (released by [`unlock`] or when the connection closes).
pub(crate) async fn prepare(conn: &mut MySqlConnection) -> Result<(), SchemaError> {
    conn.execute(CREATE_DATABASE).await?;
    conn.execute(CREATE_TABLE).await?;
    conn.execute(CREATE_DATABASES_TABLE).await?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(LOCK)
        .bind(LOCK_SECONDS)
        .fetch_one(&mut *conn)
        .await?;
    if locked == Some(1) {
        Ok(())
    } else {
        Err(SchemaError::Busy {
            lock: LOCK,
            seconds: LOCK_SECONDS,
        })
    }
}

pub(crate) async fn unlock(conn: &mut MySqlConnection) -> Result<(), SchemaError> {
    sqlx::query("DO RELEASE_LOCK(?)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) async fn find(
    conn: &mut MySqlConnection,
    user: &str,
    host: &str,
) -> Result<Option<Recorded>, SchemaError> {
    let row = sqlx::query(
        "SELECT database_name, CAST(role AS CHAR), password_salt, password_fingerprint \
         FROM `tweetpipe_control`.`accounts` WHERE account_user = ? AND account_host = ?",
    )
    .bind(user)
    .bind(host)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(Recorded {
            database: row.try_get(0)?,
            role: row.try_get(1)?,
            salt: row.try_get(2)?,
            fingerprint: row.try_get(3)?,
        })
    })
    .transpose()
}

/// Records an account as ours (or replaces its row).
pub(crate) async fn record(
    conn: &mut MySqlConnection,
    user: &str,
    host: &str,
    database: &str,
    role: &str,
    salt: &str,
    fingerprint: &str,
) -> Result<(), SchemaError> {
    sqlx::query(
        "INSERT INTO `tweetpipe_control`.`accounts` (account_user, account_host, database_name, \
         role, password_salt, password_fingerprint, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)) \
         ON DUPLICATE KEY UPDATE database_name = VALUES(database_name), role = VALUES(role), \
         password_salt = VALUES(password_salt), \
         password_fingerprint = VALUES(password_fingerprint), updated_at = UTC_TIMESTAMP(3)",
    )
    .bind(user)
    .bind(host)
    .bind(database)
    .bind(role)
    .bind(salt)
    .bind(fingerprint)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The accounts recorded for `database`, as (user, host).
pub(crate) async fn accounts_of(
    conn: &mut MySqlConnection,
    database: &str,
) -> Result<Vec<(String, String)>, SchemaError> {
    Ok(sqlx::query_as(
        "SELECT account_user, account_host FROM `tweetpipe_control`.`accounts` \
         WHERE database_name = ? ORDER BY account_user, account_host",
    )
    .bind(database)
    .fetch_all(&mut *conn)
    .await?)
}

pub(crate) async fn forget(
    conn: &mut MySqlConnection,
    user: &str,
    host: &str,
) -> Result<(), SchemaError> {
    sqlx::query(
        "DELETE FROM `tweetpipe_control`.`accounts` WHERE account_user = ? AND account_host = ?",
    )
    .bind(user)
    .bind(host)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
