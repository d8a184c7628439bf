//! What can go wrong, phrased so that the message says what to fix.

/// MySQL's "access denied" errors: 1044 (no rights on the database), 1045 (login refused: wrong
/// user or password), 1142 (no rights on a table), 1227 (a privilege such as CREATE USER missing).
pub const ACCESS_DENIED_CODES: [u16; 4] = [1044, 1045, 1142, 1227];

/// Whether `error` is MySQL refusing the account (see [`ACCESS_DENIED_CODES`]), not a failure to
/// reach it.
pub fn is_access_denied(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| ACCESS_DENIED_CODES.contains(&e.number())),
        _ => false,
    }
}

/// Errors of the schema contract. Messages never contain a password.
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
    #[error(
        "database {database:?} cannot be a pipeline database: it is a reserved schema (mysql, information_schema, performance_schema, sys, or tweetpipe's ownership ledger tweetpipe_control) or made only of the GRANT wildcards '_' and '%'; choose another name"
    )]
    ReservedDatabase { database: String },
    #[error("the account's password must not be empty nor contain NUL")]
    EmptyPassword,
    #[error("MySQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "the database schema is at version {found:?} but this transformer needs {needed}; the operator applies migrations (MIGRATOR) before it starts transformers"
    )]
    NotMigrated { found: Option<i64>, needed: i64 },
    #[error(
        "refusing to manage MySQL user {user:?}: it is the administrative account the operator connects with; give the pipeline's {role} user another name"
    )]
    AdminAccount { user: String, role: &'static str },
    #[error(
        "MySQL account {account} already exists and was not created by tweetpipe for database `{database}` (its grants are not exactly those of a {role} user there); choose another user name, or drop that account by hand if it is a leftover"
    )]
    ForeignAccount {
        account: String,
        database: String,
        role: &'static str,
    },
    #[error(
        "MySQL account {account} is tweetpipe's {recorded_role} user of database `{recorded_database}`; it cannot also be the {role} user of `{database}`: choose another user name"
    )]
    AccountTaken {
        account: String,
        recorded_database: String,
        recorded_role: String,
        database: String,
        role: &'static str,
    },
    #[error(
        "{statement} for MySQL account {account} failed (MySQL error {code}){detail}; check the server's password policy and the administrative account's privileges"
    )]
    AccountStatement {
        statement: &'static str,
        account: String,
        code: String,
        /// The server's message, only when it does not quote the password.
        detail: String,
    },
    #[error(
        "database `{database}` belongs to TweetPipeline {owner_namespace}/{owner_name} (uid {owner_uid}); nothing was created, migrated, granted or dropped in it: choose another mysql.database"
    )]
    DatabaseOwned {
        database: String,
        owner_namespace: String,
        owner_name: String,
        owner_uid: String,
    },
    #[error(
        "database `{database}` already exists with {tables} table(s) and was not created by tweetpipe; nothing was changed in it: choose another mysql.database, or empty or drop that database if it is a leftover"
    )]
    ForeignDatabase { database: String, tables: i64 },
    #[error(
        "another operator is changing tweetpipe's MySQL accounts (lock {lock:?} not obtained within {seconds} s); it is retried on the next reconcile"
    )]
    Busy { lock: &'static str, seconds: u32 },
}
