//! The real [`SchemaOwner`]: `tweetpipe-schema`'s migrations, version check and owned accounts.

use futures::future::BoxFuture;
use sqlx::mysql::MySqlPool;
use tweetpipe_schema::{AccountSpec, Claim, Owner, Release, SchemaError};

use super::dependencies::mysql::{AccountError, ClaimError, DesiredAccount, SchemaOwner};

/// Migrations and accounts from `tweetpipe-schema`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PipelineSchema;

impl SchemaOwner for PipelineSchema {
    fn connect<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move { pool.acquire().await.map(drop) })
    }

    fn migrate<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            tweetpipe_schema::migrate(pool)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn is_current<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            // The name is restricted to [A-Za-z0-9_] by the CRD, so quoting with backticks is safe.
            let query = format!(
                "SELECT MAX(version) FROM `{database}`._sqlx_migrations WHERE success = TRUE"
            );
            let found: Result<Option<i64>, sqlx::Error> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(query))
                    .fetch_one(pool)
                    .await;
            match found {
                Ok(version) => {
                    Ok(version.is_some_and(|v| v >= tweetpipe_schema::required_version()))
                }
                // No database or no migrations table yet: not current.
                Err(sqlx::Error::Database(db))
                    if matches!(db.code().as_deref(), Some("42S02" | "42000")) =>
                {
                    Ok(false)
                }
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn ensure_account<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        account: &'a DesiredAccount,
    ) -> BoxFuture<'a, Result<(), AccountError>> {
        Box::pin(async move {
            let spec = AccountSpec {
                database,
                user: &account.user,
                host: "%",
                role: account.role,
                password: account.password.expose(),
                require_tls: account.require_tls,
            };
            match tweetpipe_schema::ensure_account(pool, &spec).await {
                Ok(_) => Ok(()),
                Err(
                    e @ (SchemaError::AdminAccount { .. }
                    | SchemaError::ForeignAccount { .. }
                    | SchemaError::AccountTaken { .. }
                    | SchemaError::InvalidName { .. }
                    | SchemaError::ReservedDatabase { .. }),
                ) => Err(AccountError::Refused(e.to_string())),
                Err(e) => Err(AccountError::Failed(e.to_string())),
            }
        })
    }

    fn claim_database<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        Box::pin(async move {
            tweetpipe_schema::claim_database(pool, database, owner)
                .await
                .map_err(|e| match e {
                    SchemaError::DatabaseOwned { .. } => ClaimError::Owned(e.to_string()),
                    SchemaError::ForeignDatabase { .. }
                    | SchemaError::ReservedDatabase { .. }
                    | SchemaError::InvalidName { .. } => ClaimError::Foreign(e.to_string()),
                    SchemaError::Database(ref db) if tweetpipe_schema::is_access_denied(db) => {
                        ClaimError::Denied(e.to_string())
                    }
                    e => ClaimError::Failed(e.to_string()),
                })
        })
    }

    fn release_database<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<Release, String>> {
        Box::pin(async move {
            tweetpipe_schema::release_database(pool, database, owner)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
