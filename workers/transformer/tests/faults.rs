//! The transformer under the faults of issue 9, on the real local platform (Kafka, MariaDB):
//! - the schema registry unavailable → records retried, nothing dead-lettered or committed;
//! - a rebalance while batches are in flight → nothing committed or dead-lettered for a
//!   partition the member no longer owns, committed offsets never move backwards;
//! - MySQL unreachable for longer than `max.poll.interval.ms` → the member stays in its group;
//! - a post matched by two queries in one batch → each query's roll-up under its own topic.
//!
//! Two stand-ins, both in this file: a TCP relay in front of the shared MariaDB that the test
//! can cut (the shared MariaDB itself is never stopped), and a small HTTP server speaking the
//! Confluent schema-registry API (`GET /schemas/ids/{id}`), because no registry runs on the
//! platform yet (issue 10 adds one).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::topics;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_common::post::Post;
use tweetpipe_common::serve::Readiness;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::kafka::{bootstrap, high_watermarks, producer};
use tweetpipe_testkit::mysql::{TestDb, wait_for_count};
use tweetpipe_testkit::records::produce_posts;
use tweetpipe_transformer::config::TransformerConfig;
use tweetpipe_transformer::metrics::{Metrics, ReasonLabel};
use tweetpipe_transformer::store::Store;

const WAIT: Duration = Duration::from_secs(120);
const SCHEMA_ID: u32 = 1;
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Helpers of these tests (to be folded into the test kit).

/// A transformer running in this process, with its readiness.
struct Member {
    running: Running,
    readiness: Readiness,
}

impl Member {
    fn metrics(&self) -> &Metrics {
        &self.running.metrics
    }

    fn rebalanced(&self, event: &'static str) -> u64 {
        self.metrics()
            .rebalance_partitions
            .get_or_create(&ReasonLabel { reason: event })
            .get()
    }
}

/// Starts a transformer writing through `mysql_url`, with `overrides` on top of the quick
/// group settings.
fn start_member(config: TransformerConfig, mysql_url: &str, overrides: &[(&str, &str)]) -> Member {
    let (running, readiness) = start_with(config, mysql_url, overrides);
    Member { running, readiness }
}

/// A listener on a free local port for the stand-in `what`, and its address.
async fn listen(what: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{what} addr: {e}"));
    (listener, addr)
}

/// A TCP relay to an upstream address that the test can cut: while down, every connection
/// through it is closed and new ones are closed on accept — MySQL unreachable, as a network
/// partition or a dead server looks to the client.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    async fn start(upstream: String, up: bool) -> Self {
        let (listener, addr) = listen("relay").await;
        let up = Arc::new(AtomicBool::new(up));
        let (cut, _) = tokio::sync::watch::channel(0_u64);
        let (accept_up, accept_cut) = (Arc::clone(&up), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let mut cut = accept_cut.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|generation| *generation += 1);
        }
    }

    /// `url` (mysql://user:password@host:port/db) with this relay as host and port.
    fn mysql_url(&self, url: &str) -> String {
        let (before, after) = url.split_once('@').unwrap_or_else(|| {
            let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
            (scheme, rest)
        });
        let path = after.split_once('/').map_or("", |(_, path)| path);
        let prefix = if url.contains('@') {
            format!("{before}@")
        } else {
            format!("{before}://")
        };
        format!("{prefix}{}/{path}", self.addr)
    }

    fn upstream_of(url: &str) -> String {
        let after = url.rsplit_once('@').map_or_else(
            || url.split_once("://").map_or(url, |(_, rest)| rest),
            |(_, rest)| rest,
        );
        after.split('/').next().unwrap_or(after).to_owned()
    }
}

/// Stands in for the Confluent schema registry (none runs on the platform yet): answers
/// `GET /schemas/ids/1` with the current post schema, other ids with Confluent's 404
/// `{"error_code":40403}`, and everything with 503 while `healthy` is false.
struct RegistryStandIn {
    url: String,
    healthy: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl RegistryStandIn {
    async fn start() -> Self {
        let (listener, addr) = listen("registry").await;
        let healthy = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let schema = serde_json::json!({
            "schema": tweetpipe_common::codec::embedded().current().schema.canonical_form()
        })
        .to_string();
        let (h, r) = (Arc::clone(&healthy), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (h, r, schema) = (Arc::clone(&h), Arc::clone(&r), schema.clone());
                tokio::spawn(async move { answer_registry(socket, &h, &r, &schema).await });
            }
        });
        Self {
            url: format!("http://{addr}"),
            healthy,
            requests,
        }
    }
}

async fn answer_registry(
    mut socket: TcpStream,
    healthy: &AtomicBool,
    requests: &AtomicUsize,
    schema: &str,
) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let line = String::from_utf8_lossy(&request);
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (status, body) = if !healthy.load(Ordering::SeqCst) {
        (
            "503 Service Unavailable",
            r#"{"error_code":50301,"message":"down"}"#.to_owned(),
        )
    } else if path == format!("/schemas/ids/{SCHEMA_ID}") {
        ("200 OK", schema.to_owned())
    } else {
        (
            "404 Not Found",
            r#"{"error_code":40403,"message":"Schema not found"}"#.to_owned(),
        )
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
}

fn admin_consumer(group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .create()
        .unwrap_or_else(|e| panic!("consumer: {e}"))
}

/// The group's committed offset per partition (`None`: nothing committed). Reading them does
/// not join the group.
fn committed(reader: &BaseConsumer, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let list = reader
        .committed_offsets(list, KAFKA_TIMEOUT)
        .unwrap_or_else(|e| panic!("committed offsets: {e}"));
    (0..partitions)
        .map(
            |p| match list.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect()
}

fn end_offsets(reader: &BaseConsumer, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    high_watermarks(reader, topic, partitions, KAFKA_TIMEOUT)
        .into_iter()
        .map(Some)
        .collect()
}

fn dead_letters(reader: &BaseConsumer, topic: &str) -> i64 {
    let (_, high) = reader
        .fetch_watermarks(&topics::dlq_topic(topic), 0, KAFKA_TIMEOUT)
        .unwrap_or_else(|e| panic!("dlq watermarks: {e}"));
    high
}

/// The group's state and member ids, from the group coordinator.
fn group_members(reader: &BaseConsumer, group: &str) -> (String, Vec<String>) {
    let list = reader
        .fetch_group_list(Some(group), KAFKA_TIMEOUT)
        .unwrap_or_else(|e| panic!("describe group: {e}"));
    let Some(info) = list.groups().first() else {
        return ("Dead".to_owned(), Vec::new());
    };
    let mut members: Vec<String> = info.members().iter().map(|m| m.id().to_owned()).collect();
    members.sort();
    (info.state().to_owned(), members)
}

async fn produce_to(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    key: &str,
    value: &[u8],
) {
    let mut record = FutureRecord::to(topic).key(key).payload(value);
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
}

async fn eventually<F: FnMut() -> bool>(what: &str, limit: Duration, mut done: F) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_stored_once(db: &TestDb, n: i64) {
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, n, "posts");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM post_queries").await,
        n,
        "post_queries"
    );
    assert_eq!(
        db.count("SELECT CAST(COALESCE(SUM(posts), 0) AS SIGNED) FROM posts_hourly")
            .await,
        n,
        "posts_hourly counts every match once"
    );
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_unavailable_retries_and_never_dead_letters() {
    const N: usize = 300;
    let (db, topic) = db_and_topic("registry", 2).await;
    let registry = RegistryStandIn::start().await;

    let producer = producer(&bootstrap());
    let posts = sample_posts(N, 1_870_000_000_000_000_000);
    for post in &posts {
        let value = tweetpipe_common::codec::encode_post_confluent(post, SCHEMA_ID)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        produce_to(&producer, &topic, None, &post.id, &value).await;
    }
    // Written under a schema id the registry does not have: can never decode.
    let orphan = tweetpipe_common::codec::encode_post_confluent(&posts[0], 99)
        .unwrap_or_else(|e| panic!("encode: {e}"));
    produce_to(&producer, &topic, Some(0), "orphan", &orphan).await;

    let mut config = config(&topic, &db, 50);
    config.kafka.schema_registry_url = Some(registry.url.clone());
    config.max_backoff_ms = 1_000;
    let group = config.group_id().to_owned();
    let member = start_member(config, &db.url, &[]);
    let reader = admin_consumer(&group);

    // The registry answers 503: the transformer keeps asking, and meanwhile nothing is
    // dead-lettered, nothing committed, nothing stored, and it reports not ready.
    let requests = Arc::clone(&registry.requests);
    eventually("several registry attempts", WAIT, || {
        requests.load(Ordering::SeqCst) >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        dead_letters(&reader, &topic),
        0,
        "nothing dead-lettered while the registry is down"
    );
    assert_eq!(
        committed(&reader, &topic, 2),
        vec![None, None],
        "nothing committed"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, 0);
    assert!(
        !member.readiness.is_ready(),
        "not ready while the registry is down"
    );
    assert!(member.metrics().registry_retries.get() >= 2);

    // Back: every post once, the orphan alone in the dead-letter topic, everything committed.
    registry.healthy.store(true, Ordering::SeqCst);
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", N as i64, WAIT).await;
    let ends = end_offsets(&reader, &topic, 2);
    eventually("offsets committed to the end", WAIT, || {
        committed(&reader, &topic, 2) == ends
    })
    .await;
    eventually("the orphan dead-lettered", WAIT, || {
        dead_letters(&reader, &topic) == 1
    })
    .await;
    assert!(member.readiness.is_ready(), "ready again");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(dead_letters(&reader, &topic), 1);
    assert_stored_once(&db, N as i64).await;
    member.running.stop().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_with_batches_in_flight_commits_nothing_for_revoked_partitions() {
    const PER_PARTITION: usize = 400;
    let (db, topic) = db_and_topic("rebalance", 2).await;
    let producer = producer(&bootstrap());
    let posts = sample_posts(2 * PER_PARTITION, 1_880_000_000_000_000_000);
    let mut bad = 0;
    for (i, post) in posts.iter().enumerate() {
        let partition = (i % 2) as i32;
        let value = tweetpipe_common::codec::encode_post(post).unwrap_or_else(|e| panic!("{e}"));
        produce_to(&producer, &topic, Some(partition), &post.id, &value).await;
        // Poison records early in each partition: in the batches held in flight.
        if i == 10 || i == 11 || i == 500 || i == 501 {
            produce_to(&producer, &topic, Some(partition), "poison", b"not avro").await;
            bad += 1;
        }
    }

    // Member A writes through a relay that is down: its first batches stay in flight.
    let relay = Relay::start(Relay::upstream_of(&db.url), false).await;
    let config_a = config(&topic, &db, 50);
    let group = config_a.group_id().to_owned();
    let config_b = config_a.clone();
    let a = start_member(config_a, &relay.mysql_url(&db.url), &[]);
    eventually("A holds batches in flight", WAIT, || {
        a.metrics()
            .write_retries
            .get_or_create(&ReasonLabel {
                reason: "unavailable",
            })
            .get()
            > 0
            && a.metrics().records_consumed.get() >= 100
    })
    .await;

    // Sample the committed offsets from now on: they must never move backwards.
    let stop_sampling = CancellationToken::new();
    let sampler = {
        let (topic, group, stop) = (topic.clone(), group.clone(), stop_sampling.clone());
        tokio::task::spawn_blocking(move || {
            let reader = admin_consumer(&group);
            let mut last = [None; 2];
            let mut regressions = Vec::new();
            while !stop.is_cancelled() {
                let now = committed(&reader, &topic, 2);
                for p in 0..2 {
                    if let (Some(before), Some(after)) = (last[p], now[p])
                        && after < before
                    {
                        regressions.push((p, before, after));
                    }
                    if now[p].is_some() {
                        last[p] = now[p];
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            regressions
        })
    };

    // Member B joins: the group rebalances while A's batches are in flight. B stores its
    // partition and commits it to the end.
    let b = start_member(config_b, &db.url, &[]);
    eventually("the rebalance", WAIT, || {
        a.rebalanced("revoked") > 0 && b.rebalanced("assigned") > 0
    })
    .await;
    let reader = admin_consumer(&group);
    let ends = end_offsets(&reader, &topic, 2);
    eventually("B commits its partition to the end", WAIT, || {
        let now = committed(&reader, &topic, 2);
        (0..2).any(|p| now[p].is_some() && now[p] == ends[p])
    })
    .await;

    // A's MySQL comes back: its stale batches are stored (idempotent) but not committed.
    relay.set_up(true);
    wait_for_count(
        &db,
        "SELECT COUNT(*) FROM posts",
        (2 * PER_PARTITION) as i64,
        WAIT,
    )
    .await;
    eventually("both partitions committed to the end", WAIT, || {
        committed(&reader, &topic, 2) == ends
    })
    .await;
    // Long enough for any late commit of A's stale batches to land.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop_sampling.cancel();
    let regressions = sampler.await.unwrap_or_else(|e| panic!("sampler: {e}"));

    assert!(
        regressions.is_empty(),
        "committed offsets moved backwards: {regressions:?}"
    );
    assert_eq!(
        committed(&reader, &topic, 2),
        ends,
        "final committed offsets"
    );
    assert_eq!(
        dead_letters(&reader, &topic),
        bad,
        "each poison record dead-lettered once"
    );
    assert!(
        a.metrics().stale_partition_commits.get() > 0,
        "A's in-flight batches held revoked partitions (the case under test)"
    );
    assert_stored_once(&db, (2 * PER_PARTITION) as i64).await;
    a.running.stop().await;
    b.running.stop().await;
    db.drop().await;
}

/// The production case is MySQL down for 6 minutes against the default 5-minute
/// `max.poll.interval.ms`; here the member's `max.poll.interval.ms` is lowered to 10 s through
/// the transformer's consumer overrides (`TRANSFORMER_KAFKA_MAX_POLL_INTERVAL_MS` in a pod) and
/// MySQL is unreachable for 25 s, the same ratio and more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_down_longer_than_max_poll_interval_keeps_the_member_in_its_group() {
    const FIRST: usize = 1_000;
    const DURING: usize = 2_000;
    const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);
    const OUTAGE: Duration = Duration::from_secs(25);
    let (db, topic) = db_and_topic("mysqldown", 2).await;
    let relay = Relay::start(Relay::upstream_of(&db.url), true).await;
    let config = config(&topic, &db, 100);
    let group = config.group_id().to_owned();
    let interval_ms = MAX_POLL_INTERVAL.as_millis().to_string();
    let member = start_member(
        config,
        &relay.mysql_url(&db.url),
        &[("max.poll.interval.ms", interval_ms.as_str())],
    );

    let posts = sample_posts(FIRST + DURING, 1_890_000_000_000_000_000);
    produce_posts(&bootstrap(), &topic, &posts[..FIRST]).await;
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", FIRST as i64, WAIT).await;
    let reader = admin_consumer(&group);
    let (state, members) = group_members(&reader, &group);
    assert_eq!(
        (state.as_str(), members.len()),
        ("Stable", 1),
        "{members:?}"
    );
    let assigned = member.rebalanced("assigned");

    relay.set_up(false);
    produce_posts(&bootstrap(), &topic, &posts[FIRST..]).await;
    let outage_ends = Instant::now() + OUTAGE;
    while Instant::now() < outage_ends {
        let now = group_members(&reader, &group);
        assert_eq!(
            now,
            (state.clone(), members.clone()),
            "the member left or the group changed"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        member
            .metrics()
            .write_retries
            .get_or_create(&ReasonLabel {
                reason: "unavailable"
            })
            .get()
            > 0,
        "the writer saw the outage"
    );
    assert!(
        !member.readiness.is_ready(),
        "not ready while MySQL is down"
    );

    relay.set_up(true);
    wait_for_count(
        &db,
        "SELECT COUNT(*) FROM posts",
        (FIRST + DURING) as i64,
        WAIT,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        group_members(&reader, &group),
        (state, members),
        "still the same member"
    );
    assert_eq!(member.rebalanced("revoked"), 0, "no rebalance");
    assert_eq!(member.rebalanced("assigned"), assigned, "no rebalance");
    let ends = end_offsets(&reader, &topic, 2);
    eventually("offsets committed to the end", WAIT, || {
        committed(&reader, &topic, 2) == ends
    })
    .await;
    assert_stored_once(&db, (FIRST + DURING) as i64).await;
    member.running.stop().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_matched_by_two_queries_counts_under_each_querys_topic_and_its_hashtags_once() {
    let db = TestDb::create("tp_t_rollup_topic", &MIGRATOR).await;
    let base = sample_posts(20, 1_895_000_000_000_000_000)
        .into_iter()
        .find(|p| !p.hashtags.is_empty())
        .unwrap_or_else(|| panic!("a sample post with hashtags"));
    let copy = |query: &str, collected_offset: i64| Post {
        query_name: query.to_owned(),
        collected_at: base.collected_at + collected_offset,
        ..base.clone()
    };
    // The newest copy carries the other query: the first query's roll-up must keep its topic.
    let batch = transformed(&[copy("covid-en", 0), copy("quarentena-pt", 1_000)]);
    write_ok(&Store::new(db.pool.clone()), &batch, "write").await;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT query_name, topic, CAST(posts AS SIGNED) FROM posts_hourly ORDER BY query_name",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rows,
        [
            ("covid-en".to_owned(), "covid".to_owned(), 1),
            ("quarentena-pt".to_owned(), "quarentena".to_owned(), 1),
        ]
    );
    let topics: BTreeMap<String, String> =
        sqlx::query_as("SELECT query_name, topic FROM post_queries")
            .fetch_all(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .collect();
    assert_eq!(topics["covid-en"], "covid");
    assert_eq!(topics["quarentena-pt"], "quarentena");
    // Hashtags count posts, not matches (found by `make chaos`: two matches counted twice).
    let tags = db.count("SELECT COUNT(*) FROM post_hashtags").await;
    assert!(tags > 0, "the sample post has hashtags");
    assert_eq!(
        db.count("SELECT CAST(SUM(posts) AS SIGNED) FROM hashtags_daily")
            .await,
        tags
    );
    db.drop().await;
}

/// Issue 25: a transaction waiting on a row lock (another writer's, here a session the test
/// holds open) must not idle the writer's other connections, and its batch must still be
/// committed to Kafka before any later one. The first post of the topic is locked, so every
/// batch after the one holding it is stored while it waits, and the partition's committed
/// offset stays at 0 until the lock goes. Before the writer held finished batches apart from
/// running ones, a finished batch kept its store slot until every earlier one was done: with
/// two connections the third batch never started while the first waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waiting_on_a_row_lock_lets_later_batches_store_but_not_commit_past_it() {
    const N: usize = 20;
    let (db, topic) = db_and_topic("lockwait", 1).await;
    let posts = sample_posts(3 * N, 1_890_000_000_000_000_000);
    let id_list = |posts: &[Post]| {
        posts
            .iter()
            .map(|p| p.id.clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    let count_of = |posts: &[Post]| {
        let sql = format!(
            "SELECT COUNT(*) FROM posts WHERE id IN ({})",
            id_list(posts)
        );
        let pool = db.pool.clone();
        async move {
            // Ids are digits (sample posts), so the list is safe to inline.
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("count posts: {e}"))
        }
    };

    // Another session inserts the first post and keeps its transaction open: the batch that
    // carries offset 0 waits on that row's lock.
    let mut locker = db
        .pool
        .begin()
        .await
        .unwrap_or_else(|e| panic!("begin: {e}"));
    tweetpipe_transformer::store::posts_insert(&transformed(&posts[..1]), 0)
        .build()
        .execute(&mut *locker)
        .await
        .unwrap_or_else(|e| panic!("insert the locked post: {e}"));

    let mut config = config(&topic, &db, N);
    config.write_concurrency = 2;
    let group = config.group_id().to_owned();
    let member = start(config, &db);
    let reader = admin_consumer(&group);

    let mut stored = 0;
    for (i, batch) in posts.chunks(N).enumerate() {
        produce_posts(&bootstrap(), &topic, batch).await;
        if i == 0 {
            continue;
        }
        // Batch i is stored while the first still waits on its lock.
        let deadline = Instant::now() + WAIT;
        loop {
            stored = count_of(batch).await;
            if stored == N as i64 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "batch {i} not stored within {WAIT:?} while the first batch waits on a row lock \
                 ({stored} of its {N} posts in MySQL, {} records consumed): the writer's other \
                 connection sits idle",
                member.metrics.records_consumed.get()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            committed(&reader, &topic, 1),
            vec![None],
            "nothing may be committed past the waiting first batch (batch {i} stored)"
        );
    }
    assert_eq!(stored, N as i64);
    assert_eq!(
        count_of(&posts[1..N]).await,
        0,
        "the first batch is still waiting on the lock"
    );

    locker
        .rollback()
        .await
        .unwrap_or_else(|e| panic!("rollback: {e}"));
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", (3 * N) as i64, WAIT).await;
    let ends = end_offsets(&reader, &topic, 1);
    eventually("the partition committed to its end", WAIT, || {
        committed(&reader, &topic, 1) == ends
    })
    .await;
    assert_eq!(ends, vec![Some((3 * N) as i64)]);
    assert_stored_once(&db, (3 * N) as i64).await;
    member.stop().await;
    db.drop().await;
}
