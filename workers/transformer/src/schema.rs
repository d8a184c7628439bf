//! The schema's life cycle outside the migrations: the read-only reporting user, and the
//! check a transformer makes before it writes.
//!
//! The reporting user is not in the migrations because its name and password come from the
//! operator (a Secret) and differ per installation, while migrations are fixed text applied
//! once. The operator calls [`ensure_reporting_user`] after [`crate::MIGRATOR`] on every
//! reconcile: it creates the user if missing, sets the password (so rotating the Secret
//! rotates the password) and grants `SELECT` on the pipeline's database only.

use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{ConnectOptions, Connection, Executor};

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "invalid {what} {value:?}: use 1-{max} characters from A-Z, a-z, 0-9, '_' (and '-' for databases)"
    )]
    InvalidName {
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error("the reporting user's password must not be empty nor contain NUL")]
    EmptyPassword,
    #[error("MySQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "the database schema is at version {found:?} but this transformer needs {needed}; the operator applies migrations (MIGRATOR) before it starts transformers"
    )]
    NotMigrated { found: Option<i64>, needed: i64 },
}

/// Creates (or updates) a MySQL user that can only read `database`.
///
/// The statements run on a dedicated connection with statement logging off, so the password
/// never reaches a log. `host` is the account's host part, usually `%`.
pub async fn ensure_reporting_user(
    pool: &MySqlPool,
    database: &str,
    user: &str,
    host: &str,
    password: &str,
) -> Result<(), SchemaError> {
    check_name("database", database, 64, true)?;
    check_name("user", user, 32, false)?;
    if host != "%" && host != "localhost" {
        check_name("host", host, 60, false)?;
    }
    if password.is_empty() || password.contains('\0') {
        return Err(SchemaError::EmptyPassword);
    }
    let options: MySqlConnectOptions = (*pool.connect_options()).clone();
    let mut conn = options.disable_statement_logging().connect().await?;
    // quote_string escapes backslashes, which is right only without NO_BACKSLASH_ESCAPES.
    conn.execute("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        .await?;
    let account = format!("'{user}'@'{host}'");
    let password = quote_string(password);
    // Account management statements cannot take placeholders; the names are validated above
    // and the password is quoted as a string literal.
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}"
    ))))
    .await?;
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER USER {account} IDENTIFIED BY {password}"
    ))))
    .await?;
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "GRANT SELECT, SHOW VIEW ON `{database}`.* TO {account}"
    ))))
    .await?;
    conn.close().await?;
    Ok(())
}

/// Newest migration version this build knows.
pub fn required_version() -> i64 {
    crate::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or_default()
}

/// Fails unless every migration of this build has been applied to the pool's database.
pub async fn check_migrated(pool: &MySqlPool) -> Result<(), SchemaError> {
    let needed = required_version();
    let found: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(pool)
            .await
            .or_else(|e| match &e {
                // Table missing: nothing applied yet.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42S02") => Ok(None),
                _ => Err(e),
            })?;
    if found.is_some_and(|v| v >= needed) {
        Ok(())
    } else {
        Err(SchemaError::NotMigrated { found, needed })
    }
}

fn check_name(
    what: &'static str,
    value: &str,
    max: usize,
    allow_dash: bool,
) -> Result<(), SchemaError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_dash && c == '-'));
    if ok {
        Ok(())
    } else {
        Err(SchemaError::InvalidName {
            what,
            value: value.to_owned(),
            max,
        })
    }
}

/// A MySQL string literal (for a session without `NO_BACKSLASH_ESCAPES`).
fn quote_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(check_name("user", "report_ro", 32, false).is_ok());
        assert!(check_name("user", "x'; DROP", 32, false).is_err());
        assert!(check_name("user", "", 32, false).is_err());
        assert!(check_name("database", "tp-covid", 64, true).is_ok());
        assert!(check_name("user", "tp-covid", 32, false).is_err());
    }

    #[test]
    fn passwords_are_quoted() {
        assert_eq!(quote_string("a'b\\c"), "'a''b\\\\c'");
    }

    #[test]
    fn migrations_are_embedded() {
        assert!(required_version() > 0);
    }
}
