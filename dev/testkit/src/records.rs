//! Posts on the post topic as the extractor writes them (Avro value, post id key, query
//! header): produced for the transformer's tests, read back and compared for the extractor's.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, Producer};
use tweetpipe_common::post::Post;

use crate::kafka::{produce_raw, producer, producer_config, read_committed};
use crate::names::unique;

/// A record read back from the post topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub post: Post,
    pub headers: HashMap<String, String>,
}

/// Produces each post as the extractor does: Avro single-object value, id key, query header.
pub async fn produce_posts(bootstrap: &str, topic: &str, posts: &[Post]) {
    send_posts(&producer(bootstrap), topic, posts).await;
}

/// Produces the posts as [`produce_posts`] does, inside one Kafka transaction left open:
/// read-committed consumers see none of them until the caller commits the returned producer's
/// transaction, then all at once.
pub async fn stage_posts(bootstrap: &str, topic: &str, posts: &[Post]) -> FutureProducer {
    stage_posts_with(producer_config(bootstrap), topic, posts).await
}

/// [`stage_posts`] with a client configuration of the caller's (a secured listener's, say),
/// given a transactional id of its own here.
pub async fn stage_posts_with(
    mut config: ClientConfig,
    topic: &str,
    posts: &[Post],
) -> FutureProducer {
    // Generous: a fresh broker creates its transaction log on the first transactional producer.
    const WAIT: Duration = Duration::from_secs(120);
    let producer: FutureProducer = config
        .set("transactional.id", unique("tp-stage"))
        .create()
        .unwrap_or_else(|e| panic!("transactional producer: {e}"));
    producer
        .init_transactions(WAIT)
        .unwrap_or_else(|e| panic!("init_transactions within {WAIT:?}: {e}"));
    producer
        .begin_transaction()
        .unwrap_or_else(|e| panic!("begin_transaction: {e}"));
    send_posts(&producer, topic, posts).await;
    producer
}

async fn send_posts(producer: &FutureProducer, topic: &str, posts: &[Post]) {
    let values: Vec<Vec<u8>> = posts
        .iter()
        .map(|post| {
            tweetpipe_common::codec::encode_post(post).unwrap_or_else(|e| panic!("encode: {e}"))
        })
        .collect();
    let mut pending = Vec::with_capacity(posts.len());
    for (post, value) in posts.iter().zip(&values) {
        pending.push(produce_raw(
            producer,
            topic,
            &post.id,
            value,
            Some(&post.query_name),
        ));
    }
    for result in futures::future::join_all(pending).await {
        result.unwrap_or_else(|e| panic!("produce to {topic}: {e}"));
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
