//! Code shared by the tweetpipe workers (extractor, transformer, simulator, probe).
//!
//! - [`post`]: the post as it travels through Kafka (mirrors `schema/post.v1.avsc`).
//! - [`codec`]: Avro single-object encoding and the Confluent wire format.
//! - [`checkpoint`]: the per-query progress record of the `<topic>.checkpoints` topic.
//! - [`kafka`]: librdkafka client settings from the operator's config shape.
//! - [`telemetry`]: JSON logs, OpenTelemetry traces, trace context in Kafka headers.
//! - [`serve`]: the ops HTTP server (`/metrics`, `/healthz`, `/readyz`).

pub mod checkpoint;
pub mod codec;
pub mod headers;
pub mod kafka;
pub mod post;
pub mod serve;
pub mod telemetry;
