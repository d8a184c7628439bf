//! Test doubles and fixtures shared by the operator's unit tests (compiled for tests only):
//!
//! - [`fakes`]: scripted stand-ins for the systems a reconcile talks to besides the API server —
//!   a schema owner (MySQL), a topic admin (Kafka's admin API) and a progress reader (the
//!   checkpoints and the consumer lag in Kafka) — each recording its calls in a
//!   [`fakes::CallLog`] and answering as the test says. They plug into the seams of
//!   [`crate::reconcile::context::Context`] (`Context::new`'s schema owner,
//!   `with_topic_admin`, `with_progress_reader`), so a whole reconcile runs without a broker or
//!   a server.
//! - [`mock_api`]: a mock Kubernetes API server (`tower-test`) as the reconcile's `kube::Client`,
//!   and the verifier a test scripts: every request asserted in order and answered, nothing else
//!   accepted.
//! - Secrets as a reconcile reads them from its watch cache: the core's fixtures, re-exported.

pub mod fakes;
pub mod mock_api;

pub use tweetpipe_operator_core::fixtures::{fetched_secret, fetched_secrets};
