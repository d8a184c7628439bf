//! Which schema version a database is at, and the check a transformer makes before it
//! writes. Everything here only reads (`SELECT` on `_sqlx_migrations`), so it works with the
//! writer account.

use sqlx::mysql::MySqlPool;

use crate::SchemaError;

/// Newest migration version this build knows.
pub fn required_version() -> i64 {
    crate::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or_default()
}

/// The newest successfully applied migration of the pool's database; `None` when none was
/// applied (no `_sqlx_migrations` table yet). One indexed read: cheap enough for every
/// reconcile, so the operator can skip the migrator when this equals [`required_version`].
pub async fn schema_version(pool: &MySqlPool) -> Result<Option<i64>, SchemaError> {
    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(pool)
        .await
        .or_else(|e| match &e {
            // Table missing: nothing applied yet.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42S02") => Ok(None),
            _ => Err(e.into()),
        })
}

/// Fails unless every migration of this build has been applied to the pool's database.
pub async fn check_migrated(pool: &MySqlPool) -> Result<(), SchemaError> {
    let needed = required_version();
    let found = schema_version(pool).await?;
    if found.is_some_and(|v| v >= needed) {
        Ok(())
    } else {
        Err(SchemaError::NotMigrated { found, needed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_embedded() {
        assert!(required_version() > 0);
    }
}
