//! Code shared by the tweetpipe operator and workers (extractor, transformer, simulator).
//!
//! - [`contract`]: the worker configs, checkpoint record, topic names and mounted paths the
//!   operator and the workers agree on (pure data, always available).
//! - [`post`]: the post as it travels through Kafka (mirrors the current schema, `schema/post.v2.avsc`).
//! - [`fixtures`] (feature `fixtures`, dev-dependencies only, and this crate's own tests): the
//!   sample posts of every test and benchmark.
//! - [`codec`] (feature `avro`): Avro single-object encoding and the Confluent wire format.
//! - [`registry`] (feature `registry`, on with `avro`): a Confluent-compatible schema registry
//!   client (register a schema under a subject, read one by id), without an Avro library.
//! - [`schema_files`]: the Avro schema files' text, embedded at build time.
//! - [`kafka`] (feature `kafka`): librdkafka client settings from the config's `kafka` block.
//! - [`kafka_connection`] (feature `kafka`): a metadata round trip whose failure says which:
//!   credentials refused, certificate untrusted, host unknown, unreachable.
//! - [`headers`]: names of the Kafka record headers.
//! - [`secret_file`]: reading a secret from a mounted file.
//! - [`telemetry`]: JSON logs, OpenTelemetry traces; trace context in Kafka headers with
//!   feature `kafka`.
//! - [`serve`]: the ops HTTP server (`/metrics`, `/healthz`, `/readyz`).
//!
//! Features keep librdkafka (a C build) and Avro out of crates that need neither, such as the
//! simulator; the workspace declares this crate without default features and each crate asks
//! for what it uses.

pub mod backoff;
#[cfg(feature = "avro")]
pub mod codec;
pub mod contract;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod headers;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kafka")]
pub mod kafka_connection;
pub mod post;
#[cfg(feature = "registry")]
pub mod registry;
pub mod schema_files;
pub mod secret_file;
pub mod serve;
pub mod telemetry;
