//! tweetpipe's transformer: Avro posts from Kafka → normalised, enriched rows in MySQL, exactly once.
//!
//! - [`transform`]: the pure part (text, hashtags, language, kind, topic, sentiment).
//! - [`rows`]: what is stored for one post.
//! - [`store`]: one transaction per batch, idempotent upserts, roll-ups counted once.
//! - [`pipeline`]: the batcher: Kafka consumer, decoding ([`decode`]), batching ([`batch`]),
//!   pausing instead of leaving the group ([`flow`]).
//! - [`writer`]: stores batches, dead letters, offsets after the commit; [`in_order`] keeps
//!   the commits in hand-over order while the stores run side by side.
//! - [`context`], [`ownership`]: rebalance callbacks; nothing committed for a partition this
//!   member no longer owns.
//! - [`freshness`]: API-to-MySQL latency per post, observed after each commit.
//! - [`config`], [`metrics`], [`retry`], [`db`]: the rest.
//!
//! The MySQL schema (migrations, version check, accounts) is the `tweetpipe-schema` crate's;
//! the transformer only reads the schema version and writes rows (a writer account suffices).

pub mod batch;
pub mod config;
pub mod context;
pub mod db;
pub mod decode;
pub mod flow;
pub mod freshness;
pub mod in_order;
pub mod metrics;
pub mod ownership;
pub mod pipeline;
pub mod retry;
pub mod rows;
pub mod store;
pub mod transform;
pub mod writer;
