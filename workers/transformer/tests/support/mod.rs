//! Shared helpers of the integration tests: a private database and topics per test on the
//! real local platform, deterministic sample posts, and a transformer to run.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_client::registry::Registry;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::mysql::MySqlPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::kafka::KafkaSettings;
use tweetpipe_common::contract::topics;
use tweetpipe_common::post::{
    Hashtag, Mention, Place, Post, PublicMetrics, ReferenceKind, ReferencedPost, Url, User,
};
use tweetpipe_common::serve::Readiness;
use tweetpipe_transformer::config::{MysqlSettings, TransformerConfig};
use tweetpipe_transformer::metrics::Metrics;
use tweetpipe_transformer::pipeline::Pipeline;
use tweetpipe_transformer::store::Store;

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh database with the schema applied.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: MySqlPool,
}

impl TestDb {
    pub async fn create(prefix: &str) -> Self {
        let db = Self::create_empty(prefix).await;
        tweetpipe_schema::MIGRATOR
            .run(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        db
    }

    /// A fresh database without the schema.
    pub async fn create_empty(prefix: &str) -> Self {
        let platform = tweetpipe_testkit::platform();
        platform.require_mysql();
        let name = unique(prefix);
        let admin = MySqlPool::connect(&platform.mysql_url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", "MariaDB"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        admin.close().await;
        let url = format!("{}/{name}", platform.mysql_url.trim_end_matches('/'));
        let pool = tweetpipe_transformer::db::connect_lazy(&url, 4)
            .unwrap_or_else(|e| panic!("pool: {e}"));
        Self { name, url, pool }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row of every table that matters, as text, for before/after comparisons.
    pub async fn snapshot(&self) -> BTreeMap<&'static str, Vec<String>> {
        let mut out = BTreeMap::new();
        for (table, sql) in [
            (
                "posts",
                "SELECT CONCAT_WS('|', id, kind, lang, text, sentiment, load_id, collected_at, like_count) FROM posts ORDER BY id",
            ),
            (
                "users",
                "SELECT CONCAT_WS('|', id, username, followers_count, observed_at) FROM users ORDER BY id",
            ),
            (
                "post_queries",
                "SELECT CONCAT_WS('|', post_id, query_name, load_id) FROM post_queries ORDER BY post_id, query_name",
            ),
            (
                "post_hashtags",
                "SELECT CONCAT_WS('|', post_id, tag) FROM post_hashtags ORDER BY post_id, tag",
            ),
            (
                "post_mentions",
                "SELECT CONCAT_WS('|', post_id, username) FROM post_mentions ORDER BY post_id, username",
            ),
            (
                "post_urls",
                "SELECT CONCAT_WS('|', post_id, position, domain) FROM post_urls ORDER BY post_id, position",
            ),
            (
                "post_references",
                "SELECT CONCAT_WS('|', post_id, kind, referenced_id) FROM post_references ORDER BY post_id, kind, referenced_id",
            ),
            (
                "posts_hourly",
                "SELECT CONCAT_WS('|', hour, query_name, lang, posts, originals, retweets, replies, quotes, ROUND(sentiment_sum, 3), positive, negative) FROM posts_hourly ORDER BY hour, query_name, lang",
            ),
            (
                "hashtags_daily",
                "SELECT CONCAT_WS('|', day, tag, posts) FROM hashtags_daily ORDER BY day, tag",
            ),
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            out.insert(table, rows);
        }
        out
    }

    pub async fn drop(self) {
        self.pool.close().await;
        let platform = tweetpipe_testkit::platform();
        if let Ok(admin) = MySqlPool::connect(&platform.mysql_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

pub fn kafka_bootstrap() -> String {
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka();
    platform.kafka_bootstrap.clone()
}

/// Creates `topic` and `topic.dlq`.
pub async fn create_topics(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka_bootstrap())
        .create()
        .unwrap_or_else(|e| panic!("admin client: {e}"));
    let dlq = topics::dlq_topic(topic);
    let topics = [
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)),
    ];
    let results = admin
        .create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        )
        .await
        .unwrap_or_else(|e| panic!("create topics: {e}"));
    for result in results {
        if let Err((name, code)) = result {
            panic!("create topic {name}: {code}");
        }
    }
}

pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", kafka_bootstrap())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"))
}

/// Produces each post as the extractor does: Avro single-object value, id key, query header.
pub async fn produce_posts(topic: &str, posts: &[Post]) {
    let producer = producer();
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

pub async fn produce_raw(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    query: Option<&str>,
) -> Result<(), String> {
    {
        let mut headers = OwnedHeaders::new();
        if let Some(query) = query {
            headers = headers.insert(Header {
                key: tweetpipe_common::headers::QUERY,
                value: Some(query.as_bytes()),
            });
        }
        headers = headers.insert(Header {
            key: "traceparent",
            value: Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".as_slice()),
        });
        producer
            .send(
                FutureRecord::to(topic)
                    .key(key)
                    .payload(value)
                    .headers(headers),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }
}

/// The transformer config for a test.
pub fn config(topic: &str, db: &TestDb, batch_size: usize) -> TransformerConfig {
    let dir = std::env::temp_dir().join(unique("tp-transformer"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
    let url_file = dir.join("mysql-url");
    std::fs::write(&url_file, &db.url).unwrap_or_else(|e| panic!("url file: {e}"));
    TransformerConfig {
        pipeline: "test/pipeline".into(),
        kafka: KafkaSettings {
            bootstrap_servers: kafka_bootstrap(),
            topic: topic.into(),
            schema_registry_url: None,
            security_protocol: Default::default(),
            sasl_mechanism: None,
            sasl_username_file: None,
            sasl_password_file: None,
            ssl_ca_file: None,
            group_id: Some(format!("{topic}-group")),
        },
        mysql: MysqlSettings {
            url_file,
            pool_size: 3,
        },
        batch_size,
        flush_interval_ms: 200,
        query_names: vec!["covid-en".into(), "covid-pt".into(), "quarentena-pt".into()],
        dlq_topic: None,
        write_concurrency: 2,
        ops_addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        max_backoff_ms: 2_000,
        shutdown_grace_ms: 10_000,
    }
}

/// Consumer settings that make group hand-overs quick in tests.
pub fn fast_group_overrides() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("session.timeout.ms".to_owned(), "6000".to_owned()),
        ("heartbeat.interval.ms".to_owned(), "1000".to_owned()),
    ])
}

/// A transformer running in this process.
pub struct Running {
    pub shutdown: CancellationToken,
    pub abandon: CancellationToken,
    pub task: JoinHandle<()>,
    pub metrics: Metrics,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

pub fn start(config: TransformerConfig, db: &TestDb) -> Running {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let store = Store::new(
        tweetpipe_transformer::db::connect_lazy(&db.url, 3).unwrap_or_else(|e| panic!("{e}")),
    );
    let pipeline = Pipeline::new(
        config,
        store,
        metrics.clone(),
        Readiness::new(),
        &fast_group_overrides(),
    )
    .unwrap_or_else(|e| panic!("pipeline: {e}"));
    let shutdown = CancellationToken::new();
    let abandon = CancellationToken::new();
    let (s, a) = (shutdown.clone(), abandon.clone());
    let task = tokio::spawn(async move {
        pipeline
            .run(s, a)
            .await
            .unwrap_or_else(|e| panic!("pipeline run: {e}"));
    });
    Running {
        shutdown,
        abandon,
        task,
        metrics,
    }
}

/// Polls `sql` until it returns `expected`; panics with the last value after `limit`.
/// (A liveness bound, not a performance assertion.)
pub async fn wait_for_count(db: &TestDb, sql: &'static str, expected: i64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = -1;
    while tokio::time::Instant::now() < deadline {
        match sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await {
            Ok(n) if n == expected => return,
            Ok(n) => last = n,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{sql} stayed at {last}, expected {expected} within {limit:?}");
}

const LANGS: [&str; 5] = ["en", "pt", "es", "und", "pt"];
const QUERIES: [&str; 3] = ["covid-en", "covid-pt", "quarentena-pt"];
const TAGS: [&str; 8] = [
    "COVID19",
    "covid19",
    "Quarentena",
    "FiqueEmCasa",
    "vacina",
    "StayHome",
    "lockdown",
    "SUS",
];
const USERS: [&str; 6] = ["WHO", "minsaude", "cdcgov", "Maria_SP", "joao", "opas_oms"];
const WORDS: [&str; 10] = [
    "great", "terrible", "feliz", "triste", "news", "hoje", "vacuna", "muertes", "love", "&amp;",
];

/// `n` deterministic posts with every kind of child row, spread over two days. Ids start at
/// `first_id`; authors repeat so that user upserts collide.
pub fn sample_posts(n: usize, first_id: u64) -> Vec<Post> {
    let base_ms: i64 = 1_732_233_600_000; // 2024-11-22T00:00:00Z
    (0..n)
        .map(|i| {
            let id = first_id + i as u64;
            let lang = LANGS[i % LANGS.len()];
            let author = 1_000 + (i % 37) as u64;
            let tags: Vec<&str> = (0..(i % 3))
                .map(|k| TAGS[(i + k * 3) % TAGS.len()])
                .collect();
            let mentioned: Vec<&str> = (0..(i % 2 + (i % 5 == 0) as usize))
                .map(|k| USERS[(i + k) % USERS.len()])
                .collect();
            let mut text = format!(
                "{} {} post {i}",
                WORDS[i % WORDS.len()],
                WORDS[(i * 7) % WORDS.len()]
            );
            let mut hashtags = Vec::new();
            for tag in &tags {
                let start = text.chars().count() as i32 + 1;
                text.push_str(&format!(" #{tag}"));
                hashtags.push(Hashtag {
                    tag: (*tag).to_owned(),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            let mut mentions = Vec::new();
            for user in &mentioned {
                let start = text.chars().count() as i32 + 1;
                text.push_str(&format!(" @{user}"));
                mentions.push(Mention {
                    username: (*user).to_owned(),
                    id: Some(format!("{}", 500 + user.len())),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            let mut urls = Vec::new();
            if i % 4 == 0 {
                let short = format!("https://t.co/x{i}");
                let start = text.chars().count() as i32 + 1;
                text.push_str(&format!(" {short}"));
                urls.push(Url {
                    url: short,
                    expanded_url: Some(format!("https://www.example{}.org/a/{i}", i % 3)),
                    display_url: Some(format!("example{}.org/a/{i}", i % 3)),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            let referenced = match i % 6 {
                1 => vec![ReferencedPost {
                    kind: ReferenceKind::Retweeted,
                    id: format!("{}", 9_000_000 + i),
                    author_id: Some("77".into()),
                    text: None,
                }],
                2 => vec![ReferencedPost {
                    kind: ReferenceKind::RepliedTo,
                    id: format!("{}", 9_000_000 + i),
                    author_id: None,
                    text: None,
                }],
                3 => vec![ReferencedPost {
                    kind: ReferenceKind::Quoted,
                    id: format!("{}", 9_000_000 + i),
                    author_id: None,
                    text: Some("quoted".into()),
                }],
                _ => vec![],
            };
            Post {
                id: id.to_string(),
                text,
                created_at: base_ms + (i as i64 * 97_000) % (48 * 3_600_000),
                lang: (lang != "und").then(|| lang.to_owned()),
                author_id: author.to_string(),
                author: Some(User {
                    id: author.to_string(),
                    username: format!("user{author}"),
                    name: format!("User {author}"),
                    verified: author.is_multiple_of(2),
                    created_at: Some(1_300_000_000_000),
                    location: author.is_multiple_of(3).then(|| "São Paulo".to_owned()),
                    followers_count: Some(i as i64),
                    following_count: Some(10),
                    tweet_count: Some(100),
                }),
                conversation_id: Some(id.to_string()),
                in_reply_to_user_id: None,
                referenced,
                hashtags,
                mentions,
                urls,
                metrics: Some(PublicMetrics {
                    retweet_count: (i % 11) as i64,
                    reply_count: 0,
                    like_count: (i % 13) as i64,
                    quote_count: 0,
                    impression_count: None,
                }),
                place: (i % 10 == 0).then(|| Place {
                    id: "68e019afec7d0ba5".into(),
                    full_name: "São Paulo, Brasil".into(),
                    name: None,
                    country_code: Some("BR".into()),
                    place_type: Some("city".into()),
                }),
                possibly_sensitive: Some(false),
                pipeline: "test/pipeline".into(),
                query_name: QUERIES[i % QUERIES.len()].into(),
                collected_at: base_ms + 48 * 3_600_000 + i as i64,
            }
        })
        .collect()
}
