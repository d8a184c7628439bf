//! The privileges each role gets, and the test "are this account's grants exactly ours?"
//! used to adopt accounts created by earlier versions (before the control table existed).

use crate::names::grant_database;
use crate::role::Role;

/// Privileges on `database`.* per role. The writer gets the DML the transformer needs
/// (upserts, the roll-up read, the version check) and nothing that changes the schema.
pub(crate) fn privileges(role: Role) -> &'static [&'static str] {
    match role {
        Role::Reporting => &["SELECT", "SHOW VIEW"],
        Role::Writer => &["SELECT", "INSERT", "UPDATE", "DELETE"],
    }
}

/// `GRANT … ON `database`.* TO account`, with `_` and `%` escaped (in a database-level
/// grant they are wildcards: `acme_prod` would also cover `acme-prod`); names must have been
/// validated.
pub(crate) fn grant_statement(role: Role, database: &str, account: &str) -> String {
    format!(
        "GRANT {} ON {} TO {account}",
        privileges(role).join(", "),
        grant_object(database)
    )
}

/// `` `database`.* `` as GRANT takes it and SHOW GRANTS prints it: wildcards escaped.
fn grant_object(database: &str) -> String {
    format!("`{}`.*", grant_database(database))
}

/// The object an older tweetpipe granted on (wildcards unescaped), when it differs from
/// [`grant_object`]: the database name has a `_` or `%`.
fn legacy_object(database: &str) -> Option<String> {
    let legacy = format!("`{database}`.*");
    (legacy != grant_object(database)).then_some(legacy)
}

/// `REVOKE ALL PRIVILEGES ON `database`.* FROM account` for the unescaped (wildcard) grant an
/// older tweetpipe gave, if `show_grants` has one. REVOKE matches the grant's text exactly, so
/// the unescaped name here removes that wildcard grant and nothing else.
pub(crate) fn legacy_revoke_statement(
    database: &str,
    account: &str,
    show_grants: &[String],
) -> Option<String> {
    let legacy = legacy_object(database)?;
    show_grants
        .iter()
        .filter_map(|line| parse(line))
        .any(|grant| grant.object == legacy)
        .then(|| format!("REVOKE ALL PRIVILEGES ON {legacy} FROM {account}"))
}

/// True when `show_grants` (the lines of `SHOW GRANTS FOR account`) are exactly what
/// [`grant_statement`] gives a fresh account: `USAGE` on `*.*` plus the role's privileges on
/// `database`.*, nothing else (no other database, no global privilege, no role, no
/// `WITH GRANT OPTION`). Written for both MariaDB's and MySQL 8's output.
///
/// With `accept_legacy`, the role's privileges on the unescaped (wildcard) name an older
/// tweetpipe granted also match: such an account is ours, its grant is replaced by the escaped
/// one ([`legacy_revoke_statement`]).
pub(crate) fn grants_match(
    role: Role,
    database: &str,
    show_grants: &[String],
    accept_legacy: bool,
) -> bool {
    let wanted_object = grant_object(database);
    let legacy = legacy_object(database).filter(|_| accept_legacy);
    let mut wanted: Vec<&str> = privileges(role).to_vec();
    wanted.sort_unstable();
    let mut saw_database = false;
    for line in show_grants {
        let Some(grant) = parse(line) else {
            return false;
        };
        if grant.with_grant_option {
            return false;
        }
        let mut privileges = grant.privileges;
        privileges.sort_unstable();
        if grant.object == "*.*" {
            if privileges != ["USAGE"] {
                return false;
            }
        } else if (grant.object == wanted_object || legacy.as_deref() == Some(grant.object))
            && !saw_database
            && privileges == wanted
        {
            saw_database = true;
        } else {
            return false;
        }
    }
    saw_database
}

struct Grant<'a> {
    privileges: Vec<String>,
    object: &'a str,
    with_grant_option: bool,
}

/// `GRANT <privileges> ON <object> TO <account> [IDENTIFIED …] [WITH …]`; other lines
/// (role grants, `SET DEFAULT ROLE`, partial revokes) give `None`.
fn parse(line: &str) -> Option<Grant<'_>> {
    let rest = line.strip_prefix("GRANT ")?;
    let on = rest.find(" ON ")?;
    let after_on = &rest[on + 4..];
    let to = after_on.find(" TO ")?;
    let privileges = rest[..on]
        .split(',')
        .map(|p| p.trim().to_ascii_uppercase())
        .collect();
    Some(Grant {
        privileges,
        object: after_on[..to].trim(),
        with_grant_option: after_on[to..].contains("WITH GRANT OPTION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn grant_statements_name_the_database_only() {
        assert_eq!(
            grant_statement(Role::Reporting, "tp", "'r'@'%'"),
            "GRANT SELECT, SHOW VIEW ON `tp`.* TO 'r'@'%'"
        );
        assert_eq!(
            grant_statement(Role::Writer, "tp", "'w'@'%'"),
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `tp`.* TO 'w'@'%'"
        );
    }

    #[test]
    fn grant_statements_escape_wildcards() {
        for (database, object) in [
            ("acme_prod", "`acme\\_prod`.*"),
            ("a_b_c", "`a\\_b\\_c`.*"),
            ("tp-covid", "`tp-covid`.*"),
        ] {
            assert_eq!(
                grant_statement(Role::Reporting, database, "'r'@'%'"),
                format!("GRANT SELECT, SHOW VIEW ON {object} TO 'r'@'%'")
            );
        }
    }

    #[test]
    fn escaped_grants_as_shown_match_so_reconciles_stay_idempotent() {
        // What MariaDB and MySQL 8 print after grant_statement(…, "acme_prod", …).
        let shown = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%`",
            "GRANT SELECT, SHOW VIEW ON `acme\\_prod`.* TO `r`@`%`",
        ]);
        for accept_legacy in [false, true] {
            assert!(grants_match(
                Role::Reporting,
                "acme_prod",
                &shown,
                accept_legacy
            ));
        }
        assert_eq!(
            legacy_revoke_statement("acme_prod", "'r'@'%'", &shown),
            None
        );
        // Another database the escaped grant must not be mistaken for.
        assert!(!grants_match(Role::Reporting, "acme-prod", &shown, true));
    }

    #[test]
    fn unescaped_grants_of_older_versions_are_replaced() {
        let legacy = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%`",
            "GRANT SELECT, SHOW VIEW ON `acme_prod`.* TO `r`@`%`",
        ]);
        // Not what we want now: the reconcile grants the escaped form...
        assert!(!grants_match(Role::Reporting, "acme_prod", &legacy, false));
        // ...though it proves an unrecorded account is an older tweetpipe's.
        assert!(grants_match(Role::Reporting, "acme_prod", &legacy, true));
        // ...and revokes the wildcard grant by its exact text.
        assert_eq!(
            legacy_revoke_statement("acme_prod", "'r'@'%'", &legacy).as_deref(),
            Some("REVOKE ALL PRIVILEGES ON `acme_prod`.* FROM 'r'@'%'")
        );
        // Names without wildcards never had a different legacy form.
        let plain = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%`",
            "GRANT SELECT, SHOW VIEW ON `tp`.* TO `r`@`%`",
        ]);
        assert_eq!(legacy_revoke_statement("tp", "'r'@'%'", &plain), None);
        // Both grants at once (escaped given, legacy not yet revoked): not a match.
        let both = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%`",
            "GRANT SELECT, SHOW VIEW ON `acme\\_prod`.* TO `r`@`%`",
            "GRANT SELECT, SHOW VIEW ON `acme_prod`.* TO `r`@`%`",
        ]);
        assert!(!grants_match(Role::Reporting, "acme_prod", &both, true));
        assert!(legacy_revoke_statement("acme_prod", "'r'@'%'", &both).is_some());
    }

    #[test]
    fn exactly_our_grants_match_on_mariadb_and_mysql() {
        let mariadb = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%` IDENTIFIED BY PASSWORD '*ABC'",
            "GRANT SELECT, SHOW VIEW ON `tp`.* TO `r`@`%`",
        ]);
        assert!(grants_match(Role::Reporting, "tp", &mariadb, false));
        assert!(!grants_match(Role::Writer, "tp", &mariadb, false));
        assert!(!grants_match(Role::Reporting, "other", &mariadb, false));
        let mysql = lines(&[
            "GRANT USAGE ON *.* TO `w`@`%`",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `tp`.* TO `w`@`%`",
        ]);
        assert!(grants_match(Role::Writer, "tp", &mysql, false));
    }

    #[test]
    fn anything_more_or_less_does_not_match() {
        for extra in [
            "GRANT ALL PRIVILEGES ON `tp`.* TO `r`@`%`",
            "GRANT SELECT ON `other`.* TO `r`@`%`",
            "GRANT `admin`@`%` TO `r`@`%`",
            "GRANT SELECT, SHOW VIEW ON `tp`.* TO `r`@`%` WITH GRANT OPTION",
            "REVOKE SELECT ON `mysql`.* FROM `r`@`%`",
        ] {
            let list = lines(&[
                "GRANT USAGE ON *.* TO `r`@`%`",
                "GRANT SELECT, SHOW VIEW ON `tp`.* TO `r`@`%`",
                extra,
            ]);
            assert!(!grants_match(Role::Reporting, "tp", &list, true), "{extra}");
        }
        let global = lines(&["GRANT SELECT, SHOW VIEW ON *.* TO `r`@`%`"]);
        assert!(!grants_match(Role::Reporting, "tp", &global, true));
        let usage_only = lines(&["GRANT USAGE ON *.* TO `r`@`%`"]);
        assert!(!grants_match(Role::Reporting, "tp", &usage_only, true));
        let select_only = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%`",
            "GRANT SELECT ON `tp`.* TO `r`@`%`",
        ]);
        assert!(!grants_match(Role::Reporting, "tp", &select_only, true));
    }
}
