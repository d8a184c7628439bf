//! X API access levels, as far as they change what recent search accepts: the query length and
//! whether the advanced operators are available.

use std::fmt;
use std::str::FromStr;

/// Recent search's query length limit on self-serve access (Basic, Pro, pay-per-use).
pub const SELF_SERVE_MAX_QUERY_CHARS: usize = 512;
/// Recent search's query length limit on Enterprise access.
pub const ENTERPRISE_MAX_QUERY_CHARS: usize = 4096;
/// The default level's limit (self-serve); kept for callers that know no level.
pub const MAX_QUERY_CHARS: usize = SELF_SERVE_MAX_QUERY_CHARS;

/// The access level of the X project whose bearer tokens run the queries.
///
/// X documents two query lengths for recent search (self-serve 512 characters, Enterprise 4,096)
/// and, in its last per-operator availability table, a set of advanced operators (cashtags,
/// `list:`, the place and geo operators, `-is:nullcast`, `has:cashtags`, `has:geo`) that Basic
/// projects cannot use. The default is [`AccessLevel::Pro`]: every operator, 512 characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AccessLevel {
    /// Legacy self-serve Basic: core operators only, 512 characters.
    Basic,
    /// Legacy self-serve Pro: every operator, 512 characters.
    #[default]
    Pro,
    /// Self-serve pay-per-use: every operator, 512 characters.
    PayPerUse,
    /// Enterprise: every operator, 4,096 characters.
    Enterprise,
}

impl AccessLevel {
    /// Every level, in the order X lists them.
    pub const ALL: [AccessLevel; 4] = [
        AccessLevel::Basic,
        AccessLevel::Pro,
        AccessLevel::PayPerUse,
        AccessLevel::Enterprise,
    ];

    /// The longest recent-search query this level accepts, in characters.
    pub fn max_query_chars(self) -> usize {
        match self {
            AccessLevel::Enterprise => ENTERPRISE_MAX_QUERY_CHARS,
            AccessLevel::Basic | AccessLevel::Pro | AccessLevel::PayPerUse => {
                SELF_SERVE_MAX_QUERY_CHARS
            }
        }
    }

    /// The longest filtered-stream rule this level accepts, in characters: 1,024 on Pro and
    /// PayPerUse, 2,048 on Enterprise (X's filtered stream table). Basic, which X's current
    /// table gives no stream, keeps its search length (as the simulator does).
    pub fn max_rule_chars(self) -> usize {
        match self {
            AccessLevel::Enterprise => 2_048,
            AccessLevel::Pro | AccessLevel::PayPerUse => 1_024,
            AccessLevel::Basic => self.max_query_chars(),
        }
    }

    /// How many filtered-stream rules one app may hold: 1,000 on Pro and PayPerUse (and Basic,
    /// as the simulator has it), 25,000 on Enterprise.
    pub fn max_rules_per_app(self) -> usize {
        match self {
            AccessLevel::Enterprise => 25_000,
            AccessLevel::Basic | AccessLevel::Pro | AccessLevel::PayPerUse => 1_000,
        }
    }

    /// The level whose search grammar judges this level's rules: rules use the search
    /// operators but may be longer than a search query, so a level with the same operators and
    /// a query limit no shorter than the rule limit (callers check the rule length first).
    pub fn rule_grammar(self) -> AccessLevel {
        if self.has_advanced_operators() {
            AccessLevel::Enterprise
        } else {
            self
        }
    }

    /// Whether X offers the filtered stream at this level (not on Basic, in its current table).
    pub fn has_filtered_stream(self) -> bool {
        !matches!(self, AccessLevel::Basic)
    }

    /// Whether the advanced (formerly "Elevated") operators are available.
    pub fn has_advanced_operators(self) -> bool {
        !matches!(self, AccessLevel::Basic)
    }

    /// The name used in manifests and messages.
    pub fn name(self) -> &'static str {
        match self {
            AccessLevel::Basic => "Basic",
            AccessLevel::Pro => "Pro",
            AccessLevel::PayPerUse => "PayPerUse",
            AccessLevel::Enterprise => "Enterprise",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An access level name that is not one of [`AccessLevel::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown access level {0:?}; use one of Basic, Pro, PayPerUse, Enterprise")]
pub struct UnknownAccessLevel(pub String);

impl FromStr for AccessLevel {
    type Err = UnknownAccessLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccessLevel::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAccessLevel(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_x_documented_table() {
        assert_eq!(AccessLevel::default(), AccessLevel::Pro);
        assert_eq!(AccessLevel::Basic.max_query_chars(), 512);
        assert_eq!(AccessLevel::Pro.max_query_chars(), 512);
        assert_eq!(AccessLevel::PayPerUse.max_query_chars(), 512);
        assert_eq!(AccessLevel::Enterprise.max_query_chars(), 4096);
        assert!(!AccessLevel::Basic.has_advanced_operators());
        assert!(AccessLevel::Pro.has_advanced_operators());
    }

    #[test]
    fn rule_limits_follow_the_filtered_stream_table() {
        assert_eq!(AccessLevel::Pro.max_rule_chars(), 1_024);
        assert_eq!(AccessLevel::PayPerUse.max_rule_chars(), 1_024);
        assert_eq!(AccessLevel::Enterprise.max_rule_chars(), 2_048);
        assert_eq!(AccessLevel::Basic.max_rule_chars(), 512);
        assert_eq!(AccessLevel::Pro.max_rules_per_app(), 1_000);
        assert_eq!(AccessLevel::Enterprise.max_rules_per_app(), 25_000);
        for level in AccessLevel::ALL {
            let grammar = level.rule_grammar();
            assert!(
                grammar.max_query_chars() >= level.max_rule_chars(),
                "{level}"
            );
            assert_eq!(
                grammar.has_advanced_operators(),
                level.has_advanced_operators(),
                "{level}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for level in AccessLevel::ALL {
            assert_eq!(level.name().parse::<AccessLevel>(), Ok(level));
        }
        assert_eq!(
            "enterprise".parse::<AccessLevel>(),
            Ok(AccessLevel::Enterprise)
        );
        assert!("Gold".parse::<AccessLevel>().is_err());
    }
}
