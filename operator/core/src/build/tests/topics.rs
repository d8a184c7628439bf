//! `build::topics`: the topics a pipeline needs and the drift between them and Kafka's.

use std::collections::BTreeMap;

use crate::build::topics::{self, TopicSpec};
use crate::fixtures::pipeline;

#[test]
fn topics_and_drift() {
    let tp = pipeline();
    let desired = topics::desired_topics(&tp.spec.kafka, tp.spec.source.queries.len());
    let names: Vec<&str> = desired.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "tweets.covid19",
            "tweets.covid19.checkpoints",
            "tweets.covid19.dlq",
            "tweets.covid19.slots"
        ]
    );
    let slots = &desired[3];
    assert_eq!(slots.partitions as usize, tp.spec.source.queries.len());
    // Removing queries leaves their slots: no shrink to refuse.
    let fewer = topics::drift(slots, slots.partitions + 2, &slots.configs);
    assert_eq!(fewer, topics::TopicDrift::default());
    assert_eq!(
        topics::drift(slots, 1, &slots.configs).grow_partitions_to,
        Some(slots.partitions)
    );
    assert_eq!(desired[0].partitions, 6);
    assert_eq!(desired[0].configs["retention.ms"], "604800000");
    assert_eq!(desired[1].configs["cleanup.policy"], "compact");
    let posts: &TopicSpec = &desired[0];
    let same = topics::drift(posts, 6, &posts.configs);
    assert_eq!(same, topics::TopicDrift::default());
    let mut actual = posts.configs.clone();
    actual.insert("retention.ms".into(), "1000".into());
    actual.insert("segment.bytes".into(), "1".into());
    let drift = topics::drift(posts, 3, &actual);
    assert_eq!(drift.grow_partitions_to, Some(6));
    assert_eq!(
        drift.configs,
        BTreeMap::from([("retention.ms".to_string(), "604800000".to_string())])
    );
    let shrink = topics::drift(posts, 12, &posts.configs);
    assert_eq!(shrink.shrink_refused, Some((12, 6)));
    assert_eq!(shrink.grow_partitions_to, None);
}
