//! Placeholder until the rules land.

use crate::crd::{TweetPipeline, TweetPipelineSpec};

/// One refused field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Path of the field.
    pub field: String,
    /// What to fix.
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every refusal of `new` (and of the change from `old`).
pub fn check(_new: &TweetPipeline, _old: Option<&TweetPipeline>) -> Vec<Refusal> {
    Vec::new()
}

/// The X query refusals only.
pub fn query_refusals(_spec: &TweetPipelineSpec) -> Vec<Refusal> {
    Vec::new()
}
