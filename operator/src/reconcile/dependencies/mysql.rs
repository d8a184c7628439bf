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
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlSslMode};
use thiserror::Error;
use tweetpipe_schema::{Claim, Owner, Release, Role, TlsFailure, tls_failure};

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
    /// MySQL answered and refused the administrative account (login or a privilege).
    #[error(
        "MySQL refused the administrative account: {0}; check the user and password in the admin URL Secret and that the account may CREATE, ALTER, CREATE USER and GRANT (examples/README.md)"
    )]
    AccessDenied(String),
    /// The TLS handshake failed: wrong CA, a host not on the certificate, or no TLS.
    #[error("{0}")]
    Tls(TlsFailure),
    /// The database is reserved or only GRANT wildcards (a pipeline admitted without the
    /// webhook, or under an older CRD): nothing is created, migrated, granted or dropped.
    #[error(
        "{0}; nothing was created, granted or dropped: create a new TweetPipeline with another mysql.database"
    )]
    DatabaseNotAllowed(String),
    /// The database belongs to another pipeline (recorded in the control database).
    #[error("{0}")]
    DatabaseOwned(String),
    /// The database exists with tables tweetpipe did not make.
    #[error("{0}")]
    ForeignDatabase(String),
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
            MySqlCheckError::AccessDenied(_) => "MySQLAccessDenied",
            MySqlCheckError::Tls(failure) => failure.reason(),
            MySqlCheckError::DatabaseNotAllowed(_) => "DatabaseNotAllowed",
            MySqlCheckError::DatabaseOwned(_) => "DatabaseOwnedByAnotherPipeline",
            MySqlCheckError::ForeignDatabase(_) => "DatabaseNotCreatedByTweetpipe",
            MySqlCheckError::Migration(_) => "MigrationFailed",
            MySqlCheckError::AccountRefused(_) => "AccountRefused",
            MySqlCheckError::Accounts(_) => "AccountsFailed",
        }
    }
}

/// An account the pipeline should have.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAccount {
    /// User name (host is `%`).
    pub user: String,
    /// Password.
    pub password: SecretString,
    /// What it may do (the schema crate's role: it owns the grants each role gets).
    pub role: Role,
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

/// Why a database could not be claimed.
#[derive(Debug)]
pub enum ClaimError {
    /// Recorded for another pipeline; the message names it.
    Owned(String),
    /// Exists with tables tweetpipe did not make.
    Foreign(String),
    /// MySQL refused the administrative account a privilege (CREATE DATABASE, say).
    Denied(String),
    /// MySQL failed.
    Failed(String),
}

/// Who owns the tables: migrations, version check and accounts. A trait so the decisions around
/// it are unit-testable without a server; [`crate::reconcile::schema_owner`] is the real one.
pub trait SchemaOwner: Send + Sync {
    /// Opens one connection on the server pool (and returns it): a refused login or an untrusted
    /// certificate shows here, as its own condition, before any statement runs.
    fn connect<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), sqlx::Error>>;
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
    /// Makes `database` the pipeline's (creating it when missing), or refuses one recorded for
    /// another pipeline or holding tables tweetpipe did not make.
    fn claim_database<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<Claim, ClaimError>>;
    /// Drops the database and its accounts if recorded as the pipeline's; refuses another's,
    /// leaves one without a record alone.
    fn release_database<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<Release, String>>;
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

/// The admin URL's options, with `mysql.tls` (mode, CA) applied over the URL's own `ssl-*`.
fn admin_options(
    spec: &MySqlSpec,
    secrets: &Resolved,
) -> Result<MySqlConnectOptions, MySqlCheckError> {
    let options = secrets
        .mysql_admin_url
        .expose()
        .parse::<MySqlConnectOptions>()
        .map_err(|_| MySqlCheckError::BadUrl {
            secret: spec.url_secret.name.clone(),
        })?;
    let Some(tls) = &spec.tls else {
        return Ok(options);
    };
    let mode = match tls.mode {
        crate::crd::MySqlTlsMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        crate::crd::MySqlTlsMode::VerifyCa => MySqlSslMode::VerifyCa,
        crate::crd::MySqlTlsMode::Required => MySqlSslMode::Required,
    };
    let options = options.ssl_mode(mode);
    Ok(match &secrets.mysql_ca_pem {
        Some(ca) => options.ssl_ca_from_pem(ca.expose().as_bytes().to_vec()),
        None => options,
    })
}

/// Whether the accounts must be created `REQUIRE SSL`: `mysql.tls` is set, or the admin URL
/// itself insists on TLS (`ssl-mode` REQUIRED, VERIFY_CA or VERIFY_IDENTITY).
pub fn tls_required(spec: &MySqlSpec, admin_url: &str) -> bool {
    spec.tls.is_some()
        || admin_url
            .parse::<MySqlConnectOptions>()
            .map(|o| {
                matches!(
                    o.get_ssl_mode(),
                    MySqlSslMode::Required | MySqlSslMode::VerifyCa | MySqlSslMode::VerifyIdentity
                )
            })
            .unwrap_or(false)
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
    let options = admin_options(spec, secrets)?;
    // Pipelines on one server with different TLS settings get pools of their own.
    let tls = tls_fingerprint(spec, secrets);
    let endpoint = format!(
        "{}:{}@{}#tls={tls:x}",
        options.get_host(),
        options.get_port(),
        options.get_username()
    );
    clients.mysql.get_or_try_insert(
        &endpoint,
        fingerprint(&[secrets.mysql_admin_url.expose(), &tls.to_string()]),
        || Ok(mysql_pool(options.database(""), timeout)),
    )
}

/// A pool on the pipeline's database, for the migrator (which works on the default database).
fn database_pool(
    spec: &MySqlSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<MySqlPool, MySqlCheckError> {
    let options = admin_options(spec, secrets)?;
    Ok(mysql_pool(options.database(&spec.database), timeout))
}

/// The TLS settings' part of a pool's identity (mode and CA; no secret in it).
fn tls_fingerprint(spec: &MySqlSpec, secrets: &Resolved) -> u64 {
    match &spec.tls {
        Some(tls) => fingerprint(&[
            tls.mode.ssl_mode(),
            secrets.mysql_ca_pem.as_ref().map_or("", |ca| ca.expose()),
        ]),
        None => 0,
    }
}

fn unreachable(e: impl std::fmt::Display) -> MySqlCheckError {
    MySqlCheckError::Unreachable(redact(&e.to_string()))
}

/// A connection failure, the TLS verdict and a refused login told apart.
fn connect_failed(e: sqlx::Error) -> MySqlCheckError {
    match tls_failure(&e) {
        Some(failure) => MySqlCheckError::Tls(failure),
        None if tweetpipe_schema::is_access_denied(&e) => {
            MySqlCheckError::AccessDenied(redact(&e.to_string()))
        }
        None => unreachable(e),
    }
}

/// Query parameters of the admin URL that name files on the operator's side (CA, client
/// certificate and key): meaningless in a transformer pod, so never passed on.
const OPERATOR_FILE_PARAMETERS: [&str; 6] = [
    "ssl-ca", "sslca", "ssl-cert", "sslcert", "ssl-key", "sslkey",
];
/// The admin URL's `ssl-mode` parameter; `mysql.tls` replaces it in the transformer config.
const SSL_MODE_PARAMETERS: [&str; 2] = ["ssl-mode", "sslmode"];

/// The transformers' URL: the admin URL's server with the writer account and the pipeline's
/// database, and the admin URL's other parameters (`ssl-mode` too, unless `mysql.tls` is set:
/// then the transformer config carries the mode and the mounted CA).
pub fn writer_url(
    admin_url: &str,
    database: &str,
    writer: &DesiredAccount,
    tls_block: bool,
) -> Result<String, sqlx::Error> {
    let options: MySqlConnectOptions = admin_url.parse()?;
    let kept: Vec<&str> = admin_url
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair
                .split_once('=')
                .map_or(*pair, |(n, _)| n)
                .to_ascii_lowercase();
            let operator_file = OPERATOR_FILE_PARAMETERS.contains(&name.as_str());
            let replaced_mode = tls_block && SSL_MODE_PARAMETERS.contains(&name.as_str());
            !(operator_file || replaced_mode)
        })
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    // Passwords we generate are alphanumeric, so they need no escaping in a URL.
    Ok(format!(
        "mysql://{}:{}@{}:{}/{database}{query}",
        writer.user,
        writer.password.expose(),
        options.get_host(),
        options.get_port(),
    ))
}

/// Refuses a reserved or wildcard-only database before any statement names it (the schema
/// crate's own check, so the operator's CREATE/DROP DATABASE obey the same list).
fn refuse_reserved(database: &str) -> Result<(), MySqlCheckError> {
    if tweetpipe_schema::is_reserved_database(database) {
        Err(MySqlCheckError::DatabaseNotAllowed(
            crate::crd::reserved_database_message(),
        ))
    } else if tweetpipe_schema::is_wildcard_only(database) {
        Err(MySqlCheckError::DatabaseNotAllowed(
            crate::crd::WILDCARD_DATABASE_MESSAGE.to_owned(),
        ))
    } else {
        Ok(())
    }
}

/// The pipeline as its database's ownership record names it (namespace, name, uid).
pub fn pipeline_owner(tp: &crate::crd::TweetPipeline) -> Owner<'_> {
    Owner {
        namespace: tp.metadata.namespace.as_deref().unwrap_or_default(),
        name: tp.metadata.name.as_deref().unwrap_or_default(),
        uid: tp.metadata.uid.as_deref().unwrap_or_default(),
    }
}

/// One pipeline's database as it should be.
pub struct SchemaTarget<'a> {
    /// Key of the pipeline in the caches.
    pub pipeline_key: &'a str,
    /// The pipeline, as the database's ownership record names it.
    pub owner: Owner<'a>,
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
    owner: &Arc<dyn SchemaOwner>,
    timeout: Duration,
) -> Result<(), MySqlCheckError> {
    let SchemaTarget {
        pipeline_key,
        owner: pipeline,
        spec,
        secrets,
        accounts,
    } = target;
    refuse_reserved(&spec.database)?;
    let tls = tls_fingerprint(spec, secrets).to_string();
    // The uid too: a pipeline created again under the same name claims its database anew.
    let mut state: Vec<&str> = vec![
        secrets.mysql_admin_url.expose(),
        &spec.database,
        &tls,
        pipeline.uid,
    ];
    for account in accounts {
        state.push(&account.user);
        state.push(account.password.expose());
        state.push(if account.require_tls { "tls" } else { "any" });
    }
    let desired = fingerprint(&state);
    let server = server_pool(clients, spec, secrets, timeout)?;
    // One connection first, so that a TLS failure (wrong CA, host not on the certificate)
    // becomes its own condition rather than a generic "unreachable".
    owner.connect(&server).await.map_err(connect_failed)?;
    if ensured.get(pipeline_key) == Some(desired)
        && owner
            .is_current(&server, &spec.database)
            .await
            .map_err(|e| unreachable(&e))?
    {
        return Ok(());
    }
    // Before anything is created, migrated or granted in it: is it this pipeline's?
    let claim = owner
        .claim_database(&server, &spec.database, pipeline)
        .await
        .map_err(|e| match e {
            ClaimError::Owned(why) => MySqlCheckError::DatabaseOwned(why),
            ClaimError::Foreign(why) => MySqlCheckError::ForeignDatabase(why),
            ClaimError::Denied(why) => MySqlCheckError::AccessDenied(redact(&why)),
            ClaimError::Failed(why) => unreachable(&why),
        })?;
    if claim != Claim::Owned {
        tracing::info!(database = %spec.database, claim = ?claim, "database recorded as this pipeline's");
    }
    // The migrator works on the connection's default database: a short-lived pool for it.
    // On a task of its own: MySQL DDL is not transactional, so a migration cut off half-way (this
    // reconcile timing out) would leave the database "dirty" for the next run to repair. Detached,
    // it finishes even when the reconcile gives up waiting; the next reconcile finds it current.
    let database = database_pool(spec, secrets, timeout)?;
    let migrator = Arc::clone(owner);
    let migration = tokio::spawn(async move {
        let migrated = migrator.migrate(&database).await;
        database.close().await;
        migrated
    });
    migration
        .await
        .map_err(|e| MySqlCheckError::Migration(format!("the migration task failed: {e}")))?
        .map_err(|e| MySqlCheckError::Migration(redact(&e)))?;
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

/// Drops the database and the accounts made for it (`deletionPolicy: Delete`) if it is recorded
/// as this pipeline's; another pipeline's is refused, one without a record left alone.
pub async fn drop_schema(
    clients: &Clients,
    spec: &MySqlSpec,
    secrets: &Resolved,
    pipeline: Owner<'_>,
    owner: &dyn SchemaOwner,
    timeout: Duration,
) -> Result<Release, MySqlCheckError> {
    // Above all: never DROP DATABASE mysql or the ledger.
    refuse_reserved(&spec.database)?;
    let server = server_pool(clients, spec, secrets, timeout)?;
    owner
        .release_database(&server, &spec.database, pipeline)
        .await
        .map_err(|e| MySqlCheckError::Accounts(redact(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::MySqlTls;
    use crate::reconcile::dependencies::mysql;
    use tweetpipe_operator_core::fixtures::{pipeline, pipeline_with};

    #[test]
    fn reserved_and_wildcard_databases_are_refused_before_any_statement() {
        for (database, refused) in [
            ("tweets_covid19", false),
            ("acme_prod", false),
            ("sys_reports", false),
            ("mysql", true),
            ("Performance_Schema", true),
            ("tweetpipe_control", true),
            ("____", true),
        ] {
            let verdict = refuse_reserved(database);
            assert_eq!(verdict.is_err(), refused, "{database}");
            if let Err(e) = verdict {
                assert_eq!(e.reason(), "DatabaseNotAllowed");
                assert!(e.to_string().contains("another mysql.database"), "{e}");
            }
        }
    }

    #[test]
    fn accounts_require_tls_when_the_spec_or_the_admin_url_asks_for_it() {
        let plain = pipeline();
        assert!(!mysql::tls_required(&plain.spec.mysql, "mysql://root:p@db"));
        assert!(!mysql::tls_required(
            &plain.spec.mysql,
            "mysql://root:p@db?ssl-mode=PREFERRED"
        ));
        for mode in ["REQUIRED", "VERIFY_CA", "verify_identity"] {
            assert!(
                mysql::tls_required(
                    &plain.spec.mysql,
                    &format!("mysql://root:p@db?ssl-mode={mode}")
                ),
                "{mode}"
            );
        }
        let tls = pipeline_with(|tp| tp.spec.mysql.tls = Some(MySqlTls::default()));
        assert!(mysql::tls_required(&tls.spec.mysql, "mysql://root:p@db"));
        assert_eq!(
            serde_json::to_value(MySqlTls::default()).unwrap(),
            serde_json::json!({"mode": "verify-identity"})
        );
    }

    #[test]
    fn transformer_url_is_the_writer_on_the_pipeline_database() {
        let writer = DesiredAccount {
            user: "tpw_0123".into(),
            password: SecretString::new("Secret123".into()),
            role: tweetpipe_schema::Role::Writer,
            require_tls: false,
        };
        let cases = [
            (
                "mysql://root:adm@db:3306",
                "mysql://tpw_0123:Secret123@db:3306/tweets",
            ),
            (
                "mysql://root:adm@db:3306/",
                "mysql://tpw_0123:Secret123@db:3306/tweets",
            ),
            (
                "mysql://root:adm@db/other?ssl-mode=required",
                "mysql://tpw_0123:Secret123@db:3306/tweets?ssl-mode=required",
            ),
            // The operator's CA file means nothing in a pod: dropped, other parameters kept.
            (
                "mysql://root:adm@db/other?ssl-mode=VERIFY_CA&ssl-ca=/etc/ca.pem&charset=utf8mb4",
                "mysql://tpw_0123:Secret123@db:3306/tweets?ssl-mode=VERIFY_CA&charset=utf8mb4",
            ),
        ];
        for (admin, expected) in cases {
            assert_eq!(
                mysql::writer_url(admin, "tweets", &writer, false).expect("valid URL"),
                expected,
                "{admin}"
            );
        }
        // With `mysql.tls`, the transformer config carries the mode: the URL's is dropped too.
        assert_eq!(
            mysql::writer_url(
                "mysql://root:adm@db/other?ssl-mode=required&charset=utf8mb4",
                "tweets",
                &writer,
                true
            )
            .expect("valid URL"),
            "mysql://tpw_0123:Secret123@db:3306/tweets?charset=utf8mb4"
        );
    }
}
