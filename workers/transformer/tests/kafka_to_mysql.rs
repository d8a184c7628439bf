//! Integration tests on the real local platform: Kafka (KRaft) and MariaDB.
//! `make platform-up` first; a missing service fails these tests.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use support::*;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::kafka::{bootstrap, create_post_topic_with_dlq, produce_raw, producer};
use tweetpipe_testkit::mysql::{TestDb, wait_for_count};
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::records::produce_posts;
use tweetpipe_testkit::rollups::snapshot;
use tweetpipe_transformer::rows::StoredPost;
use tweetpipe_transformer::store::Store;

const WAIT: Duration = Duration::from_secs(120);

/// Row counts the schema must hold for `stored` (each post once).
struct Expected {
    posts: i64,
    users: i64,
    hashtags: i64,
    mentions: i64,
    urls: i64,
    references: i64,
    cashtags: i64,
    context_annotations: i64,
}

fn expected(stored: &[StoredPost]) -> Expected {
    let users: BTreeSet<u64> = stored
        .iter()
        .filter_map(|s| s.author.as_ref().map(|a| a.id))
        .collect();
    let sum = |f: fn(&StoredPost) -> usize| stored.iter().map(f).sum::<usize>() as i64;
    Expected {
        posts: stored.len() as i64,
        users: users.len() as i64,
        hashtags: sum(|s| s.hashtags.len()),
        mentions: sum(|s| s.mentions.len()),
        urls: sum(|s| s.urls.len()),
        references: sum(|s| s.references.len()),
        cashtags: sum(|s| s.cashtags.len()),
        context_annotations: sum(|s| s.context_annotations.len()),
    }
}

async fn assert_rows(db: &TestDb, e: &Expected) {
    // (what, query, expected): each table's rows, then the roll-ups agreeing with the rows they
    // summarise.
    let checks: [(&str, &'static str, i64); 12] = [
        ("posts", "SELECT COUNT(*) FROM posts", e.posts),
        ("users", "SELECT COUNT(*) FROM users", e.users),
        ("hashtags", "SELECT COUNT(*) FROM post_hashtags", e.hashtags),
        ("mentions", "SELECT COUNT(*) FROM post_mentions", e.mentions),
        ("urls", "SELECT COUNT(*) FROM post_urls", e.urls),
        (
            "references",
            "SELECT COUNT(*) FROM post_references",
            e.references,
        ),
        ("cashtags", "SELECT COUNT(*) FROM post_cashtags", e.cashtags),
        (
            "context annotations",
            "SELECT COUNT(*) FROM post_context_annotations",
            e.context_annotations,
        ),
        ("post_queries", "SELECT COUNT(*) FROM post_queries", e.posts),
        (
            "posts_hourly total",
            "SELECT CAST(COALESCE(SUM(posts), 0) AS SIGNED) FROM posts_hourly",
            e.posts,
        ),
        (
            "hashtags_daily total",
            "SELECT CAST(COALESCE(SUM(posts), 0) AS SIGNED) FROM hashtags_daily",
            e.hashtags,
        ),
        (
            "every posts_hourly bucket equals its recount",
            "SELECT COUNT(*) FROM (SELECT DATE_FORMAT(q.created_at, '%Y-%m-%d %H:00:00') h, q.query_name, q.lang, COUNT(*) n \
             FROM post_queries q GROUP BY h, q.query_name, q.lang) c \
             LEFT JOIN posts_hourly r ON r.hour = c.h AND r.query_name = c.query_name AND r.lang = c.lang \
             WHERE r.posts IS NULL OR r.posts <> c.n",
            0,
        ),
    ];
    for (what, query, expected) in checks {
        assert_eq!(db.count(query).await, expected, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_records_become_n_posts_with_their_child_rows() {
    let (db, topic) = db_and_topic("rows", 3).await;
    let posts = sample_posts(600, 1_800_000_000_000_000_000);
    produce_posts(&bootstrap(), &topic, &posts).await;

    let running = start(config(&topic, &db, 100), &db);
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", posts.len() as i64, WAIT).await;
    running.stop().await;

    let stored = transformed(&posts);
    assert_rows(&db, &expected(&stored)).await;

    // One post in full: normalised text, classification, folded tags, expanded link.
    let sample = &stored[4];
    let (text, kind, lang, topic_name): (String, String, String, String) =
        sqlx::query_as("SELECT text, CAST(kind AS CHAR), lang, topic FROM posts WHERE id = ?")
            .bind(sample.post.id)
            .fetch_one(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text, sample.post.text);
    assert!(text.contains("https://www.example1.org/a/4"), "{text}");
    assert!(!text.contains("t.co"), "{text}");
    assert_eq!(kind, sample.post.kind.as_sql());
    assert_eq!(lang, sample.post.lang);
    assert_eq!(topic_name, "covid");
    let tags: Vec<String> =
        sqlx::query_scalar("SELECT tag FROM post_hashtags WHERE post_id = ? ORDER BY tag")
            .bind(sample.post.id)
            .fetch_all(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let mut want: Vec<String> = sample.hashtags.iter().map(|h| h.tag.clone()).collect();
    want.sort();
    assert_eq!(tags, want);
    assert!(tags.iter().all(|t| t == &t.to_lowercase()));

    // Context annotations: the fixture gives posts 4k and 4k+1 one (COVID-19), 4k+2 two
    // (COVID-19, Vaccines), 4k+3 none; cashtags on posts 7k+3.
    assert!(
        has_annotations_and_cashtags(&stored),
        "the fixture has annotations and cashtags"
    );
    let annotated = &stored[2];
    let rows: Vec<(u64, u64, String, String)> = sqlx::query_as(
        "SELECT domain_id, entity_id, domain_name, entity_name FROM post_context_annotations \
         WHERE post_id = ? ORDER BY domain_id, entity_id",
    )
    .bind(annotated.post.id)
    .fetch_all(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rows,
        vec![
            (
                123,
                1_220_701_888_179_359_745,
                "Ongoing News Story".to_owned(),
                "COVID-19".to_owned()
            ),
            (
                131,
                1_301_551_223_338_668_032,
                "Unified Twitter Taxonomy".to_owned(),
                "Vaccines".to_owned()
            ),
        ]
    );
    // What a `context:123.1220701888179359745` dashboard counts: every annotated post once.
    assert_eq!(
        db.count(
            "SELECT COUNT(DISTINCT post_id) FROM post_context_annotations \
             WHERE domain_id = 123 AND entity_id = 1220701888179359745"
        )
        .await,
        stored
            .iter()
            .filter(|s| s.context_annotations.iter().any(|c| c.domain_id == 123))
            .count() as i64
    );
    let cashtags: Vec<(String, String)> =
        sqlx::query_as("SELECT tag, display FROM post_cashtags WHERE post_id = ?")
            .bind(stored[3].post.id)
            .fetch_all(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cashtags, vec![("pfe".to_owned(), "PFE".to_owned())]);
    db.drop().await;
}

fn has_annotations_and_cashtags(stored: &[StoredPost]) -> bool {
    let e = expected(stored);
    e.context_annotations > 0 && e.cashtags > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_twice_adds_no_rows_and_leaves_roll_ups_unchanged() {
    let db = TestDb::create("tp_t_twice", &MIGRATOR).await;
    let store = Store::new(db.pool.clone());
    let all = transformed(&sample_posts(800, 1_810_000_000_000_000_000));
    let stored = all[..400].to_vec();

    let first = write_ok(&store, &stored, "the batch").await;
    assert_eq!(first.posts_inserted, 400);
    assert_eq!(first.matches_inserted, 400);
    let before = snapshot(&db).await;

    let second = write_ok(&store, &stored, "the batch again").await;
    assert_eq!(second.posts, 400);
    assert_eq!(second.posts_inserted, 0);
    assert_eq!(second.matches_inserted, 0);
    // An overlapping batch (half old, half new) counts only the new half.
    let overlap = all[200..].to_vec();
    let third = write_ok(&store, &overlap, "the overlapping batch").await;
    assert_eq!(third.posts_inserted, 400);
    let again = write_ok(&store, &stored, "the first batch a third time").await;
    assert_eq!(again.posts_inserted, 0);

    let after_second = {
        // Compare only the first 400 posts' state with the snapshot by rebuilding it.
        let db2 = TestDb::create("tp_t_twice_ref", &MIGRATOR).await;
        let store2 = Store::new(db2.pool.clone());
        write_ok(&store2, &stored, "the reference batch").await;
        write_ok(&store2, &stored, "the reference batch again").await;
        let snap = snapshot(&db2).await;
        db2.drop().await;
        snap
    };
    let strip_load_ids = |snap: &BTreeMap<&'static str, Vec<String>>| {
        snap.iter()
            .map(|(table, rows)| {
                let rows: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        // load_id differs between databases by design; drop that column.
                        let cols: Vec<&str> = r.split('|').collect();
                        match *table {
                            "posts" => [&cols[..5], &cols[6..]].concat().join("|"),
                            "post_queries" => cols[..2].join("|"),
                            _ => r.clone(),
                        }
                    })
                    .collect();
                (*table, rows)
            })
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        strip_load_ids(&before),
        strip_load_ids(&after_second),
        "redelivery changed rows"
    );

    assert_rows(&db, &expected(&all)).await;

    // A post matched later by a second query: one more match, one more hourly count, no new post.
    let mut other_query = sample_posts(1, 1_810_000_000_000_000_000);
    other_query[0].query_name = "vacina-pt".into();
    let outcome = write_ok(
        &store,
        &transformed(&other_query),
        "the second query's match",
    )
    .await;
    assert_eq!((outcome.posts_inserted, outcome.matches_inserted), (0, 1));
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, 800);
    assert_eq!(
        db.count(
            "SELECT CAST(SUM(posts) AS SIGNED) FROM posts_hourly WHERE query_name = 'vacina-pt'"
        )
        .await,
        1
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_delivered_twice_through_kafka_are_stored_once() {
    let (db, topic) = db_and_topic("redeliver", 2).await;
    let posts = sample_posts(300, 1_820_000_000_000_000_000);
    produce_posts(&bootstrap(), &topic, &posts).await;
    produce_posts(&bootstrap(), &topic, &posts).await;

    let running = start(config(&topic, &db, 64), &db);
    let consumed = running.metrics.records_consumed.clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    while consumed.get() < 600 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give the writer the last batch.
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", 300, WAIT).await;
    running.stop().await;
    assert_eq!(consumed.get(), 600);
    assert_rows(&db, &expected(&transformed(&posts))).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dead_letter_topic_while_the_rest_flows() {
    let db = TestDb::create("tp_t_poison", &MIGRATOR).await;
    // A row MySQL itself refuses (CHECK constraint): the batch is bisected down to that post.
    sqlx::query(
        "ALTER TABLE posts ADD CONSTRAINT test_poison CHECK (text NOT LIKE '%POISON-ROW%')",
    )
    .execute(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let topic = unique("tp-t-poison");
    create_post_topic_with_dlq(&bootstrap(), &topic, 1).await;
    let good = sample_posts(200, 1_830_000_000_000_000_000);
    let mut bad_id = sample_posts(1, 1_830_000_000_000_001_000).remove(0);
    bad_id.id = "not-a-number".into();
    let mut refused = sample_posts(1, 1_830_000_000_000_002_000).remove(0);
    refused.text = "this one is a POISON-ROW".into();

    produce_posts(&bootstrap(), &topic, &good[..100]).await;
    let producer = producer(&bootstrap());
    produce_raw(
        &producer,
        &topic,
        "garbage",
        b"\x00\x01definitely not avro",
        Some("covid-en"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    produce_posts(&bootstrap(), &topic, &[bad_id.clone(), refused.clone()]).await;
    produce_posts(&bootstrap(), &topic, &good[100..]).await;

    let running = start(config(&topic, &db, 50), &db);
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", 200, WAIT).await;

    let dlq: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap_or_else(|e| panic!("{e}"));
    dlq.subscribe(&[tweetpipe_common::contract::topics::dlq_topic(&topic).as_str()])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut letters = BTreeMap::new();
    while letters.len() < 3 {
        let message = tokio::time::timeout(WAIT, dlq.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} dead letters: {letters:?}", letters.len()))
            .unwrap_or_else(|e| panic!("{e}"));
        let header = |name: &str| {
            message
                .headers()
                .and_then(|h| h.iter().find(|x| x.key == name))
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("tweetpipe-source-topic"), topic);
        assert_eq!(header("tweetpipe-source-partition"), "0");
        assert!(!header("tweetpipe-source-offset").is_empty());
        assert!(
            !header("traceparent").is_empty(),
            "original headers are kept"
        );
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        letters.insert(key, header("tweetpipe-error"));
    }
    running.stop().await;

    assert!(letters["garbage"].contains("decode"), "{letters:?}");
    assert!(
        letters["not-a-number"].contains("invalid post"),
        "{letters:?}"
    );
    assert!(letters["not-a-number"].contains("id"), "{letters:?}");
    assert!(
        letters[&refused.id].contains("MySQL rejected"),
        "{letters:?}"
    );
    assert_rows(&db, &expected(&transformed(&good))).await;
    db.drop().await;
}
