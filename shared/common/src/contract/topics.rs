//! Names of the topics a pipeline owns beside its posts topic, and the limits they put on the
//! posts topic's own name. The operator's admission check, the CRD's CEL rules and the Terraform
//! module's validation all derive from (or are tested against) these constants.

/// Suffix of the compacted per-query progress topic.
pub const CHECKPOINT_SUFFIX: &str = ".checkpoints";
/// Suffix of the extractors' query-slot topic.
pub const SLOTS_SUFFIX: &str = ".slots";
/// Suffix of the dead-letter topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// Every suffix the pipeline appends to its posts topic. A posts topic must not end in one:
/// pipeline `tweets.slots` would write into pipeline `tweets`'s slot topic.
pub const COMPANION_SUFFIXES: [&str; 3] = [CHECKPOINT_SUFFIX, SLOTS_SUFFIX, DLQ_SUFFIX];

/// Kafka's limit on the length of a topic name.
pub const KAFKA_MAX_TOPIC_CHARS: usize = 249;

/// The longest of [`COMPANION_SUFFIXES`]; it bounds the posts topic's length.
pub const LONGEST_COMPANION_SUFFIX: &str = longest(&COMPANION_SUFFIXES);

/// Longest posts topic whose every companion topic still fits Kafka's limit.
pub const MAX_POST_TOPIC_CHARS: usize = KAFKA_MAX_TOPIC_CHARS - LONGEST_COMPANION_SUFFIX.len();

const fn longest(names: &[&'static str]) -> &'static str {
    let mut found = "";
    let mut i = 0;
    while i < names.len() {
        if names[i].len() > found.len() {
            found = names[i];
        }
        i += 1;
    }
    found
}

/// `<topic>.checkpoints`: the extractor's progress, keyed by query name.
pub fn checkpoint_topic(post_topic: &str) -> String {
    format!("{post_topic}{CHECKPOINT_SUFFIX}")
}

/// `<topic>.slots`: one partition per query. Extractor replicas share its partitions
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
    COMPANION_SUFFIXES
        .iter()
        .any(|suffix| topic.ends_with(suffix))
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

    #[test]
    fn every_companion_topic_uses_a_listed_suffix() {
        let builders: [fn(&str) -> String; 3] = [checkpoint_topic, slots_topic, dlq_topic];
        for build in builders {
            let name = build("tweets");
            let suffix = name.strip_prefix("tweets").unwrap_or_default();
            assert!(COMPANION_SUFFIXES.contains(&suffix), "{name}");
            assert!(is_companion_topic(&name), "{name}");
        }
    }

    #[test]
    fn companion_suffixes_are_recognised_and_near_misses_are_not() {
        let rows = [
            ("tweets.checkpoints", true),
            ("tweets.slots", true),
            ("tweets.dlq", true),
            (".slots", true),
            ("tweets", false),
            ("tweets.slot", false),
            ("tweets.dlq.archive", false),
            ("tweets_dlq", false),
            ("tweets.Slots", false),
            ("checkpoints", false),
        ];
        for (topic, companion) in rows {
            assert_eq!(is_companion_topic(topic), companion, "{topic}");
        }
    }

    #[test]
    fn the_longest_posts_topic_leaves_room_for_every_companion() {
        assert_eq!(LONGEST_COMPANION_SUFFIX, CHECKPOINT_SUFFIX);
        assert_eq!(MAX_POST_TOPIC_CHARS, 237);
        let longest = "t".repeat(MAX_POST_TOPIC_CHARS);
        for suffix in COMPANION_SUFFIXES {
            assert!(format!("{longest}{suffix}").len() <= KAFKA_MAX_TOPIC_CHARS);
        }
        assert_eq!(
            checkpoint_topic(&longest).len(),
            KAFKA_MAX_TOPIC_CHARS,
            "the bound is tight"
        );
    }
}
