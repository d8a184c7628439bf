//! The pipeline's MySQL database: created, migrated with the transformer's migrations (run by
//! the operator itself, see docs/operator.md), the reporting user kept in line, and dropped
//! under `deletionPolicy: Delete`.
//!
//! The migrations sit behind [`SchemaOwner`] so reconcile logic can be unit-tested without a
//! database; the real implementation is [`TransformerSchema`].

use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Executor};
use thiserror::Error;

use crate::crd::MySqlSpec;

use super::secrets::{Resolved, SecretString};

/// MySQL failures, phrased for the status (never with the URL, which holds a password).
#[derive(Debug, Error)]
pub enum MySqlCheckError {
    /// The URL in the Secret does not parse.
    #[error("the MySQL URL in Secret {secret:?} is not a valid mysql:// URL")]
    BadUrl { secret: String },
    /// No connection.
    #[error("MySQL is unreachable: {0}")]
    Unreachable(String),
    /// Migrations or grants failed.
    #[error("schema migration failed: {0}")]
    Migration(String),
}

impl MySqlCheckError {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            MySqlCheckError::BadUrl { .. } => "MySQLUrlInvalid",
            MySqlCheckError::Unreachable(_) => "MySQLUnreachable",
            MySqlCheckError::Migration(_) => "MigrationFailed",
        }
    }
}

/// Who owns the tables: applies migrations and manages the reporting user.
pub trait SchemaOwner: Send + Sync {
    /// Applies all migrations to the pool's database (idempotent).
    fn migrate<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), String>>;
    /// Creates or updates a read-only user of `database`.
    fn ensure_reporting_user<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        user: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The transformer crate's migrations and reporting-user helper.
#[derive(Debug, Default, Clone, Copy)]
pub struct TransformerSchema;

impl SchemaOwner for TransformerSchema {
    fn migrate<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            tweetpipe_transformer::MIGRATOR
                .run(pool)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn ensure_reporting_user<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        user: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            tweetpipe_transformer::schema::ensure_reporting_user(
                pool, database, user, "%", password,
            )
            .await
            .map_err(|e| e.to_string())
        })
    }
}

fn admin_options(
    spec: &MySqlSpec,
    url: &SecretString,
) -> Result<MySqlConnectOptions, MySqlCheckError> {
    url.expose()
        .parse::<MySqlConnectOptions>()
        .map(|o| o.disable_statement_logging())
        .map_err(|_| MySqlCheckError::BadUrl {
            secret: spec.url_secret.name.clone(),
        })
}

async fn pool(
    options: MySqlConnectOptions,
    timeout: Duration,
) -> Result<MySqlPool, MySqlCheckError> {
    MySqlPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        // Metadata locks wait a year by default; a DDL stuck behind one must fail instead.
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION lock_wait_timeout = 30").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| MySqlCheckError::Unreachable(redact(&e.to_string())))
}

/// sqlx errors can quote the connection string; keep only what precedes any URL.
fn redact(message: &str) -> String {
    match message.find("mysql://") {
        Some(at) => format!("{}<url redacted>", &message[..at]),
        None => message.to_string(),
    }
}

/// The URL the transformers use: the administrative URL with the pipeline's database as path.
pub fn url_with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    // Keep scheme://authority, replace any path.
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|p| start + p));
    let root = authority_end.map_or(base, |end| &base[..end]);
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

/// Creates the database, applies the migrations and syncs the reporting user.
pub async fn ensure_schema(
    spec: &MySqlSpec,
    secrets: &Resolved,
    owner: &dyn SchemaOwner,
    timeout: Duration,
) -> Result<(), MySqlCheckError> {
    let admin = admin_options(spec, &secrets.mysql_admin_url)?;
    let server = pool(admin.clone().database(""), timeout).await?;
    let create = format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        spec.database
    );
    // The name is restricted to [A-Za-z0-9_] by the CRD, so quoting with backticks is safe.
    server
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(create)))
        .await
        .map_err(|e| MySqlCheckError::Migration(redact(&e.to_string())))?;
    server.close().await;
    let database = pool(admin.database(&spec.database), timeout).await?;
    let result = async {
        owner
            .migrate(&database)
            .await
            .map_err(|e| MySqlCheckError::Migration(redact(&e)))?;
        if let (Some(user), Some(password)) = (&spec.reporting_user, &secrets.reporting_password) {
            owner
                .ensure_reporting_user(&database, &spec.database, &user.name, password.expose())
                .await
                .map_err(|e| MySqlCheckError::Migration(redact(&e)))?;
        }
        Ok(())
    }
    .await;
    database.close().await;
    result
}

/// Drops the database and the reporting user (`deletionPolicy: Delete`).
pub async fn drop_schema(
    spec: &MySqlSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<(), MySqlCheckError> {
    let admin = admin_options(spec, &secrets.mysql_admin_url)?;
    let server = pool(admin.database(""), timeout).await?;
    let mut statements = vec![format!("DROP DATABASE IF EXISTS `{}`", spec.database)];
    if let Some(user) = &spec.reporting_user {
        statements.push(format!("DROP USER IF EXISTS '{}'@'%'", user.name));
    }
    for statement in statements {
        server
            .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(statement)))
            .await
            .map_err(|e| MySqlCheckError::Migration(redact(&e.to_string())))?;
    }
    server.close().await;
    Ok(())
}
