//! Posts on the post topic as the extractor writes them (Avro value, post id key, query
//! header): produced for the transformer's tests, read back and compared for the extractor's.

use std::collections::HashMap;

use rdkafka::message::{Headers, Message};
use tweetpipe_common::post::Post;

use crate::kafka::{produce_raw, producer, read_committed};

/// A record read back from the post topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub post: Post,
    pub headers: HashMap<String, String>,
}

/// Produces each post as the extractor does: Avro single-object value, id key, query header.
pub async fn produce_posts(bootstrap: &str, topic: &str, posts: &[Post]) {
    let producer = producer(bootstrap);
    let values: Vec<Vec<u8>> = posts
        .iter()
        .map(|post| {
            tweetpipe_common::codec::encode_post(post).unwrap_or_else(|e| panic!("encode: {e}"))
        })
        .collect();
    let mut pending = Vec::with_capacity(posts.len());
    for (post, value) in posts.iter().zip(&values) {
        pending.push(produce_raw(
            &producer,
            topic,
            &post.id,
            value,
            Some(&post.query_name),
        ));
    }
    for result in futures::future::join_all(pending).await {
        result.unwrap_or_else(|e| panic!("produce: {e}"));
    }
}

/// Every committed record of the post topic.
pub fn read_posts(bootstrap: &str, topic: &str) -> Vec<Record> {
    let mut records = Vec::new();
    read_committed(bootstrap, topic, |m| {
        let key = String::from_utf8(m.key().expect("key").to_vec()).expect("utf-8 key");
        let post =
            tweetpipe_common::codec::decode_post(m.payload().expect("payload")).expect("decodes");
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(Record { key, post, headers });
    })
    .expect("read the post topic");
    records
}

/// [`read_posts`] off the async runtime's threads.
pub async fn read_posts_async(bootstrap: &str, topic: &str) -> Vec<Record> {
    let (b, t) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || read_posts(&b, &t))
        .await
        .expect("join")
}

/// Asserts the records hold exactly the expected post ids, each once.
pub fn assert_exactly(records: &[Record], expected: &[String], query: &str) {
    let mut keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(
        before,
        keys.len(),
        "{} duplicate records for {query}",
        before - keys.len()
    );
    let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(
        keys, want,
        "records for {query} differ from the simulator's posts"
    );
}
