//! The one test support of the workspace: where the local platform is, and the helpers every
//! integration test, end-to-end test and benchmark shares. Small modules with one job each:
//!
//! - [`platform`]: the running platform's addresses from `.platform/env`; fails loudly, naming the
//!   missing component. Re-exported here as [`Platform`] and [`platform()`].
//! - [`names`]: names no other test run uses (databases, topics, groups, accounts, namespaces).
//! - [`files`]: scratch directories and the config and secret files written into them.
//! - [`ports`]: free local TCP ports.
//! - [`process`]: child processes with their output in a log file, killed when the test ends.
//! - [`telemetry`]: the workers' telemetry, installed once per test binary.
//! - [`kafka`]: clients and topics on the platform's (or a test's own) Kafka.
//! - [`secure_kafka`]: a broker of a test's own with a SASL_SSL (SCRAM-SHA-512) listener.
//! - [`private_kafka`]: a plaintext broker of a test's own, to stop and restart.
//! - [`kafka_cut`]: a proxy that makes such a broker vanish at a chosen Kafka request.
//! - [`records`]: posts on the post topic as the extractor writes them: produce, read, compare.
//! - [`registry`]: the platform's schema registry: subjects, compatibility, cleanup.
//! - [`checkpoints`]: the extractor's compacted checkpoint topic.
//! - [`mysql`]: a private database per test on the platform's MariaDB, logins, error numbers.
//! - [`private_mysql`]: a MariaDB server of a test's own serving TLS (the platform's settings).
//! - [`rollups`]: assertions on what the transformer stored (row counts, roll-ups, snapshots).
//! - [`observability`]: Prometheus queries and the collector's exported spans.
//! - [`diagnostics`]: what a timed-out wait saw (pods, events, logs, metrics, stacks), kept under
//!   `target/e2e-diagnostics/`.
//!
//! The sample posts themselves are `tweetpipe_common::fixtures` (feature `fixtures`).
//! Everything here panics with a message on failure: it is test code, and a missing service
//! must fail the test, never skip it.

pub mod checkpoints;
pub mod diagnostics;
pub mod files;
pub mod http;
pub mod kafka;
pub mod kafka_cut;
pub mod mysql;
pub mod names;
pub mod observability;
pub mod platform;
pub mod ports;
pub mod private_kafka;
pub mod private_mysql;
pub mod process;
pub mod records;
pub mod registry;
pub mod rollups;
pub mod secure_kafka;
pub mod telemetry;

pub use platform::{Observability, Platform, SecureKafka, platform};
