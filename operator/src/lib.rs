//! The tweetpipe operator: the `TweetPipeline` CRD, the reconcile loop that makes Kafka topics,
//! the MySQL schema and the worker workloads match it, and the scaling rules.
//!
//! Layout follows read → decide → apply: [`reconcile`] reads and applies, [`decide`] and
//! [`build`] are pure and unit-tested with fixtures.

pub mod admission;
pub mod api_hosts;
pub mod build;
pub mod crd;
pub mod decide;
pub mod kube_clients;
pub mod labels;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod settings;

#[cfg(test)]
mod unit_tests;
