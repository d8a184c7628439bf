//! Names of the topics a pipeline owns beside its posts topic.

/// Suffix of the compacted per-query progress topic.
pub const CHECKPOINT_SUFFIX: &str = ".checkpoints";
/// Suffix of the extractors' query-slot topic.
pub const SLOTS_SUFFIX: &str = ".slots";
/// Suffix of the dead-letter topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// `<topic>.checkpoints`: the extractor's progress, keyed by query name.
pub fn checkpoint_topic(post_topic: &str) -> String {
    format!("{post_topic}{CHECKPOINT_SUFFIX}")
}

/// `<topic>.slots`: one empty partition per query. Extractor replicas share its partitions
/// through a consumer group, so the group coordinator decides which replica runs which query,
/// and hands a query over only after its previous owner released it.
pub fn slots_topic(post_topic: &str) -> String {
    format!("{post_topic}{SLOTS_SUFFIX}")
}

/// `<topic>.dlq`: records the transformer could not store.
pub fn dlq_topic(post_topic: &str) -> String {
    format!("{post_topic}{DLQ_SUFFIX}")
}

/// Whether `topic` is itself a companion topic name (so it cannot be a posts topic).
pub fn is_companion_topic(topic: &str) -> bool {
    topic.ends_with(CHECKPOINT_SUFFIX)
        || topic.ends_with(DLQ_SUFFIX)
        || topic.ends_with(SLOTS_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companion_names() {
        assert_eq!(checkpoint_topic("posts"), "posts.checkpoints");
        assert_eq!(dlq_topic("tweets.covid19"), "tweets.covid19.dlq");
        assert!(is_companion_topic("a.dlq") && is_companion_topic("a.checkpoints"));
        assert!(!is_companion_topic("tweets.covid19"));
        assert_eq!(slots_topic("posts"), "posts.slots");
        assert!(is_companion_topic("posts.slots"));
    }
}
