//! The MySQL accounts of a pipeline: a read-only reporting user (dashboards) and a DML-only
//! writer (the transformers). The operator calls [`ensure_account`] on every reconcile and
//! [`drop_accounts`] under `deletionPolicy: Delete`, with its administrative pool.
//!
//! Ownership: an account is ours only if the control table ([`crate::CONTROL_DATABASE`])
//! records it for this database and role. An existing account that is not recorded is refused
//! (another pipeline's, a human's), except one whose grants are exactly ours: a reporting user
//! made by a version before the control table, which is adopted.
//!
//! Account statements run on a dedicated connection with statement logging off, so passwords
//! never reach a log; they cannot take placeholders, so names are validated and the password
//! is quoted as a string literal. The password is set only when its fingerprint changed, so
//! MySQL 8 password-history policies never refuse a re-set of the same password.
//!
//! Transport: an account with [`AccountSpec::require_tls`] is created `REQUIRE SSL`, and an
//! existing one is altered to it (or back to `REQUIRE NONE`) only when the server's `ssl_type`
//! differs, so the statements stay idempotent. A stricter requirement set by hand (`X509`,
//! `SPECIFIED`) is left alone.

use std::fmt;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool};
use sqlx::{ConnectOptions, Connection, Executor, Row};

use crate::fingerprint::{fingerprint, new_salt};
use crate::grants::{grant_statement, grants_match, legacy_revoke_statement};
use crate::names::{self, account as account_literal, quote_string};
pub use crate::role::Role;
use crate::{SchemaError, control};

/// ER_NONEXISTING_GRANT: `SHOW GRANTS` for an account that does not exist.
const NO_SUCH_ACCOUNT: u16 = 1141;

/// One account of one pipeline database.
#[derive(Clone)]
pub struct AccountSpec<'a> {
    /// The pipeline's database.
    pub database: &'a str,
    pub user: &'a str,
    /// Host part of the account, usually `%`.
    pub host: &'a str,
    pub role: Role,
    pub password: &'a str,
    /// Whether the server refuses this account's logins without TLS (`REQUIRE SSL`).
    pub require_tls: bool,
}

impl fmt::Debug for AccountSpec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountSpec")
            .field("database", &self.database)
            .field("user", &self.user)
            .field("host", &self.host)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .field("require_tls", &self.require_tls)
            .finish()
    }
}

/// What [`ensure_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOutcome {
    /// The account did not exist (or was recorded but had been dropped) and was created.
    Created,
    /// The password differed from the one last set and was changed.
    PasswordChanged,
    /// Nothing to do (missing grants, if any, were given back; the TLS requirement, if it
    /// differed, was set).
    Unchanged,
    /// An account with exactly this role's grants, made before the control table existed,
    /// is now recorded as ours; its password was set.
    Adopted,
}

/// Creates or updates one account, see the module documentation for the rules.
pub async fn ensure_account(
    pool: &MySqlPool,
    spec: &AccountSpec<'_>,
) -> Result<AccountOutcome, SchemaError> {
    names::check_database(spec.database)?;
    names::check_user(spec.user)?;
    names::check_host(spec.host)?;
    names::check_password(spec.password)?;
    refuse_url_user(pool, spec.user, spec.role)?;
    let mut conn = admin_session(pool).await?;
    let outcome = ensure_locked(&mut conn, spec).await;
    finish(conn, outcome).await
}

/// Drops every account recorded for `database` and forgets them; returns the accounts
/// dropped, as `'user'@'host'`. Accounts not recorded as ours are left alone.
pub async fn drop_accounts(pool: &MySqlPool, database: &str) -> Result<Vec<String>, SchemaError> {
    names::check_database(database)?;
    let mut conn = admin_session(pool).await?;
    let dropped = drop_locked(&mut conn, pool, database).await;
    finish(conn, dropped).await
}

/// The reporting user of `database`: [`ensure_account`] with [`Role::Reporting`]
/// (the transformer crate's former `schema::ensure_reporting_user`).
pub async fn ensure_reporting_user(
    pool: &MySqlPool,
    database: &str,
    user: &str,
    host: &str,
    password: &str,
) -> Result<AccountOutcome, SchemaError> {
    let spec = AccountSpec {
        database,
        user,
        host,
        role: Role::Reporting,
        password,
        require_tls: false,
    };
    ensure_account(pool, &spec).await
}

async fn ensure_locked(
    conn: &mut MySqlConnection,
    spec: &AccountSpec<'_>,
) -> Result<AccountOutcome, SchemaError> {
    refuse_current_user(conn, spec.user, spec.role).await?;
    let account = account_literal(spec.user, spec.host);
    let recorded = control::find(conn, spec.user, spec.host).await?;
    let grants = show_grants(conn, &account).await?;
    match (recorded, grants) {
        (Some(recorded), _)
            if recorded.database != spec.database || recorded.role != spec.role.as_str() =>
        {
            Err(SchemaError::AccountTaken {
                account,
                recorded_database: recorded.database,
                recorded_role: recorded.role,
                database: spec.database.to_owned(),
                role: spec.role.as_str(),
            })
        }
        // Ours but dropped by hand (or a create that failed half-way): create it again.
        (Some(_), None) | (None, None) => {
            // Recorded first: if the create fails after this, the next run sees a recorded
            // account that is missing and creates it; never an unrecorded account of ours.
            record_with_password(conn, spec).await?;
            let create = format!(
                "CREATE USER {account} IDENTIFIED BY {}{}",
                quote_string(spec.password),
                if spec.require_tls { " REQUIRE SSL" } else { "" }
            );
            if let Err(e) = run(conn, &create).await {
                // Someone created it meanwhile: do not keep a row claiming it.
                let _ = control::forget(conn, spec.user, spec.host).await;
                return Err(password_error("CREATE USER", &account, spec.password, e));
            }
            run(conn, &grant_statement(spec.role, spec.database, &account)).await?;
            Ok(AccountOutcome::Created)
        }
        (Some(recorded), Some(grants)) => {
            let outcome = if fingerprint(&recorded.salt, spec.password) == recorded.fingerprint {
                AccountOutcome::Unchanged
            } else {
                set_password(conn, &account, spec.password).await?;
                record_with_password(conn, spec).await?;
                AccountOutcome::PasswordChanged
            };
            if !grants_match(spec.role, spec.database, &grants, false) {
                run(conn, &grant_statement(spec.role, spec.database, &account)).await?;
            }
            // Our account: its wildcard grant from an older version goes (the escaped one
            // above replaces it).
            if let Some(revoke) = legacy_revoke_statement(spec.database, &account, &grants) {
                run(conn, &revoke).await?;
            }
            align_transport(conn, spec, &account).await?;
            Ok(outcome)
        }
        (None, Some(grants)) => {
            // An older version's grant (wildcards unescaped) still proves it was ours.
            if !grants_match(spec.role, spec.database, &grants, true) {
                return Err(SchemaError::ForeignAccount {
                    account,
                    database: spec.database.to_owned(),
                    role: spec.role.as_str(),
                });
            }
            // We cannot tell which password it has: set the one we were given.
            set_password(conn, &account, spec.password).await?;
            record_with_password(conn, spec).await?;
            if let Some(revoke) = legacy_revoke_statement(spec.database, &account, &grants) {
                run(conn, &grant_statement(spec.role, spec.database, &account)).await?;
                run(conn, &revoke).await?;
            }
            align_transport(conn, spec, &account).await?;
            Ok(AccountOutcome::Adopted)
        }
    }
}

pub(crate) async fn drop_locked(
    conn: &mut MySqlConnection,
    pool: &MySqlPool,
    database: &str,
) -> Result<Vec<String>, SchemaError> {
    let mut dropped = Vec::new();
    for (user, host) in control::accounts_of(conn, database).await? {
        // Rows are only written for validated names, but the table is editable by admins.
        names::check_user(&user)?;
        names::check_host(&host)?;
        refuse_url_user(pool, &user, Role::Writer)?;
        refuse_current_user(conn, &user, Role::Writer).await?;
        let account = account_literal(&user, &host);
        run(conn, &format!("DROP USER IF EXISTS {account}")).await?;
        control::forget(conn, &user, &host).await?;
        dropped.push(account);
    }
    Ok(dropped)
}

/// A connection of its own, with statement logging off (passwords are in the statements)
/// and backslash escapes on (what [`quote_string`] assumes), holding the accounts lock.
pub(crate) async fn admin_session(pool: &MySqlPool) -> Result<MySqlConnection, SchemaError> {
    let options: MySqlConnectOptions = (*pool.connect_options()).clone();
    let mut conn = options.disable_statement_logging().connect().await?;
    conn.execute("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        .await?;
    control::prepare(&mut conn).await?;
    Ok(conn)
}

/// Releases the lock and closes the connection; the work's own error wins over these.
pub(crate) async fn finish<T>(
    mut conn: MySqlConnection,
    result: Result<T, SchemaError>,
) -> Result<T, SchemaError> {
    let unlocked = control::unlock(&mut conn).await;
    let closed = conn.close().await;
    let value = result?;
    unlocked?;
    closed?;
    Ok(value)
}

/// The user of the administrative URL is never managed (it would lock the operator out).
fn refuse_url_user(pool: &MySqlPool, user: &str, role: Role) -> Result<(), SchemaError> {
    if same_user(pool.connect_options().get_username(), user) {
        Err(SchemaError::AdminAccount {
            user: user.to_owned(),
            role: role.as_str(),
        })
    } else {
        Ok(())
    }
}

/// Same, with the account the server says we are (`CURRENT_USER()` = `user@host`), which
/// differs from the URL's user when the server maps logins (proxy users, anonymous accounts).
async fn refuse_current_user(
    conn: &mut MySqlConnection,
    user: &str,
    role: Role,
) -> Result<(), SchemaError> {
    let current: String = sqlx::query_scalar("SELECT CURRENT_USER()")
        .fetch_one(&mut *conn)
        .await?;
    let current_user = current
        .rsplit_once('@')
        .map_or(current.as_str(), |(u, _)| u);
    if same_user(current_user, user) {
        Err(SchemaError::AdminAccount {
            user: user.to_owned(),
            role: role.as_str(),
        })
    } else {
        Ok(())
    }
}

/// MySQL user names are case-sensitive; refusing case variants too errs on the safe side.
fn same_user(admin: &str, user: &str) -> bool {
    admin.eq_ignore_ascii_case(user)
}

/// The lines of `SHOW GRANTS FOR account`, or `None` when the account does not exist.
async fn show_grants(
    conn: &mut MySqlConnection,
    account: &str,
) -> Result<Option<Vec<String>>, SchemaError> {
    let statement = format!("SHOW GRANTS FOR {account}");
    let rows = match conn
        .fetch_all(sqlx::raw_sql(sqlx::AssertSqlSafe(statement)))
        .await
    {
        Ok(rows) => rows,
        Err(e) if mysql_number(&e) == Some(NO_SUCH_ACCOUNT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let line = match row.try_get::<String, _>(0) {
            Ok(line) => line,
            Err(_) => String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(0)?).into_owned(),
        };
        lines.push(line);
    }
    Ok(Some(lines))
}

/// Records the account as ours, with a fresh salt and the fingerprint of its password.
async fn record_with_password(
    conn: &mut MySqlConnection,
    spec: &AccountSpec<'_>,
) -> Result<(), SchemaError> {
    let salt = new_salt();
    let print = fingerprint(&salt, spec.password);
    control::record(
        conn,
        spec.user,
        spec.host,
        spec.database,
        spec.role.as_str(),
        &salt,
        &print,
    )
    .await?;
    Ok(())
}

async fn set_password(
    conn: &mut MySqlConnection,
    account: &str,
    password: &str,
) -> Result<(), SchemaError> {
    let alter = format!(
        "ALTER USER {account} IDENTIFIED BY {}",
        quote_string(password)
    );
    run(conn, &alter)
        .await
        .map_err(|e| password_error("ALTER USER", account, password, e))
}

/// What the server requires of an account's transport: `mysql.user.ssl_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportRequirement {
    /// `''`: plaintext allowed.
    NotRequired,
    /// `ANY`: `REQUIRE SSL`.
    Tls,
    /// `X509` or `SPECIFIED`: a client certificate (set by hand; stricter than ours).
    ClientCertificate,
}

impl TransportRequirement {
    fn from_ssl_type(ssl_type: &str) -> Self {
        match ssl_type.to_ascii_uppercase().as_str() {
            "" => TransportRequirement::NotRequired,
            "ANY" => TransportRequirement::Tls,
            _ => TransportRequirement::ClientCertificate,
        }
    }
}

/// The transport requirement of `user@host`, `None` when the account does not exist.
pub async fn transport_requirement(
    conn: &mut MySqlConnection,
    user: &str,
    host: &str,
) -> Result<Option<TransportRequirement>, SchemaError> {
    // mysql.user is a table in MySQL and a view over global_priv in MariaDB; both have ssl_type.
    let ssl_type: Option<String> = sqlx::query_scalar(
        "SELECT CAST(ssl_type AS CHAR) FROM mysql.user WHERE User = ? AND Host = ?",
    )
    .bind(user)
    .bind(host)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(ssl_type.map(|t| TransportRequirement::from_ssl_type(&t)))
}

/// The `ALTER USER … REQUIRE` clause that brings `current` to what `require_tls` asks, if any.
fn transport_change(current: TransportRequirement, require_tls: bool) -> Option<&'static str> {
    match (current, require_tls) {
        (TransportRequirement::NotRequired, true) => Some("REQUIRE SSL"),
        (TransportRequirement::Tls, false) => Some("REQUIRE NONE"),
        _ => None,
    }
}

/// Sets `REQUIRE SSL` / `REQUIRE NONE` when the account's requirement differs from the spec's.
async fn align_transport(
    conn: &mut MySqlConnection,
    spec: &AccountSpec<'_>,
    account: &str,
) -> Result<(), SchemaError> {
    let Some(current) = transport_requirement(conn, spec.user, spec.host).await? else {
        return Ok(());
    };
    if let Some(clause) = transport_change(current, spec.require_tls) {
        run(conn, &format!("ALTER USER {account} {clause}")).await?;
    }
    Ok(())
}

/// Runs one statement that cannot be prepared (account management); its parts are validated.
async fn run(conn: &mut MySqlConnection, statement: &str) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned())))
        .await?;
    Ok(())
}

/// A failed statement that carried the password: keep the server's message only if it does
/// not quote the password (a syntax error would).
fn password_error(
    statement: &'static str,
    account: &str,
    password: &str,
    error: sqlx::Error,
) -> SchemaError {
    let (code, message) = match &error {
        sqlx::Error::Database(db) => (
            mysql_number(&error).map_or_else(|| "?".to_owned(), |n| n.to_string()),
            db.message().to_owned(),
        ),
        other => ("none".to_owned(), other.to_string()),
    };
    let quoted = quote_string(password);
    let detail = if message.contains(password) || message.contains(&quoted[1..quoted.len() - 1]) {
        String::new()
    } else {
        format!(": {message}")
    };
    SchemaError::AccountStatement {
        statement,
        account: account.to_owned(),
        code,
        detail,
    }
}

fn mysql_number(error: &sqlx::Error) -> Option<u16> {
    error
        .as_database_error()?
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_errors_never_quote_the_password() {
        let err = password_error(
            "ALTER USER",
            "'u'@'%'",
            "s3cret",
            sqlx::Error::Protocol("near 's3cret'".to_owned()),
        );
        let text = err.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("'u'@'%'"), "{text}");
    }

    #[test]
    fn specs_do_not_print_passwords() {
        let spec = AccountSpec {
            database: "tp",
            user: "w",
            host: "%",
            role: Role::Writer,
            password: "s3cret",
            require_tls: true,
        };
        assert!(!format!("{spec:?}").contains("s3cret"));
    }

    #[test]
    fn the_transport_requirement_changes_only_between_none_and_ssl() {
        use TransportRequirement::{ClientCertificate, NotRequired, Tls};
        assert_eq!(TransportRequirement::from_ssl_type(""), NotRequired);
        assert_eq!(TransportRequirement::from_ssl_type("ANY"), Tls);
        assert_eq!(
            TransportRequirement::from_ssl_type("X509"),
            ClientCertificate
        );
        assert_eq!(transport_change(NotRequired, true), Some("REQUIRE SSL"));
        assert_eq!(transport_change(Tls, false), Some("REQUIRE NONE"));
        assert_eq!(transport_change(Tls, true), None);
        assert_eq!(transport_change(NotRequired, false), None);
        // Stricter requirements set by hand are never weakened nor replaced.
        assert_eq!(transport_change(ClientCertificate, true), None);
        assert_eq!(transport_change(ClientCertificate, false), None);
    }

    #[test]
    fn admin_user_comparison_ignores_case() {
        assert!(same_user("root", "ROOT"));
        assert!(!same_user("root", "report_ro"));
    }
}
