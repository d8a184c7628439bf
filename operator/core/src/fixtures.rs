//! The valid example pipeline (`operator/fixtures/pipeline.yaml`), for tests here and in the
//! operator (feature `fixtures`).

use crate::crd::TweetPipeline;

/// The valid example pipeline.
pub fn pipeline() -> TweetPipeline {
    serde_yaml::from_str(include_str!("../../fixtures/pipeline.yaml")).expect("fixture parses")
}

/// A fixture pipeline changed by `edit`.
pub fn pipeline_with(edit: impl FnOnce(&mut TweetPipeline)) -> TweetPipeline {
    let mut tp = pipeline();
    edit(&mut tp);
    tp
}
