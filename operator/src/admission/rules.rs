//! STUB of the admission rules (replaced by the full rule set). The contract the webhook relies
//! on: [`check`] returns every refusal of a new (and, on update, old) pipeline, each naming the
//! field it is about.

use std::fmt;

use crate::crd::{TweetPipeline, TweetPipelineSpec};

/// Longest query the X API accepts on the tiers we target.
const MAX_QUERY_CHARS: usize = 512;

/// Why a pipeline is refused: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Path of the field, e.g. `spec.source.queries[0].query`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every refusal of `new` (an update also passes the stored `old`).
pub fn check(new: &TweetPipeline, _old: Option<&TweetPipeline>) -> Vec<Refusal> {
    query_refusals(&new.spec)
}

/// Refusals of the queries of a spec.
pub fn query_refusals(spec: &TweetPipelineSpec) -> Vec<Refusal> {
    spec.source
        .queries
        .iter()
        .enumerate()
        .filter(|(_, q)| q.query.chars().count() > MAX_QUERY_CHARS)
        .map(|(i, q)| Refusal {
            field: format!("spec.source.queries[{i}].query"),
            message: format!(
                "the query has {} characters, more than the {MAX_QUERY_CHARS} the X API accepts",
                q.query.chars().count()
            ),
        })
        .collect()
}
