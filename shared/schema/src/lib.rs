//! tweetpipe's MySQL schema contract, in one place:
//!
//! - [`MIGRATOR`]: the tables, as versioned sqlx migrations (`shared/schema/migrations/`).
//! - [`version`]: which version a database is at ([`schema_version`]), which one this build
//!   needs ([`required_version`]), and the read-only check a transformer makes before it writes
//!   ([`check_migrated`]).
//! - [`accounts`]: the MySQL accounts the operator creates for a pipeline (a read-only
//!   reporting user, a DML-only writer), recorded as ours in the admin-only control database
//!   `tweetpipe_control` so that an account we did not create is never taken over or dropped.
//!
//! The operator applies the migrations and manages the accounts with its administrative URL;
//! transformers only read the version and write rows.

pub mod accounts;
mod control;
mod error;
mod fingerprint;
mod grants;
mod names;
pub mod ownership;
mod role;
pub mod tls;
pub mod version;

pub use accounts::{
    AccountOutcome, AccountSpec, Role, TransportRequirement, drop_accounts, ensure_account,
    transport_requirement,
};
pub use control::CONTROL_DATABASE;
pub use error::{ACCESS_DENIED_CODES, SchemaError, is_access_denied};
pub use names::{GRANT_WILDCARDS, RESERVED_DATABASES, is_reserved_database, is_wildcard_only};
pub use ownership::{Claim, Owner, Release, claim_database, release_database};
pub use tls::{TlsFailure, tls_failure};
pub use version::{check_migrated, required_version, schema_version};

/// The MySQL schema as versioned migrations (`shared/schema/migrations/`). Running it
/// twice is a no-op: sqlx records applied versions in `_sqlx_migrations` and serialises
/// concurrent runs with an advisory lock.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies [`MIGRATOR`], repairing a run that was interrupted.
///
/// MySQL DDL is not transactional: sqlx records a migration as started (`success = FALSE`)
/// before running it and as done after, and every later run refuses a database left between the
/// two ("dirty"). Every migration here is written to be re-runnable (`CREATE TABLE IF NOT
/// EXISTS`, ...), so:
///
/// - a migration that *fails* (a DDL that waited out `lock_wait_timeout` behind another
///   session's metadata lock, a lost connection) has its record removed here, before the error is
///   returned, so the next run simply applies it again;
/// - a record left dirty all the same (the process killed between the two records: an operator
///   pod deleted mid-migration) is removed and the migration run again, once, with a warning.
///   Only a killed process leaves one, so the warning means that.
///
/// Migrations a newer release applied and this one does not know are accepted, not refused
/// (sqlx's `ignore_missing`): every migration is additive (docs/upgrading.md, "Migrations"), so an
/// operator rolled back one release still runs against the newer schema, and its workers accept a
/// schema version at or above their own (`check_migrated`).
pub async fn migrate(pool: &sqlx::MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    // One session throughout: sqlx's advisory lock is per session and re-entrant there.
    let mut session = pool.acquire().await?;
    let result = match run_clean(&migrator, &mut session).await {
        Err(sqlx::migrate::MigrateError::Dirty(version)) => {
            tracing::warn!(
                version,
                "a migration was interrupted; running it again (migrations are re-runnable)"
            );
            match forget_started(&mut session, version).await {
                Ok(()) => run_clean(&migrator, &mut session).await,
                Err(e) => Err(e.into()),
            }
        }
        other => other,
    };
    if result.is_err() {
        // sqlx releases its advisory lock only after a successful run: ending the session
        // releases it, so no later run on this pool waits for it for ever.
        let _ = session.close().await;
    }
    result
}

/// One run of `migrator`; a migration that failed leaves no "started" record behind.
async fn run_clean(
    migrator: &sqlx::migrate::Migrator,
    session: &mut sqlx::MySqlConnection,
) -> Result<(), sqlx::migrate::MigrateError> {
    // `run_direct`: sqlx's own way around `run`'s "Acquire is not general enough" in Send futures.
    let result = migrator.run_direct(None, session, false).await;
    if let Err(sqlx::migrate::MigrateError::ExecuteMigration(error, version)) = &result {
        tracing::info!(version, %error, "a migration failed; the next attempt runs it again");
        // Should this fail too (the server gone), the record stays and the next run repairs it.
        if let Err(e) = forget_started(session, *version).await {
            tracing::info!(version, error = %e, "the failed migration's record stays; the next run repairs it");
        }
    }
    result
}

/// Removes the "started, not done" record of migration `version`.
async fn forget_started(
    session: &mut sqlx::MySqlConnection,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND success = FALSE")
        .bind(version)
        .execute(session)
        .await
        .map(drop)
}
