//! Which pipeline a database belongs to. Every database the operator creates is recorded in the
//! control database with its pipeline's namespace, name and uid, and the operator creates,
//! migrates, grants on and drops only databases recorded as the reconciled pipeline's. Two
//! pipelines that pick the same `mysql.database` by accident (or on purpose): the second is
//! refused, naming the first, and the first is untouched.
//!
//! What is claimed without a record, once, and recorded:
//! - a database that does not exist yet (created under the lock, so two claims cannot race);
//! - an existing *empty* database (a DBA may create the database and give the operator's account
//!   rights on it only);
//! - an existing tweetpipe database (`_sqlx_migrations` present) made by a version before
//!   ownership records: the first pipeline to reconcile it after the upgrade owns it.
//!
//! A pipeline deleted with `Retain` and created again under the same namespace and name (a new
//! uid) takes its database back: whoever may create that object may already read its Secrets.

use sqlx::Row;
use sqlx::mysql::{MySqlConnection, MySqlPool};

use crate::accounts::{admin_session, drop_locked, finish};
use crate::{SchemaError, names};

/// The pipeline a database belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// How [`claim_database`] found the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// It did not exist; it was created and recorded.
    Created,
    /// Recorded as this pipeline's already.
    Owned,
    /// Recorded for the same namespace and name under an older uid (the pipeline was deleted with
    /// `Retain` and created again); now recorded with this uid.
    Reclaimed,
    /// It existed without tables and without a record; now recorded.
    AdoptedEmpty,
    /// A tweetpipe database from before ownership records; now recorded.
    AdoptedUnrecorded,
}

/// What [`release_database`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The accounts (as `'user'@'host'`) and the database were dropped, the record removed.
    Dropped { accounts: Vec<String> },
    /// Neither the database nor a record exists: nothing to do.
    Absent,
    /// The database exists without a record of this pipeline: left as it is.
    NotRecorded,
    /// Recorded as another pipeline's (or another incarnation's): left as it is; the message
    /// names the owner.
    OwnedByAnother(String),
}

/// Makes `database` this pipeline's, creating it when it does not exist (see the module for what
/// is claimed), or refuses it: [`SchemaError::DatabaseOwned`] naming its owner,
/// [`SchemaError::ForeignDatabase`] for a database with tables that tweetpipe did not make.
pub async fn claim_database(
    pool: &MySqlPool,
    database: &str,
    owner: Owner<'_>,
) -> Result<Claim, SchemaError> {
    names::check_database(database)?;
    let mut conn = admin_session(pool).await?;
    let claimed = claim_locked(&mut conn, database, owner).await;
    finish(conn, claimed).await
}

/// Drops `database` and its accounts if it is recorded as this pipeline's (`deletionPolicy:
/// Delete`); leaves one recorded for another pipeline, or without a record, alone.
pub async fn release_database(
    pool: &MySqlPool,
    database: &str,
    owner: Owner<'_>,
) -> Result<Release, SchemaError> {
    names::check_database(database)?;
    let mut conn = admin_session(pool).await?;
    let released = release_locked(&mut conn, pool, database, owner).await;
    finish(conn, released).await
}

struct Recorded {
    namespace: String,
    name: String,
    uid: String,
}

async fn recorded(
    conn: &mut MySqlConnection,
    database: &str,
) -> Result<Option<Recorded>, SchemaError> {
    let row = sqlx::query(
        "SELECT owner_namespace, owner_name, owner_uid FROM `tweetpipe_control`.`databases` \
         WHERE database_name = ?",
    )
    .bind(database)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(Recorded {
            namespace: row.try_get(0)?,
            name: row.try_get(1)?,
            uid: row.try_get(2)?,
        })
    })
    .transpose()
}

async fn record(
    conn: &mut MySqlConnection,
    database: &str,
    owner: Owner<'_>,
) -> Result<(), SchemaError> {
    sqlx::query(
        "INSERT INTO `tweetpipe_control`.`databases` (database_name, owner_namespace, owner_name, \
         owner_uid, created_at, updated_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)) \
         ON DUPLICATE KEY UPDATE owner_namespace = VALUES(owner_namespace), \
         owner_name = VALUES(owner_name), owner_uid = VALUES(owner_uid), updated_at = UTC_TIMESTAMP(3)",
    )
    .bind(database)
    .bind(owner.namespace)
    .bind(owner.name)
    .bind(owner.uid)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether `database` exists, and its table names.
async fn tables_of(
    conn: &mut MySqlConnection,
    database: &str,
) -> Result<Option<Vec<String>>, SchemaError> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(database)
    .fetch_one(&mut *conn)
    .await?;
    if exists == 0 {
        return Ok(None);
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = ?",
    )
    .bind(database)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(tables))
}

fn owned_by_another(database: &str, row: Recorded) -> SchemaError {
    SchemaError::DatabaseOwned {
        database: database.to_owned(),
        owner_namespace: row.namespace,
        owner_name: row.name,
        owner_uid: row.uid,
    }
}

async fn claim_locked(
    conn: &mut MySqlConnection,
    database: &str,
    owner: Owner<'_>,
) -> Result<Claim, SchemaError> {
    if let Some(row) = recorded(conn, database).await? {
        if row.uid == owner.uid {
            return Ok(Claim::Owned);
        }
        if row.namespace != owner.namespace || row.name != owner.name {
            return Err(owned_by_another(database, row));
        }
        record(conn, database, owner).await?;
        return Ok(Claim::Reclaimed);
    }
    let claim = match tables_of(conn, database).await? {
        None => {
            // Validated by check_database ([A-Za-z0-9_-]), so backticks quote it safely.
            let create = format!(
                "CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&mut *conn)
                .await?;
            Claim::Created
        }
        Some(tables) if tables.is_empty() => Claim::AdoptedEmpty,
        Some(tables) if tables.iter().any(|t| t == "_sqlx_migrations") => Claim::AdoptedUnrecorded,
        Some(tables) => {
            return Err(SchemaError::ForeignDatabase {
                database: database.to_owned(),
                tables: tables.len() as i64,
            });
        }
    };
    record(conn, database, owner).await?;
    Ok(claim)
}

async fn release_locked(
    conn: &mut MySqlConnection,
    pool: &MySqlPool,
    database: &str,
    owner: Owner<'_>,
) -> Result<Release, SchemaError> {
    match recorded(conn, database).await? {
        Some(row) if row.uid != owner.uid => Ok(Release::OwnedByAnother(format!(
            "database `{database}` belongs to TweetPipeline {}/{} (uid {}); left as it is",
            row.namespace, row.name, row.uid
        ))),
        Some(_) => {
            let accounts = drop_locked(conn, pool, database).await?;
            let drop = format!("DROP DATABASE IF EXISTS `{database}`");
            sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM `tweetpipe_control`.`databases` WHERE database_name = ?")
                .bind(database)
                .execute(&mut *conn)
                .await?;
            Ok(Release::Dropped { accounts })
        }
        None => match tables_of(conn, database).await? {
            None => Ok(Release::Absent),
            Some(_) => Ok(Release::NotRecorded),
        },
    }
}
