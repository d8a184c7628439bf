//! `tweetpipe-xquery`: the grammar of X API v2 recent-search requests, pure and dependency-free,
//! so the simulator answers exactly what the operator's admission checks predict.
//!
//! - [`parse`] / [`validate`]: the search query language with X's error messages and positions,
//!   the 512-character self-serve limit ([`MAX_QUERY_CHARS`]), standalone-clause and
//!   parenthesis rules.
//! - [`fields`]: the accepted `tweet.fields`, `user.fields`, `place.fields`, `expansions`, ….

pub mod fields;
mod query;

pub use query::{
    Expr, HasOperator, IsOperator, MAX_QUERY_CHARS, PostFacts, QueryError, QueryErrorKind, parse,
    tokenize, validate,
};
