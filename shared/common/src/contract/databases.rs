//! Which MySQL databases a pipeline may use: read by the CRD's CEL rules and the admission webhook
//! (in the operator's pure core) and by `tweetpipe-schema`'s checks, from this one list.

/// Name of tweetpipe's control database: the ownership ledger and the administrative account.
pub const CONTROL_DATABASE: &str = "tweetpipe_control";

/// Schemas no pipeline may use as its database: the server's own (a pipeline's writer would get
/// DML on the grant tables) and tweetpipe's ownership ledger (its writer could rewrite who owns
/// what, and `deletionPolicy: Delete` would drop it). Compared case-insensitively.
pub const RESERVED_DATABASES: [&str; 5] = [
    "mysql",
    "information_schema",
    "performance_schema",
    "sys",
    CONTROL_DATABASE,
];

/// The characters that are wildcards in a database-level GRANT's database name.
pub const GRANT_WILDCARDS: [char; 2] = ['_', '%'];

/// Whether `database` is one of [`RESERVED_DATABASES`], in any case.
pub fn is_reserved_database(database: &str) -> bool {
    RESERVED_DATABASES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(database))
}

/// Whether `database` is made only of [`GRANT_WILDCARDS`] (`_____`): escaped grants would be
/// safe, but such a name is a probe for unescaped ones, never a real pipeline's database.
pub fn is_wildcard_only(database: &str) -> bool {
    !database.is_empty() && database.chars().all(|c| GRANT_WILDCARDS.contains(&c))
}
