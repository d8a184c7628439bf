//! Admission: the checks a `TweetPipeline` must pass before it is stored (webhook and reconcile).

pub mod rules;
