//! The privileges each role gets, and the test "are this account's grants exactly ours?"
//! used to adopt accounts created by earlier versions (before the control table existed).

use crate::accounts::Role;

/// Privileges on `database`.* per role. The writer gets the DML the transformer needs
/// (upserts, the roll-up read, the version check) and nothing that changes the schema.
pub(crate) fn privileges(role: Role) -> &'static [&'static str] {
    match role {
        Role::Reporting => &["SELECT", "SHOW VIEW"],
        Role::Writer => &["SELECT", "INSERT", "UPDATE", "DELETE"],
    }
}

/// `GRANT … ON `database`.* TO account`; names must have been validated.
pub(crate) fn grant_statement(role: Role, database: &str, account: &str) -> String {
    format!(
        "GRANT {} ON `{database}`.* TO {account}",
        privileges(role).join(", ")
    )
}

/// True when `show_grants` (the lines of `SHOW GRANTS FOR account`) are exactly what
/// [`grant_statement`] gives a fresh account: `USAGE` on `*.*` plus the role's privileges on
/// `database`.*, nothing else (no other database, no global privilege, no role, no
/// `WITH GRANT OPTION`). Written for both MariaDB's and MySQL 8's output.
pub(crate) fn grants_match(role: Role, database: &str, show_grants: &[String]) -> bool {
    let wanted_object = format!("`{database}`.*");
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
        } else if grant.object == wanted_object && !saw_database && privileges == wanted {
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
    fn exactly_our_grants_match_on_mariadb_and_mysql() {
        let mariadb = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%` IDENTIFIED BY PASSWORD '*ABC'",
            "GRANT SELECT, SHOW VIEW ON `tp`.* TO `r`@`%`",
        ]);
        assert!(grants_match(Role::Reporting, "tp", &mariadb));
        assert!(!grants_match(Role::Writer, "tp", &mariadb));
        assert!(!grants_match(Role::Reporting, "other", &mariadb));
        let mysql = lines(&[
            "GRANT USAGE ON *.* TO `w`@`%`",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `tp`.* TO `w`@`%`",
        ]);
        assert!(grants_match(Role::Writer, "tp", &mysql));
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
            assert!(!grants_match(Role::Reporting, "tp", &list), "{extra}");
        }
        let global = lines(&["GRANT SELECT, SHOW VIEW ON *.* TO `r`@`%`"]);
        assert!(!grants_match(Role::Reporting, "tp", &global));
        let usage_only = lines(&["GRANT USAGE ON *.* TO `r`@`%`"]);
        assert!(!grants_match(Role::Reporting, "tp", &usage_only));
        let select_only = lines(&[
            "GRANT USAGE ON *.* TO `r`@`%`",
            "GRANT SELECT ON `tp`.* TO `r`@`%`",
        ]);
        assert!(!grants_match(Role::Reporting, "tp", &select_only));
    }
}
