//! tweetpipe's transformer: Avro posts from Kafka → normalised, enriched rows in MySQL, exactly once.
//!
//! - [`transform`]: the pure part (text, hashtags, language, kind, topic, sentiment).
//! - [`rows`]: what is stored for one post.
//! - [`store`]: one transaction per batch, idempotent upserts, roll-ups counted once.
//! - [`pipeline`]: Kafka consumer, batching, dead letters, offsets after the commit.
//! - [`schema`]: the reporting user and the schema version check; [`MIGRATOR`]: the schema.
//! - [`config`], [`metrics`], [`retry`], [`db`]: the rest.

pub mod config;
pub mod db;
pub mod metrics;
pub mod pipeline;
pub mod retry;
pub mod rows;
pub mod schema;
pub mod store;
pub mod transform;

/// The MySQL schema as versioned migrations (`workers/transformer/migrations/`). Running it
/// twice is a no-op: sqlx records applied versions in `_sqlx_migrations` and serialises
/// concurrent runs with an advisory lock.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
