//! The operator's pure core, a crate of its own so that the compiler keeps I/O out: it has no
//! Kubernetes client, no Kafka and no MySQL dependency. The operator (`tweetpipe-operator`) reads
//! the world, calls into here to decide and to build, and applies the result.
//!
//! - [`crd`]: the `TweetPipeline` types; the CRD YAML is generated from them.
//! - [`labels`]: names, labels, selectors.
//! - [`decide`]: pure decisions (scaling, plan, conditions, events, cleanup, topic ownership).
//! - [`build`]: the Kubernetes objects and worker configs a decision calls for.
//! - [`admission`]: the rules the admission webhook judges a pipeline by.
//! - [`api_hosts`], [`policy`]: where bearer tokens may go, and the administrator's policy.

pub mod admission;
pub mod api_hosts;
pub mod build;
pub mod crd;
pub mod decide;
pub mod labels;
pub mod policy;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
