//! The filtered stream over HTTP: rules, the connection, keep-alives, backfill, the one
//! connection per app, the faults and the ledger.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xapi_simulator::{
    Burst, CorpusConfig, FaultConfig, RunningSimulator, SimConfig, StreamConfig, StreamFaults,
    StreamTrigger, TokenConfig,
};

const SECRET: &str = "stream-secret";
const APP: &str = "app";

async fn simulator(corpus: CorpusConfig, keepalive_ms: u64) -> RunningSimulator {
    let stream = StreamConfig {
        keepalive_ms,
        ..StreamConfig::default()
    };
    simulator_with(corpus, stream).await
}

async fn simulator_with(corpus: CorpusConfig, stream: StreamConfig) -> RunningSimulator {
    let config = SimConfig {
        listen: "127.0.0.1:0".into(),
        seed: 7,
        tokens: vec![TokenConfig {
            name: APP.into(),
            token: Some(SECRET.into()),
            ..TokenConfig::default()
        }],
        corpus,
        stream,
        ..SimConfig::default()
    };
    xapi_simulator::start(config)
        .await
        .expect("simulator starts")
}

/// 20 posts a second, 100 already published.
fn live_corpus() -> CorpusConfig {
    CorpusConfig {
        posts_per_second: 20.0,
        backfill_posts: 100,
        max_posts: None,
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    raw: String,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let raw = response.text().await.expect("body");
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer { status, body, raw }
}

fn rules_url(sim: &RunningSimulator) -> String {
    format!("{}/2/tweets/search/stream/rules", sim.base_url())
}

async fn post_rules(sim: &RunningSimulator, query: &[(&str, &str)], body: Value) -> Answer {
    let response = reqwest::Client::new()
        .post(rules_url(sim))
        .query(query)
        .bearer_auth(SECRET)
        .json(&body)
        .send()
        .await
        .expect("rules request");
    answer(response).await
}

async fn get_rules(sim: &RunningSimulator, query: &[(&str, &str)]) -> Answer {
    let response = reqwest::Client::new()
        .get(rules_url(sim))
        .query(query)
        .bearer_auth(SECRET)
        .send()
        .await
        .expect("rules request");
    answer(response).await
}

/// Adds rules `(value, tag)` and returns their ids in order.
async fn add_rules(sim: &RunningSimulator, rules: &[(&str, &str)]) -> Vec<String> {
    let add: Vec<Value> = rules
        .iter()
        .map(|(value, tag)| json!({"value": value, "tag": tag}))
        .collect();
    let added = post_rules(sim, &[], json!({ "add": add })).await;
    assert_eq!(added.status, 201, "{}", added.raw);
    added.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// One thing read from a stream.
#[derive(Debug)]
enum Message {
    Post(Value),
    Error(Value),
    KeepAlive,
    Closed,
}

/// Reads a stream connection message by message (CRLF-delimited).
struct StreamReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
    seen: Vec<String>,
}

impl StreamReader {
    async fn connect(sim: &RunningSimulator, query: &[(&str, &str)]) -> Result<Self, Answer> {
        let response = reqwest::Client::new()
            .get(format!("{}/2/tweets/search/stream", sim.base_url()))
            .query(query)
            .bearer_auth(SECRET)
            .send()
            .await
            .expect("stream request");
        if response.status().as_u16() != 200 {
            return Err(answer(response).await);
        }
        Ok(StreamReader {
            response,
            buffer: Vec::new(),
            seen: Vec::new(),
        })
    }

    /// The next message; panics with what it saw if none comes within `wait`.
    async fn next(&mut self, wait: Duration, waiting_for: &str) -> Message {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buffer.drain(..at + 2).take(at).collect();
                let text = String::from_utf8(line).expect("utf-8");
                self.seen.push(text.chars().take(120).collect());
                if text.is_empty() {
                    return Message::KeepAlive;
                }
                let value: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
                return if value.get("data").is_some() {
                    Message::Post(value)
                } else {
                    Message::Error(value)
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) | Ok(Err(_)) => return Message::Closed,
                Err(_) => panic!(
                    "waited {wait:?} for {waiting_for}; saw {} messages, the last ones {:?}, and {} unread bytes",
                    self.seen.len(),
                    self.seen.iter().rev().take(3).collect::<Vec<_>>(),
                    self.buffer.len()
                ),
            }
        }
    }

    /// The next post, skipping keep-alives.
    async fn next_post(&mut self, wait: Duration, waiting_for: &str) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left, waiting_for).await {
                Message::Post(post) => return post,
                Message::KeepAlive => continue,
                other => panic!("waiting for {waiting_for}, got {other:?}"),
            }
        }
    }
}

fn post_id(post: &Value) -> u64 {
    post["data"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id: {post}"))
}

fn created_ms(post: &Value) -> i64 {
    let text = post["data"]["created_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no created_at: {post}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .timestamp_millis()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Polls `check` until it holds, or panics saying what it waited for and what it last saw.
async fn eventually<T: std::fmt::Debug>(
    waiting_for: &str,
    mut probe: impl FnMut() -> T,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = probe();
        if check(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "waited 5 s for {waiting_for}; last saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn rules_are_added_listed_and_deleted_in_x_shapes() {
    let sim = simulator(live_corpus(), 20_000).await;
    let empty = get_rules(&sim, &[]).await;
    assert_eq!(empty.status, 200, "{}", empty.raw);
    assert!(empty.body.get("data").is_none(), "{}", empty.raw);
    assert_eq!(empty.body["meta"]["result_count"], 0);
    assert!(empty.body["meta"]["sent"].as_str().is_some());

    let added = post_rules(
        &sim,
        &[],
        json!({"add": [{"value": "covid lang:en", "tag": "english"}, {"value": "vacina"}]}),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.raw);
    assert_eq!(
        added.body["meta"]["summary"],
        json!({"created": 2, "not_created": 0, "valid": 2, "invalid": 0})
    );
    let ids: Vec<String> = added.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("string id").to_string())
        .collect();
    assert_eq!(added.body["data"][0]["tag"], "english");

    let dry = post_rules(
        &sim,
        &[("dry_run", "true")],
        json!({"add": [{"value": "vacuna"}]}),
    )
    .await;
    assert_eq!(dry.status, 201, "{}", dry.raw);
    assert_eq!(dry.body["meta"]["summary"]["created"], 1);
    let duplicate = post_rules(&sim, &[], json!({"add": [{"value": "vacina", "tag": "x"}]})).await;
    assert_eq!(duplicate.status, 201, "{}", duplicate.raw);
    assert_eq!(duplicate.body["errors"][0]["title"], "DuplicateRule");
    assert_eq!(duplicate.body["errors"][0]["id"], json!(ids[1]));
    let invalid = post_rules(
        &sim,
        &[],
        json!({"add": [{"value": "vacuna"}, {"value": "covid sample:10"}]}),
    )
    .await;
    assert_eq!(invalid.status, 200, "{}", invalid.raw);
    assert_eq!(invalid.body["errors"][0]["title"], "UnprocessableEntity");
    assert_eq!(
        invalid.body["errors"][0]["type"],
        "https://api.twitter.com/2/problems/invalid-rules"
    );
    assert!(
        invalid.body["errors"][0]["details"][0]
            .as_str()
            .is_some_and(|d| d.contains("sample")),
        "{}",
        invalid.raw
    );
    assert_eq!(
        invalid.body["meta"]["summary"],
        json!({"created": 0, "not_created": 2, "valid": 1, "invalid": 1})
    );

    let all = get_rules(&sim, &[]).await;
    assert_eq!(
        all.body["meta"]["result_count"], 2,
        "dry run and refusals added nothing: {}",
        all.raw
    );
    assert_eq!(
        sim.handle
            .stream_rules(APP)
            .iter()
            .map(|(_, value, tag)| (value.as_str(), tag.as_deref()))
            .collect::<Vec<_>>(),
        [("covid lang:en", Some("english")), ("vacina", None)]
    );
    let one = get_rules(&sim, &[("ids", &ids[1])]).await;
    assert_eq!(one.body["meta"]["result_count"], 1);
    assert_eq!(one.body["data"][0]["value"], "vacina");
    let bad_ids = get_rules(&sim, &[("ids", "abc")]).await;
    assert_eq!(bad_ids.status, 400, "{}", bad_ids.raw);

    let deleted = post_rules(&sim, &[], json!({"delete": {"ids": [ids[0], "1"]}})).await;
    assert_eq!(deleted.status, 200, "{}", deleted.raw);
    assert_eq!(
        deleted.body["meta"]["summary"],
        json!({"deleted": 1, "not_deleted": 1})
    );
    assert_eq!(
        deleted.body["errors"][0]["errors"][0]["message"],
        "Rule does not exist"
    );
    let by_value = post_rules(&sim, &[], json!({"delete": {"values": ["vacina"]}})).await;
    assert_eq!(
        by_value.body["meta"]["summary"]["deleted"], 1,
        "{}",
        by_value.raw
    );
    assert_eq!(get_rules(&sim, &[]).await.body["meta"]["result_count"], 0);

    for (case, query, body) in [
        ("neither add nor delete", vec![], json!({})),
        ("an empty add", vec![], json!({"add": []})),
        ("an unknown key", vec![], json!({"replace": []})),
        (
            "a bad dry_run",
            vec![("dry_run", "yes")],
            json!({"add": [{"value": "covid"}]}),
        ),
    ] {
        let refused = post_rules(&sim, &query, body).await;
        assert_eq!(refused.status, 400, "{case}: {}", refused.raw);
        assert_eq!(refused.body["title"], "Invalid Request", "{case}");
    }
    let anonymous = reqwest::Client::new()
        .get(rules_url(&sim))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
    sim.stop().await;
}

#[tokio::test]
async fn the_stream_delivers_posts_as_they_are_published_with_their_matching_rules() {
    let sim = simulator(live_corpus(), 20_000).await;
    let ids = add_rules(&sim, &[("covid", "all"), ("covid lang:en", "english")]).await;
    let connected_ms = now_ms();
    let mut stream = StreamReader::connect(
        &sim,
        &[
            ("tweet.fields", "created_at,lang"),
            ("expansions", "author_id"),
        ],
    )
    .await
    .expect("connected");
    let mut seen = Vec::new();
    let mut english = 0;
    for n in 0..8 {
        let post = stream.next_post(WAIT, &format!("post {n}")).await;
        assert!(
            created_ms(&post) >= connected_ms - 1_000,
            "no backfill asked, so only posts published since the connection: {post}"
        );
        let rules = post["matching_rules"].as_array().expect("matching_rules");
        assert!(
            rules.contains(&json!({"id": ids[0], "tag": "all"})),
            "{post}"
        );
        let is_english = post["data"]["lang"] == "en";
        assert_eq!(
            rules.contains(&json!({"id": ids[1], "tag": "english"})),
            is_english,
            "the language rule matches English posts only: {post}"
        );
        english += usize::from(is_english);
        assert_eq!(
            post["includes"]["users"][0]["id"], post["data"]["author_id"],
            "expansions as in search: {post}"
        );
        seen.push(post_id(&post));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in publication order: {seen:?}"
    );
    drop(stream);
    let stats = eventually(
        "the connection to close",
        || {
            sim.handle
                .stream_stats()
                .get(APP)
                .cloned()
                .unwrap_or_default()
        },
        |s| s.open_connections == 0,
    )
    .await;
    assert!(stats.posts_delivered >= 8, "{stats:?}");
    let ledger = sim.handle.ledger();
    let token = ledger
        .tokens
        .iter()
        .find(|t| t.token == APP)
        .expect("app in the ledger");
    let all = token
        .queries
        .iter()
        .find(|q| q.query == "covid")
        .expect("the rule's value is the ledger's query");
    assert!(
        seen.iter().all(|id| all.ids.contains(id)),
        "{seen:?} in {:?}",
        all.ids
    );
    assert_eq!(all.tags, ["all"]);
    assert_eq!(all.served_posts, all.streamed_posts);
    if english > 0 {
        let en = token
            .queries
            .iter()
            .find(|q| q.query == "covid lang:en")
            .expect("the English rule's deliveries");
        assert_eq!(en.tags, ["english"]);
    }
    assert_eq!(
        sim.handle.stats()[APP].posts_served,
        stats.posts_delivered,
        "streamed posts count as served (and against the monthly cap)"
    );
    sim.stop().await;
}

#[tokio::test]
async fn an_app_has_one_connection_and_gets_it_back_when_the_first_closes() {
    let sim = simulator(live_corpus(), 20_000).await;
    let first = StreamReader::connect(&sim, &[])
        .await
        .expect("first connects");
    let second = StreamReader::connect(&sim, &[])
        .await
        .err()
        .expect("a second connection is refused");
    assert_eq!(second.status, 429, "{}", second.raw);
    assert_eq!(
        second.body,
        json!({
            "title": "ConnectionException",
            "detail": "This stream is currently at the maximum allowed connection limit.",
            "connection_issue": "TooManyConnections",
            "type": "https://api.twitter.com/2/problems/streaming-connection"
        })
    );
    drop(first);
    eventually(
        "the first connection's slot to be given back",
        || {
            sim.handle
                .stream_stats()
                .get(APP)
                .cloned()
                .unwrap_or_default()
        },
        |s| s.open_connections == 0,
    )
    .await;
    let third = StreamReader::connect(&sim, &[]).await;
    assert!(third.is_ok(), "the slot is free again");
    let stats = sim.handle.stream_stats()[APP].clone();
    assert_eq!(
        (stats.connections, stats.refused_too_many_connections),
        (2, 1)
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_quiet_stream_sends_keep_alives_and_rule_changes_apply_without_reconnecting() {
    let sim = simulator(live_corpus(), 100).await;
    let mut stream = StreamReader::connect(&sim, &[]).await.expect("connected");
    for n in 0..3 {
        match stream.next(WAIT, &format!("keep-alive {n}")).await {
            Message::KeepAlive => {}
            other => panic!("no rules, so only keep-alives; got {other:?}"),
        }
    }
    let ids = add_rules(&sim, &[("covid", "late")]).await;
    let post = stream
        .next_post(WAIT, "a post after the rule was added")
        .await;
    assert_eq!(
        post["matching_rules"],
        json!([{"id": ids[0], "tag": "late"}])
    );
    assert!(sim.handle.stream_stats()[APP].keep_alives >= 3);
    sim.stop().await;
}

#[tokio::test]
async fn backfill_redelivers_the_minutes_before_the_connection() {
    // Two minutes of posts exist at start-up (one a second).
    let corpus = CorpusConfig {
        posts_per_second: 1.0,
        backfill_posts: 120,
        max_posts: None,
    };
    let sim = simulator(corpus, 20_000).await;
    add_rules(&sim, &[("covid", "all")]).await;
    // The simulator opens the connection between these two instants.
    let before_ms = now_ms();
    let mut stream = StreamReader::connect(
        &sim,
        &[("backfill_minutes", "1"), ("tweet.fields", "created_at")],
    )
    .await
    .expect("connected");
    let after_ms = now_ms();
    let mut backfilled = Vec::new();
    loop {
        let post = stream
            .next_post(WAIT, "backfilled posts, then a new one")
            .await;
        let created = created_ms(&post);
        if created > after_ms + 1_000 {
            break;
        }
        assert!(
            created >= before_ms - 61_000,
            "older than the minute asked for: {post}"
        );
        backfilled.push(post_id(&post));
    }
    // A minute of posts at one a second, plus those published while connecting.
    let connecting_s = usize::try_from((after_ms - before_ms) / 1_000).unwrap_or(0);
    assert!(
        (58..=63 + connecting_s).contains(&backfilled.len()),
        "about a minute of posts at one a second: {} (connecting took {} ms)",
        backfilled.len(),
        after_ms - before_ms
    );
    assert!(backfilled.windows(2).all(|w| w[0] < w[1]));
    drop(stream);
    eventually(
        "the connection to close",
        || sim.handle.stream_stats()[APP].open_connections,
        |open| *open == 0,
    )
    .await;
    // Reconnecting with backfill delivers the same posts again: duplicates are allowed.
    let mut again = StreamReader::connect(&sim, &[("backfill_minutes", "1")])
        .await
        .expect("reconnected");
    let first = again.next_post(WAIT, "the first backfilled post").await;
    assert!(post_id(&first) <= *backfilled.last().expect("some"));
    drop(again);
    let ledger = sim.handle.ledger();
    let all = &ledger.tokens[0].queries[0];
    assert!(
        all.served_posts > all.distinct_posts,
        "the repeat is counted: {all:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn stream_parameters_are_validated() {
    let sim = simulator(live_corpus(), 20_000).await;
    let refused = StreamReader::connect(&sim, &[("backfill_minutes", "9"), ("query", "covid")])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 400, "{}", refused.raw);
    let messages: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("[9] is not between 0 and 5"))
    );
    assert!(messages.iter().any(|m| m.contains("[query] is not one of")));
    sim.stop().await;
}

fn trigger_after_posts(posts: u64) -> Option<StreamTrigger> {
    Some(StreamTrigger {
        after_posts: Some(posts),
        after_ms: None,
    })
}

#[tokio::test]
async fn an_injected_drop_closes_the_connection_after_n_posts() {
    let sim = simulator(live_corpus(), 20_000).await;
    add_rules(&sim, &[("covid", "all")]).await;
    sim.handle.set_faults(FaultConfig {
        stream: StreamFaults {
            drop: trigger_after_posts(3),
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });
    let mut stream = StreamReader::connect(&sim, &[]).await.expect("connected");
    for n in 0..3 {
        stream
            .next_post(WAIT, &format!("post {n} before the drop"))
            .await;
    }
    match stream.next(WAIT, "the end of the connection").await {
        Message::Closed => {}
        other => panic!("dropped after 3 posts, got {other:?}"),
    }
    let stats = sim.handle.stream_stats()[APP].clone();
    assert_eq!((stats.injected_drops, stats.posts_delivered), (1, 3));
    sim.stop().await;
}

#[tokio::test]
async fn an_operational_disconnect_is_an_error_object_in_the_stream() {
    let sim = simulator(live_corpus(), 20_000).await;
    add_rules(&sim, &[("covid", "all")]).await;
    sim.handle.set_faults(FaultConfig {
        stream: StreamFaults {
            operational_disconnect: trigger_after_posts(2),
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });
    let mut stream = StreamReader::connect(&sim, &[]).await.expect("connected");
    for n in 0..2 {
        stream.next_post(WAIT, &format!("post {n}")).await;
    }
    match stream.next(WAIT, "the disconnect message").await {
        Message::Error(error) => assert_eq!(
            error,
            json!({"errors": [{
                "title": "operational-disconnect",
                "disconnect_type": "UpstreamOperationalDisconnect",
                "detail": "This stream has been disconnected upstream for operational reasons.",
                "type": "https://api.twitter.com/2/problems/operational-disconnect"
            }]})
        ),
        other => panic!("expected the disconnect message, got {other:?}"),
    }
    match stream.next(WAIT, "the end of the connection").await {
        Message::Closed => {}
        other => panic!("the connection ends after the message, got {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn a_stalled_stream_stays_open_and_silent() {
    let keepalive_ms = 50;
    let sim = simulator(live_corpus(), keepalive_ms).await;
    add_rules(&sim, &[("covid", "all")]).await;
    sim.handle.set_faults(FaultConfig {
        stream: StreamFaults {
            stall: trigger_after_posts(1),
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });
    let mut stream = StreamReader::connect(&sim, &[]).await.expect("connected");
    stream.next_post(WAIT, "the post before the stall").await;
    eventually(
        "the stall to be counted",
        || sim.handle.stream_stats()[APP].injected_stalls,
        |stalls| *stalls == 1,
    )
    .await;
    // Twenty keep-alive intervals (and 20 posts a second) without a byte.
    let silence = Duration::from_millis(keepalive_ms * 20);
    let chunk = tokio::time::timeout(silence, stream.response.chunk()).await;
    assert!(chunk.is_err(), "a stalled stream writes nothing: {chunk:?}");
    assert_eq!(
        sim.handle.stream_stats()[APP].open_connections,
        1,
        "and stays open"
    );
    // Closing the streams ends it (`stop` does this first, so it need not wait out its grace).
    let closed = reqwest::Client::new()
        .post(format!("{}/_sim/streams/close", sim.base_url()))
        .send()
        .await
        .expect("POST /_sim/streams/close");
    assert_eq!(closed.status().as_u16(), 204);
    match stream
        .next(WAIT, "the stalled connection to end on close_streams")
        .await
    {
        Message::Closed => {}
        other => panic!("expected the end of the connection, got {other:?}"),
    }
    // Later connections are served (and stall again: the fault is still set).
    sim.handle.set_faults(FaultConfig::default());
    eventually(
        "the closed connection's slot",
        || sim.handle.stream_stats()[APP].open_connections,
        |open| *open == 0,
    )
    .await;
    let mut after = StreamReader::connect(&sim, &[]).await.expect("reconnected");
    after.next_post(WAIT, "a post after close_streams").await;
    sim.stop().await;
}

#[tokio::test]
async fn injected_429s_and_revoked_tokens_refuse_the_connection() {
    let sim = simulator(live_corpus(), 20_000).await;
    sim.handle.set_faults(FaultConfig {
        stream: StreamFaults {
            reject_connects: Some(Burst {
                every: 2,
                length: 1,
                status: 429,
            }),
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });
    let refused = StreamReader::connect(&sim, &[])
        .await
        .err()
        .expect("attempt 0 refused");
    assert_eq!(refused.status, 429, "{}", refused.raw);
    assert_eq!(refused.body["title"], "Too Many Requests");
    let accepted = StreamReader::connect(&sim, &[]).await;
    assert!(accepted.is_ok(), "attempt 1 is not in the burst");
    drop(accepted);
    assert_eq!(sim.handle.stream_stats()[APP].refused_injected, 1);
    sim.handle.set_faults(FaultConfig::default());
    sim.handle.revoke(APP);
    let revoked = StreamReader::connect(&sim, &[])
        .await
        .err()
        .expect("revoked");
    assert_eq!(revoked.status, 401, "{}", revoked.raw);
    sim.stop().await;
}

#[tokio::test]
async fn connection_attempts_and_rule_changes_have_their_own_windows() {
    let stream = StreamConfig {
        connects_per_window: 2,
        rule_changes_per_window: 1,
        window_seconds: 900,
        ..StreamConfig::default()
    };
    let sim = simulator_with(live_corpus(), stream).await;
    for attempt in 0..2 {
        let connected = StreamReader::connect(&sim, &[]).await;
        let reader = connected.unwrap_or_else(|refused| panic!("attempt {attempt}: {refused:?}"));
        let remaining = reader.response.headers()["x-rate-limit-remaining"]
            .to_str()
            .expect("header")
            .to_string();
        assert_eq!(remaining, (1 - attempt).to_string(), "attempt {attempt}");
        drop(reader);
        eventually(
            "the connection to close",
            || sim.handle.stream_stats()[APP].open_connections,
            |open| *open == 0,
        )
        .await;
    }
    let third = StreamReader::connect(&sim, &[])
        .await
        .err()
        .expect("over the window");
    assert_eq!(third.status, 429, "{}", third.raw);
    assert_eq!(third.body["title"], "Too Many Requests");
    add_rules(&sim, &[("covid", "all")]).await;
    let second_change = post_rules(&sim, &[], json!({"add": [{"value": "vacina"}]})).await;
    assert_eq!(second_change.status, 429, "{}", second_change.raw);
    assert_eq!(
        get_rules(&sim, &[]).await.status,
        200,
        "lookups have a window of their own"
    );
    assert_eq!(sim.handle.stream_stats()[APP].rate_limited, 2);
    sim.stop().await;
}

#[tokio::test]
async fn faults_set_over_the_admin_api_drop_a_connection_at_a_time() {
    let sim = simulator(live_corpus(), 20_000).await;
    add_rules(&sim, &[("covid", "all")]).await;
    let put = reqwest::Client::new()
        .put(format!("{}/_sim/faults", sim.base_url()))
        .body(r#"{"stream":{"drop":{"after_ms":300}}}"#)
        .send()
        .await
        .expect("PUT faults");
    assert_eq!(put.status().as_u16(), 204);
    let opened = Instant::now();
    let mut stream = StreamReader::connect(&sim, &[]).await.expect("connected");
    let mut posts = 0;
    loop {
        match stream.next(WAIT, "posts, then the drop").await {
            Message::Post(_) => posts += 1,
            Message::KeepAlive => {}
            Message::Closed => break,
            Message::Error(error) => panic!("a drop sends nothing: {error}"),
        }
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(300),
        "not before its time: {:?}",
        opened.elapsed()
    );
    let stats: Value = reqwest::get(format!("{}/_sim/stats", sim.base_url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stats["streams"][APP]["injected_drops"], 1, "{stats}");
    assert_eq!(stats["streams"][APP]["posts_delivered"], posts, "{stats}");
    let metrics = reqwest::get(format!("{}/metrics", sim.base_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        r#"xapi_sim_faults_injected_total{kind="stream_drop"} 1"#,
        r#"xapi_sim_stream_connections_total{token="app"} 1"#,
        r#"xapi_sim_stream_connections_open{token="app"} 0"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    sim.stop().await;
}
