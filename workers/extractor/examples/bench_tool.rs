//! Helpers for bench/extractor.sh:
//! - `create-topics BOOTSTRAP TOPIC PARTITIONS`: the post topic and its compacted checkpoint topic.
//! - `produce BOOTSTRAP TOPIC POSTS`: Avro encode + transactional produce throughput, in pages
//!   of 100 posts plus a checkpoint per transaction, exactly as the extractor writes them;
//!   `BENCH_KAFKA=sasl_ssl` produces over the platform's SASL_SSL listener instead.
//! - `encode POSTS`: Avro encode throughput alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tweetpipe_common::codec::PostEncoder;
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::kafka::KafkaSettings;
use tweetpipe_common::contract::topics::checkpoint_topic;
use tweetpipe_common::fixtures::news_post;
use tweetpipe_common::post::Post;
use tweetpipe_extractor::sink::{PageRecords, Sink};

async fn create_topics(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let checkpoints = checkpoint_topic(topic);
    let slots = tweetpipe_common::contract::topics::slots_topic(topic);
    let topics = [
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&checkpoints, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
        // The extractors' query slots (one per query; the bench never has more than 8).
        NewTopic::new(&slots, 8, TopicReplication::Fixed(1)),
    ];
    for r in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .expect("create topics")
    {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
}

/// The producer's client settings: plaintext to `bootstrap`, or with `BENCH_KAFKA=sasl_ssl` the
/// platform's SASL_SSL listener (SCRAM-SHA-512 over TLS, hostname verified), built by the
/// workers' own `client_config` so the figure is what an extractor pays.
fn producer_config(bootstrap: &str, topic: &str) -> ClientConfig {
    match std::env::var("BENCH_KAFKA").as_deref() {
        Ok("sasl_ssl") => {
            let settings = tweetpipe_testkit::platform()
                .require_secure_kafka()
                .worker_settings_json(topic);
            let settings: KafkaSettings = serde_json::from_value(settings).expect("settings");
            tweetpipe_common::kafka::client_config(&settings).expect("client config")
        }
        Ok("plaintext") | Err(_) => {
            let mut config = ClientConfig::new();
            config.set("bootstrap.servers", bootstrap);
            config
        }
        Ok(other) => panic!("BENCH_KAFKA={other}: use plaintext or sasl_ssl"),
    }
}

async fn produce(bootstrap: &str, topic: &str, posts: u64) {
    create_topics(bootstrap, topic, 3).await;
    let config = producer_config(bootstrap, topic);
    let sink = Sink::connect(
        config,
        &format!("bench-{topic}"),
        topic,
        &checkpoint_topic(topic),
        &[],
        Duration::from_secs(30),
    )
    .await
    .expect("sink");
    let encoder = PostEncoder::SingleObject;
    let started = Instant::now();
    let mut checkpoint = Checkpoint::new("bench", "2025-11");
    let mut i = 0;
    while i < posts {
        let page: Vec<Post> = (i..(i + 100).min(posts)).map(news_post).collect();
        checkpoint.since_id = page.last().map(|p| p.id.clone());
        checkpoint.posts_total += page.len() as u64;
        let records =
            PageRecords::encode(&page, &encoder, checkpoint.clone(), vec![], 0).expect("encode");
        // Unfenced: one writer, no slot group (the bench measures the producer alone).
        sink.write_page(Arc::new(records), None)
            .await
            .expect("transaction");
        i += page.len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "produce posts={posts} seconds={secs:.2} posts_per_second={:.0}",
        posts as f64 / secs
    );
}

fn encode(posts: u64) {
    let encoder = PostEncoder::SingleObject;
    let batch: Vec<Post> = (0..1000).map(news_post).collect();
    let started = Instant::now();
    let mut bytes = 0usize;
    for n in 0..posts {
        bytes += encoder
            .encode(&batch[(n % 1000) as usize])
            .expect("encode")
            .len();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "encode posts={posts} seconds={secs:.2} posts_per_second={:.0} avg_bytes={}",
        posts as f64 / secs,
        bytes / posts.max(1) as usize
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("missing argument {i}; see the file header"))
    };
    match arg(1).as_str() {
        "create-topics" => {
            create_topics(&arg(2), &arg(3), arg(4).parse().expect("partitions")).await
        }
        "produce" => produce(&arg(2), &arg(3), arg(4).parse().expect("posts")).await,
        "encode" => encode(arg(2).parse().expect("posts")),
        other => panic!("unknown command {other}"),
    }
}
