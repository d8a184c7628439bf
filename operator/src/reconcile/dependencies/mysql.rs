//! The pipeline's MySQL database: created, migrated, its accounts (the transformers' writer and
//! the optional read-only reporting user) kept in line, and all of it dropped under
//! `deletionPolicy: Delete`.
//!
//! Cheap at rest: the pool is shared per server; the migrator and the account statements run only
//! when the schema version or the desired account state (names, password fingerprints) changed
//! since the last success. Otherwise a reconcile costs one `SELECT` of the schema version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::Executor;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use thiserror::Error;

use crate::crd::MySqlSpec;
use crate::reconcile::clients::{Clients, fingerprint, mysql_pool};
use crate::reconcile::observe::secrets::{Resolved, SecretString};

/// MySQL failures, phrased for the status (never with the URL, which holds a password).
#[derive(Debug, Error)]
pub enum MySqlCheckError {
    /// The URL in the Secret does not parse.
    #[error("the MySQL URL in Secret {secret:?} is not a valid mysql:// URL")]
    BadUrl { secret: String },
    /// No connection.
    #[error("MySQL is unreachable: {0}")]
    Unreachable(String),
    /// Migrations failed.
    #[error("schema migration failed: {0}")]
    Migration(String),
    /// An account could not be made ours (it is the admin, or someone else's).
    #[error("{0}")]
    AccountRefused(String),
    /// Account statements failed.
    #[error("managing the database accounts failed: {0}")]
    Accounts(String),
}

impl MySqlCheckError {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            MySqlCheckError::BadUrl { .. } => "MySQLUrlInvalid",
            MySqlCheckError::Unreachable(_) => "MySQLUnreachable",
            MySqlCheckError::Migration(_) => "MigrationFailed",
            MySqlCheckError::AccountRefused(_) => "AccountRefused",
            MySqlCheckError::Accounts(_) => "AccountsFailed",
        }
    }
}

/// Role of an account the operator manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRole {
    /// Read-only, for dashboards.
    Reporting,
    /// DML only, for the transformers.
    Writer,
}

/// An account the pipeline should have.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAccount {
    /// User name (host is `%`).
    pub user: String,
    /// Password.
    pub password: SecretString,
    /// What it may do.
    pub role: AccountRole,
    /// Created `REQUIRE SSL` (the spec's `mysql.tls` is set).
    pub require_tls: bool,
}

/// Why an account statement failed: refused by policy, or failed.
#[derive(Debug)]
pub enum AccountError {
    /// The account is the admin's or not ours; the message says what to fix.
    Refused(String),
    /// MySQL failed.
    Failed(String),
}

/// Who owns the tables: migrations, version check and accounts. A trait so the decisions around
/// it are unit-testable without a server; [`crate::reconcile::schema_owner`] is the real one.
pub trait SchemaOwner: Send + Sync {
    /// Applies all migrations to the pool's database (idempotent).
    fn migrate<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), String>>;
    /// Whether `database` is at the version this build needs (on the shared server pool).
    fn is_current<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>>;
    /// Creates the account or brings it in line; refuses accounts that are not ours.
    fn ensure_account<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        account: &'a DesiredAccount,
    ) -> BoxFuture<'a, Result<(), AccountError>>;
    /// Drops every account recorded as this database's; returns their names.
    fn drop_accounts<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
}

/// Desired-state fingerprints of the last successful ensure, per pipeline (uid), so the migrator
/// and account statements run only when something changed.
#[derive(Debug, Default)]
pub struct EnsuredSchemas(Mutex<HashMap<String, u64>>);

impl EnsuredSchemas {
    fn get(&self, key: &str) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }
    fn set(&self, key: &str, value: u64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), value);
    }
    /// Forgets a pipeline (deleted, or its schema must be re-checked).
    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

fn admin_options(
    spec: &MySqlSpec,
    url: &SecretString,
) -> Result<MySqlConnectOptions, MySqlCheckError> {
    url.expose()
        .parse::<MySqlConnectOptions>()
        .map_err(|_| MySqlCheckError::BadUrl {
            secret: spec.url_secret.name.clone(),
        })
}

/// sqlx errors can quote the connection string; keep only what precedes any URL.
pub fn redact(message: &str) -> String {
    match message.find("mysql://") {
        Some(at) => format!("{}<url redacted>", &message[..at]),
        None => message.to_string(),
    }
}

/// The shared pool of the admin URL's server (no default database: statements name it).
fn server_pool(
    clients: &Clients,
    spec: &MySqlSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<Arc<MySqlPool>, MySqlCheckError> {
    let options = admin_options(spec, &secrets.mysql_admin_url)?;
    let endpoint = format!(
        "{}:{}@{}",
        options.get_host(),
        options.get_port(),
        options.get_username()
    );
    clients.mysql.get_or_try_insert(
        &endpoint,
        fingerprint(&[secrets.mysql_admin_url.expose()]),
        || Ok(mysql_pool(options.database(""), timeout)),
    )
}

/// A pool on the pipeline's database, for the migrator (which works on the default database).
fn database_pool(
    spec: &MySqlSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<MySqlPool, MySqlCheckError> {
    let options = admin_options(spec, &secrets.mysql_admin_url)?;
    Ok(mysql_pool(options.database(&spec.database), timeout))
}

fn unreachable(e: impl std::fmt::Display) -> MySqlCheckError {
    MySqlCheckError::Unreachable(redact(&e.to_string()))
}

/// The transformers' URL: the admin URL's server with the writer account and the pipeline's database.
pub fn writer_url(
    admin_url: &str,
    database: &str,
    writer: &DesiredAccount,
) -> Result<String, sqlx::Error> {
    let options: MySqlConnectOptions = admin_url.parse()?;
    // Passwords we generate are alphanumeric, so they need no escaping in a URL.
    let query = admin_url.split_once('?').map(|(_, q)| format!("?{q}"));
    Ok(format!(
        "mysql://{}:{}@{}:{}/{database}{}",
        writer.user,
        writer.password.expose(),
        options.get_host(),
        options.get_port(),
        query.unwrap_or_default()
    ))
}

/// One pipeline's database as it should be.
pub struct SchemaTarget<'a> {
    /// Key of the pipeline in the caches.
    pub pipeline_key: &'a str,
    /// The spec's `mysql` block.
    pub spec: &'a MySqlSpec,
    /// Its resolved Secrets.
    pub secrets: &'a Resolved,
    /// The accounts it should have.
    pub accounts: &'a [DesiredAccount],
}

/// Brings database, migrations and accounts in line, doing work only when something changed.
pub async fn ensure_schema(
    clients: &Clients,
    ensured: &EnsuredSchemas,
    target: SchemaTarget<'_>,
    owner: &dyn SchemaOwner,
    timeout: Duration,
) -> Result<(), MySqlCheckError> {
    let SchemaTarget {
        pipeline_key,
        spec,
        secrets,
        accounts,
    } = target;
    let mut state: Vec<&str> = vec![secrets.mysql_admin_url.expose(), &spec.database];
    for account in accounts {
        state.push(&account.user);
        state.push(account.password.expose());
    }
    let desired = fingerprint(&state);
    let server = server_pool(clients, spec, secrets, timeout)?;
    if ensured.get(pipeline_key) == Some(desired)
        && owner
            .is_current(&server, &spec.database)
            .await
            .map_err(|e| unreachable(&e))?
    {
        return Ok(());
    }
    // The name is restricted to [A-Za-z0-9_] by the CRD, so quoting with backticks is safe.
    let create = format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        spec.database
    );
    server
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(create)))
        .await
        .map_err(unreachable)?;
    // The migrator works on the connection's default database: a short-lived pool for it.
    let database = database_pool(spec, secrets, timeout)?;
    let migrated = owner.migrate(&database).await;
    database.close().await;
    migrated.map_err(|e| MySqlCheckError::Migration(redact(&e)))?;
    for account in accounts {
        owner
            .ensure_account(&server, &spec.database, account)
            .await
            .map_err(|e| match e {
                AccountError::Refused(why) => MySqlCheckError::AccountRefused(why),
                AccountError::Failed(why) => MySqlCheckError::Accounts(redact(&why)),
            })?;
    }
    ensured.set(pipeline_key, desired);
    Ok(())
}

/// Drops the database and the accounts made for it (`deletionPolicy: Delete`); returns the
/// accounts dropped.
pub async fn drop_schema(
    clients: &Clients,
    spec: &MySqlSpec,
    secrets: &Resolved,
    owner: &dyn SchemaOwner,
    timeout: Duration,
) -> Result<Vec<String>, MySqlCheckError> {
    let server = server_pool(clients, spec, secrets, timeout)?;
    let dropped = owner
        .drop_accounts(&server, &spec.database)
        .await
        .map_err(|e| MySqlCheckError::Accounts(redact(&e)))?;
    server
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{}`",
            spec.database
        ))))
        .await
        .map_err(unreachable)?;
    Ok(dropped)
}
