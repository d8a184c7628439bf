//! What an account is for: the role decides its grants (`grants.rs`) and is recorded with it
//! (`accounts.rs`).

use std::fmt;

/// What an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `SELECT, SHOW VIEW` on the database (dashboards).
    Reporting,
    /// `SELECT, INSERT, UPDATE, DELETE` on the database (transformers); no DDL.
    Writer,
}

impl Role {
    /// As stored in the control table.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reporting => "reporting",
            Role::Writer => "writer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
