//! The real [`SchemaOwner`]: the schema crate's migrations and account management.

use futures::future::BoxFuture;
use sqlx::mysql::MySqlPool;

use super::dependencies::mysql::{AccountError, DesiredAccount, SchemaOwner};

/// Migrations and accounts from `tweetpipe-schema`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PipelineSchema;

impl SchemaOwner for PipelineSchema {
    fn migrate<'a>(&'a self, pool: &'a MySqlPool) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            tweetpipe_transformer::MIGRATOR
                .run(pool)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn is_current<'a>(
        &'a self,
        _pool: &'a MySqlPool,
        _database: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move { Ok(false) })
    }

    fn ensure_account<'a>(
        &'a self,
        pool: &'a MySqlPool,
        database: &'a str,
        account: &'a DesiredAccount,
    ) -> BoxFuture<'a, Result<(), AccountError>> {
        Box::pin(async move {
            tweetpipe_transformer::schema::ensure_reporting_user(
                pool,
                database,
                &account.user,
                "%",
                account.password.expose(),
            )
            .await
            .map_err(|e| AccountError::Failed(e.to_string()))
        })
    }

    fn drop_accounts<'a>(
        &'a self,
        _pool: &'a MySqlPool,
        _database: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
}
