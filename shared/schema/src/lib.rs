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
/// before running it, so a process killed in the middle (an operator pod deleted mid-reconcile)
/// leaves the database "dirty" and every later run refuses it. Every migration here is written
/// to be re-runnable (`CREATE TABLE IF NOT EXISTS`, ...), so the dirty record is removed and the
/// migration run again, once.
///
/// Migrations a newer release applied and this one does not know are accepted, not refused
/// (sqlx's `ignore_missing`): every migration is additive (docs/upgrading.md, "Migrations"), so an
/// operator rolled back one release still runs against the newer schema, and its workers accept a
/// schema version at or above their own (`check_migrated`).
pub async fn migrate(pool: &sqlx::MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    match migrator.run(pool).await {
        Err(sqlx::migrate::MigrateError::Dirty(version)) => {
            tracing::warn!(
                version,
                "a migration was interrupted; running it again (migrations are re-runnable)"
            );
            sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND success = FALSE")
                .bind(version)
                .execute(pool)
                .await?;
            migrator.run(pool).await
        }
        other => other,
    }
}
