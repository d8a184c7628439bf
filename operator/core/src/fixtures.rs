//! The valid example pipeline (`operator/fixtures/pipeline.yaml`), for tests here and in the
//! operator (feature `fixtures`).

use crate::crd::TweetPipeline;

/// The valid example pipeline.
pub fn pipeline() -> TweetPipeline {
    serde_yaml::from_str(include_str!("../../fixtures/pipeline.yaml")).expect("fixture parses")
}

/// The message an invalid manifest of `operator/fixtures/invalid` must be refused with: its first
/// line, `# expect: <message>`.
pub fn expected_refusal(manifest: &str) -> String {
    manifest
        .lines()
        .next()
        .expect("an invalid manifest starts with its `# expect:` line")
        .trim_start_matches("# expect: ")
        .to_string()
}

/// A fixture pipeline changed by `edit`.
pub fn pipeline_with(edit: impl FnOnce(&mut TweetPipeline)) -> TweetPipeline {
    let mut tp = pipeline();
    edit(&mut tp);
    tp
}
