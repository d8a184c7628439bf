//! Names no other test run uses, so tests share the platform without seeing each other's data.

/// `len` random lowercase hex digits (at most 32).
pub fn random_hex(len: usize) -> String {
    let mut hex = uuid::Uuid::new_v4().simple().to_string();
    hex.truncate(len);
    hex
}

/// `{prefix}_{32 hex digits}`: databases, topics, consumer groups, scratch directories.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", random_hex(32))
}

/// `{prefix}_{12 hex digits}`: names with a tight length limit, such as MySQL accounts.
pub fn short_unique(prefix: &str) -> String {
    format!("{prefix}_{}", random_hex(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_their_prefix_and_length_and_differ() {
        let (a, b) = (unique("db"), unique("db"));
        assert_ne!(a, b);
        assert!(a.starts_with("db_") && a.len() == 3 + 32, "{a}");
        let short = short_unique("ro");
        assert!(short.starts_with("ro_") && short.len() == 3 + 12, "{short}");
        assert_eq!(random_hex(6).len(), 6);
    }
}
