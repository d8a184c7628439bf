//! `tweetpipe-xquery`: the grammar of X API v2 recent-search requests, pure and dependency-free,
//! so the simulator answers exactly what the operator's admission checks predict.
//!
//! - [`parse_for`] / [`validate_for`]: the search query language with X's error messages and
//!   positions, every documented operator and alias, the standalone-clause and parenthesis
//!   rules, and the [`AccessLevel`]'s length limit and advanced operators ([`parse`] and
//!   [`validate`] use the default level).
//! - [`fields`]: the accepted `tweet.fields`, `user.fields`, `place.fields`, `expansions`, ….
//! - [`geo`]: `point_radius:` and `bounding_box:` shapes, ISO 3166-1 country codes.

mod access;
pub mod fields;
pub mod geo;
mod query;
mod text;

pub use access::{
    AccessLevel, ENTERPRISE_MAX_QUERY_CHARS, MAX_QUERY_CHARS, SELF_SERVE_MAX_QUERY_CHARS,
    UnknownAccessLevel,
};
pub use query::{
    Expr, HAS_VALUES, HasOperator, IS_VALUES, IsOperator, OPERATORS, OperatorSpec, PlaceFacts,
    PostFacts, QueryError, QueryErrorKind, UserRef, parse, parse_for, validate, validate_for,
};
pub use text::{normalize, tokenize};
