//! tweetpipe's transformer: Avro posts from Kafka → normalised, enriched rows in MySQL, exactly once.
//!
//! - [`transform`]: the pure part (text, hashtags, language, kind, topic, sentiment).
//! - [`rows`]: what is stored for one post.
//! - [`store`]: one transaction per batch, idempotent upserts, roll-ups counted once.
//! - [`pipeline`]: Kafka consumer, batching, dead letters, offsets after the commit.
//! - [`config`], [`metrics`], [`retry`], [`db`]: the rest.
//!
//! The MySQL schema (migrations, version check, accounts) is the `tweetpipe-schema` crate's;
//! the transformer only reads the schema version and writes rows (a writer account suffices).

pub mod config;
pub mod db;
pub mod metrics;
pub mod pipeline;
pub mod retry;
pub mod rows;
pub mod store;
pub mod transform;
