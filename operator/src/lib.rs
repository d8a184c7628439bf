//! The tweetpipe operator: the `TweetPipeline` CRD, the reconcile loop that makes Kafka topics,
//! the MySQL schema and the worker workloads match it, and the scaling rules.
//!
//! Layout follows read → decide → apply: [`reconcile`] reads and applies, [`decide`] and
//! [`build`] are pure and unit-tested with fixtures.

pub mod admission;
pub mod kube_clients;
pub mod metrics;
pub mod reconcile;
pub mod settings;

// The pure core lives in its own crate (no client, no Kafka, no MySQL); re-exported so that
// `crate::crd`, `crate::decide` and the rest read the same from both sides.
pub use tweetpipe_operator_core::{api_hosts, build, crd, decide, labels, policy};

#[cfg(test)]
mod test_support;
