//! Names that end up inside account-management statements, which cannot take placeholders:
//! validated to a safe alphabet, and the password quoted as a string literal.

use crate::SchemaError;

pub use tweetpipe_common::contract::databases::{
    GRANT_WILDCARDS, RESERVED_DATABASES, is_reserved_database, is_wildcard_only,
};

/// `database` as the database part of a GRANT or REVOKE: `_` and `%` escaped, so that
/// `acme_prod` grants on `acme_prod` only, not on `acme-prod` or `acmeXprod`. It is also how
/// `SHOW GRANTS` prints such a grant back. Names must have been validated (no backtick, no
/// backslash).
pub(crate) fn grant_database(database: &str) -> String {
    let mut out = String::with_capacity(database.len() + 4);
    for c in database.chars() {
        if GRANT_WILDCARDS.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// MySQL 8 limits user names to 32 characters (MariaDB allows 80).
pub(crate) const MAX_USER: usize = 32;
pub(crate) const MAX_DATABASE: usize = 64;
const MAX_HOST: usize = 60;

/// A pipeline database: a safe name, and neither reserved nor only wildcards. Checked before
/// any statement names it.
pub(crate) fn check_database(database: &str) -> Result<(), SchemaError> {
    check_name("database", database, MAX_DATABASE, true)?;
    if is_reserved_database(database) || is_wildcard_only(database) {
        return Err(SchemaError::ReservedDatabase {
            database: database.to_owned(),
        });
    }
    Ok(())
}

pub(crate) fn check_user(user: &str) -> Result<(), SchemaError> {
    check_name("user", user, MAX_USER, false)
}

/// `%` (any host), `localhost`, or a plain name.
pub(crate) fn check_host(host: &str) -> Result<(), SchemaError> {
    if host == "%" || host == "localhost" {
        Ok(())
    } else {
        check_name("host", host, MAX_HOST, false)
    }
}

pub(crate) fn check_password(password: &str) -> Result<(), SchemaError> {
    if password.is_empty() || password.contains('\0') {
        Err(SchemaError::EmptyPassword)
    } else {
        Ok(())
    }
}

/// `'user'@'host'`, for statements; the parts must have been validated.
pub(crate) fn account(user: &str, host: &str) -> String {
    format!("'{user}'@'{host}'")
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
pub(crate) fn quote_string(value: &str) -> String {
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
        assert!(check_user("report_ro").is_ok());
        assert!(check_user("x'; DROP").is_err());
        assert!(check_user("").is_err());
        assert!(check_user(&"a".repeat(33)).is_err());
        assert!(check_database("tp-covid").is_ok());
        assert!(check_user("tp-covid").is_err());
        assert!(check_host("%").is_ok());
        assert!(check_host("localhost").is_ok());
        assert!(check_host("10.0.0.1").is_err());
        assert!(check_password("").is_err());
        assert!(check_password("a\0b").is_err());
    }

    #[test]
    fn reserved_and_wildcard_only_databases_are_refused() {
        for refused in [
            "mysql",
            "MySQL",
            "information_schema",
            "Performance_Schema",
            "sys",
            "SYS",
            "tweetpipe_control",
            "TweetPipe_Control",
            "_",
            "_____",
        ] {
            assert!(
                matches!(
                    check_database(refused),
                    Err(SchemaError::ReservedDatabase { .. })
                ),
                "{refused}"
            );
        }
        for accepted in [
            "acme_prod",
            "_acme",
            "acme_",
            "tp",
            "mysql2",
            "sys_reports",
            "tweetpipe_control2",
            "x_",
            "tp-covid",
        ] {
            assert!(check_database(accepted).is_ok(), "{accepted}");
        }
        // '%' is not a valid name character at all; only-wildcards covers it anyway.
        assert!(is_wildcard_only("%_%"));
        assert!(!is_wildcard_only(""));
        assert!(check_database("%").is_err());
    }

    #[test]
    fn the_refusal_names_every_reserved_schema() {
        let text = SchemaError::ReservedDatabase {
            database: "sys".into(),
        }
        .to_string();
        for reserved in RESERVED_DATABASES {
            assert!(text.contains(reserved), "{text} misses {reserved}");
        }
    }

    #[test]
    fn grant_database_names_escape_wildcards() {
        assert_eq!(grant_database("tp"), "tp");
        assert_eq!(grant_database("acme_prod"), "acme\\_prod");
        assert_eq!(grant_database("a%b_c"), "a\\%b\\_c");
        assert_eq!(grant_database("tp-covid"), "tp-covid");
    }

    #[test]
    fn passwords_are_quoted() {
        assert_eq!(quote_string("a'b\\c"), "'a''b\\\\c'");
    }
}
