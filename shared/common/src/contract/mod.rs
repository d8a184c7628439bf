//! The contract between the operator and the workers, declared once: both sides build and
//! parse these very types, so the JSON the operator writes is the JSON the workers read.
//!
//! - [`extractor`]: the extractor config, `extractor.json`.
//! - [`transformer`]: the transformer config, `transformer.json`.
//! - [`kafka`]: the `kafka` block both configs share.
//! - [`checkpoint`]: the per-query progress record of `<topic>.checkpoints`.
//! - [`topics`]: the companion topic names (`<topic>.checkpoints`, `<topic>.slots`,
//!   `<topic>.dlq`) and the limits they put on the posts topic's name.
//! - [`budget`]: the safety margin held back from every budget.
//! - [`fields`]: the X API fields and expansions the Avro post record needs.
//! - [`databases`]: the MySQL databases no pipeline may use.
//! - [`names`]: pipeline id, consumer group and transactional id naming.
//! - [`paths`]: where worker pods find their mounted config and secret files.
//!
//! Pure data and pure logic only (no I/O, no Kafka client), so the operator and the
//! simulator can depend on it without librdkafka.

pub mod budget;
pub mod checkpoint;
pub mod databases;
pub mod extractor;
pub mod fields;
pub mod kafka;
pub mod names;
pub mod paths;
pub mod topics;
pub mod transformer;

/// A parsed config that breaks a rule serde cannot express (ranges, cross-field rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub String);
