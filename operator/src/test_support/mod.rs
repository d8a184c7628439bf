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
//! - Secrets as a reconcile reads them from its watch cache, below.

pub mod fakes;
pub mod mock_api;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

/// Fetched Secrets by name, each with its `(key, value)` data.
pub fn fetched_secrets(secrets: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, Option<Secret>> {
    secrets
        .iter()
        .map(|(name, data)| (name.to_string(), fetched_secret(name, data)))
        .collect()
}

/// Secret `name` with its `(key, value)` data, as fetched.
pub fn fetched_secret(name: &str, data: &[(&str, &str)]) -> Option<Secret> {
    Some(Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    })
}
