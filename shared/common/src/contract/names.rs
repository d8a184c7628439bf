//! How pipelines, consumer groups and transactional producers are named.

/// `namespace/name` of a TweetPipeline (the `pipeline` field of both configs).
pub fn pipeline_id(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The consumer group of a pipeline's transformers: `tweetpipe.<namespace>.<name>`.
/// The operator writes it into `transformer.json` and reads the group's lag under it.
pub fn transformer_group_id(pipeline_id: &str) -> String {
    format!("tweetpipe.{}", pipeline_id.replace('/', "."))
}

/// The consumer group through which a pipeline's extractor replicas share its query slots:
/// `tweetpipe-extractor.<namespace>.<name>`.
pub fn extractor_group_id(pipeline_id: &str) -> String {
    format!("tweetpipe-extractor.{}", pipeline_id.replace('/', "."))
}

/// The transactional id of one extractor replica: stable across restarts, so a restarted
/// replica fences its zombie; characters Kafka ids dislike become `_`.
pub fn extractor_transactional_id(pipeline_id: &str, replica: u32) -> String {
    let pipeline: String = pipeline_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tweetpipe-extractor.{pipeline}.{replica}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let id = pipeline_id("tweets", "covid19");
        assert_eq!(id, "tweets/covid19");
        assert_eq!(transformer_group_id(&id), "tweetpipe.tweets.covid19");
        assert_eq!(
            extractor_group_id(&id),
            "tweetpipe-extractor.tweets.covid19"
        );
        assert_eq!(
            extractor_transactional_id("ns/name", 2),
            "tweetpipe-extractor.ns_name.2"
        );
    }
}
