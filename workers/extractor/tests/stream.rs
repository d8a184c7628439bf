//! Stream mode against the simulator's filtered stream and real Kafka: streamed posts reach
//! Kafka once per query, routed to every matching query; drops and stalls reconnect and lose
//! nothing; a gap longer than backfill is filled by search; a refused connection (429
//! TooManyConnections) backs off and connects once the other connection is gone.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::topics;
use tweetpipe_extractor::stream::recovery::parse_ms;
use tweetpipe_extractor::xapi::snowflake_millis;
use tweetpipe_testkit::kafka::{bootstrap, produce_raw, producer};
use tweetpipe_testkit::records::Record;
use xapi_simulator::{
    CorpusConfig, FaultConfig, RunningSimulator, SimConfig, StreamConfig, StreamFaults,
    StreamTrigger,
};

/// A simulator publishing 20 posts a second, `history_seconds` of them already published; the
/// stream writes a keep-alive after 300 ms of quiet.
async fn live_simulator(history_seconds: u64) -> RunningSimulator {
    xapi_simulator::start(SimConfig {
        listen: "127.0.0.1:0".into(),
        seed: 11,
        tokens: vec![token_config(450, 900, 10_000_000)],
        corpus: CorpusConfig {
            posts_per_second: 20.0,
            backfill_posts: 20 * history_seconds,
            max_posts: None,
        },
        stream: StreamConfig {
            keepalive_ms: 300,
            ..StreamConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

/// `queries` as `(name, query, delivery)`, with test-sized stream settings.
fn stream_config(
    setup: &Setup,
    sim: &RunningSimulator,
    queries: &[(&str, &str, &str)],
) -> serde_json::Value {
    let pairs: Vec<(&str, &str)> = queries.iter().map(|(n, q, _)| (*n, *q)).collect();
    let mut config = setup.config(sim, 60, 900, 100, &pairs);
    for (i, (_, _, delivery)) in queries.iter().enumerate() {
        config["queries"][i]["delivery"] = json!(delivery);
    }
    config["stream"] = json!({
        "backfill_minutes": 1,
        "keepalive_timeout_ms": 1_500,
        "network_backoff_initial_ms": 50, "network_backoff_max_ms": 500,
        "http_backoff_initial_ms": 200, "http_backoff_max_ms": 1_000,
        "rate_limited_backoff_initial_ms": 500, "rate_limited_backoff_max_ms": 2_000,
        "batch_max_posts": 20, "batch_max_ms": 100,
        "delivery_lag_ms": 1_000
    });
    config
}

/// Polls `probe` until it answers `Ok`, or panics after `timeout` naming what it waited for
/// and the last thing it saw.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn stored_until(cps: &HashMap<String, Checkpoint>, query: &str) -> Option<i64> {
    cps.get(query)?
        .stream
        .as_ref()
        .and_then(|s| parse_ms(&s.stored_until))
}

/// Waits until every query's `stored_until` is past `at_ms`.
async fn wait_stored_past(
    setup: &Setup,
    queries: &[&str],
    at_ms: i64,
) -> HashMap<String, Checkpoint> {
    let bootstrap = setup.bootstrap.clone();
    let topic = setup.topic.clone();
    wait_for(
        &format!("stored_until of {queries:?} past {at_ms}"),
        Duration::from_secs(90),
        || {
            let (b, t) = (bootstrap.clone(), topic.clone());
            async move {
                let cps = tokio::task::spawn_blocking(move || {
                    tweetpipe_testkit::checkpoints::read_checkpoints(&b, &t)
                })
                .await
                .map_err(|e| e.to_string())??;
                if queries
                    .iter()
                    .all(|q| stored_until(&cps, q).is_some_and(|s| s > at_ms))
                {
                    Ok(cps)
                } else {
                    Err(format!("{cps:?}"))
                }
            }
        },
    )
    .await
}

/// Writes a checkpoint saying `query` stored everything before `at_ms`, as a run that stopped
/// then would have left.
async fn seed_stored_until(setup: &Setup, query: &str, at_ms: i64) {
    let seeded = Checkpoint {
        stream: Some(tweetpipe_common::contract::checkpoint::StreamProgress {
            stored_until: tweetpipe_extractor::progress::rfc3339(at_ms),
            ..Default::default()
        }),
        ..Checkpoint::new(query, "")
    };
    produce_raw(
        &producer(&setup.bootstrap),
        &topics::checkpoint_topic(&setup.topic),
        query,
        &serde_json::to_vec(&seeded).expect("json"),
        None,
    )
    .await
    .expect("seed the checkpoint");
}

fn now_ms() -> i64 {
    tweetpipe_extractor::worker::now_ms()
}

/// The records of `query`, asserting no post twice.
fn records_of<'a>(records: &'a [Record], query: &str) -> Vec<&'a Record> {
    let mine: Vec<&Record> = records
        .iter()
        .filter(|r| r.post.query_name == query)
        .collect();
    let distinct: BTreeSet<&str> = mine.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        distinct.len(),
        mine.len(),
        "a post of {query} reached Kafka twice"
    );
    mine
}

/// After a restart or a handoff: each of `query`'s posts (it streams `covid`) stored exactly
/// once (the checkpoint carries the ids written after its `stored_until`, so the next owner
/// drops them when the backfill delivers them again), and none lost from `from_ms` up to the
/// query's `stored_until`.
fn assert_once_and_nothing_lost(
    sim: &RunningSimulator,
    records: &[Record],
    query: &str,
    from_ms: i64,
    cps: &HashMap<String, Checkpoint>,
) {
    let mine = records_of(records, query);
    assert_nothing_lost(
        sim,
        &mine,
        "covid",
        from_ms,
        stored_until(cps, query).expect("until"),
    );
}

/// Every post matching `value` published in `[from_ms, to_ms)` is in `records` exactly once,
/// and every record of the query is a post the simulator served (stream or search).
fn assert_nothing_lost(
    sim: &RunningSimulator,
    records: &[&Record],
    value: &str,
    from_ms: i64,
    to_ms: i64,
) {
    assert!(from_ms < to_ms, "an empty interval [{from_ms}, {to_ms})");
    let expected: BTreeSet<String> = sim
        .handle
        .matching_ids(value)
        .expect("query")
        .into_iter()
        .filter(|id| snowflake_millis(id).is_some_and(|t| t >= from_ms && t < to_ms))
        .collect();
    assert!(
        !expected.is_empty(),
        "no post of {value:?} in [{from_ms}, {to_ms})"
    );
    let stored: BTreeSet<String> = records
        .iter()
        .filter(|r| snowflake_millis(&r.key).is_some_and(|t| t >= from_ms && t < to_ms))
        .map(|r| r.key.clone())
        .collect();
    let ledger = sim.handle.ledger();
    let served: BTreeSet<String> = ledger
        .tokens
        .iter()
        .flat_map(|t| &t.queries)
        .filter(|q| q.query == value)
        .flat_map(|q| q.ids.iter().map(u64::to_string))
        .collect();
    let missing: Vec<_> = expected
        .difference(&stored)
        .map(|id| (id, snowflake_millis(id), served.contains(id)))
        .collect();
    let extra: Vec<_> = stored.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{value:?} in [{from_ms}, {to_ms}): {} missing (id, ms, served by the simulator) {missing:?}, {} unexpected {extra:?}",
        missing.len(),
        extra.len()
    );
    let unserved: Vec<_> = records
        .iter()
        .filter(|r| !served.contains(&r.key))
        .map(|r| &r.key)
        .collect();
    assert!(
        unserved.is_empty(),
        "records the simulator never served for {value:?}: {unserved:?}"
    );
}

/// The value of a metric line starting with `prefix` (labels included), 0 when absent.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_posts_reach_kafka_once_per_matching_query() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let setup = Setup::new(&bootstrap(), "stream-once").await;
    let sim = live_simulator(10).await;
    let queries = [
        ("all", "covid", "stream_with_search_recovery"),
        ("pt", "covid lang:pt", "stream"),
    ];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let extractor = Extractor::start(&config, 0).await;

    // The first checkpoint of each query is written when the connection opens: its start.
    let started = wait_stored_past(&setup, &["all", "pt"], 0).await;
    let from = ["all", "pt"]
        .iter()
        .filter_map(|q| stored_until(&started, q))
        .max()
        .expect("start");
    let cps = wait_stored_past(&setup, &["all", "pt"], from + 6_000).await;
    let metrics = extractor.metrics().await;
    let readyz = format!("http://{}/readyz", extractor.running.ops_addr);
    assert_eq!(tweetpipe_testkit::http::get_status(&readyz).await, 200);
    extractor.stop().await;

    let records = setup.records().await;
    let all = records_of(&records, "all");
    let pt = records_of(&records, "pt");
    let until = |q: &str| stored_until(&cps, q).expect("stored_until");
    assert_nothing_lost(&sim, &all, "covid", from, until("all"));
    assert_nothing_lost(&sim, &pt, "covid lang:pt", from, until("pt"));
    // Routing: every Portuguese post went to both queries.
    let all_ids: BTreeSet<&str> = all.iter().map(|r| r.key.as_str()).collect();
    assert!(pt.iter().all(|r| all_ids.contains(r.key.as_str())));
    for r in all.iter().chain(&pt) {
        assert_eq!(r.key, r.post.id);
        assert_eq!(
            r.headers.get("tweetpipe-query").map(String::as_str),
            Some(r.post.query_name.as_str())
        );
        assert!(
            r.headers
                .contains_key(tweetpipe_common::headers::RECEIVED_AT)
        );
        assert!(
            r.post.author.is_some(),
            "expansions asked on the stream too"
        );
    }
    // The rules carry this pipeline's tags, and nothing was searched.
    let rules = sim.handle.stream_rules("app");
    let tags: BTreeSet<String> = rules.iter().filter_map(|(_, _, t)| t.clone()).collect();
    let prefix = format!("tweetpipe:tests/{}:", setup.topic);
    assert_eq!(
        tags,
        BTreeSet::from([format!("{prefix}all"), format!("{prefix}pt")])
    );
    assert_eq!(sim.handle.stats()["app"].requests, 0, "no search request");
    // Each query's checkpoint names its rule's id and carries the connection's record.
    for query in ["all", "pt"] {
        let id = rules
            .iter()
            .find(|(_, _, tag)| tag.as_deref() == Some(format!("{prefix}{query}").as_str()))
            .map(|(id, _, _)| id.to_string());
        let stream = cps[query].stream.as_ref().expect("stream progress");
        assert_eq!(stream.rule_id, id, "{query}");
        let connection = stream.connection.as_ref().expect("the connection's record");
        // A first connection asks no backfill; a reconnect (a stall on a loaded machine) asks
        // one minute and is counted, never more often than the connection ended.
        let (reconnects, backfill) = (connection.reconnects, connection.backfill_minutes);
        assert!(
            (reconnects == 0 && backfill == 0) || (reconnects >= 1 && backfill == 1),
            "{connection:?}"
        );
        assert!(
            reconnects as f64 <= metric(&metrics, "tweetpipe_extractor_stream_reconnects_total{"),
            "{connection:?}"
        );
        let connected = connection.connected_at.as_deref().and_then(parse_ms);
        let received = connection.last_received_at.as_deref().and_then(parse_ms);
        assert!(
            connected.is_some_and(|c| received.is_some_and(|r| r >= c && r > from)),
            "{connection:?}"
        );
    }
    assert_eq!(
        metric(&metrics, "tweetpipe_extractor_stream_connected{"),
        1.0,
        "{metrics}"
    );
    assert!(metric(&metrics, "tweetpipe_extractor_stream_keep_alives_total{") >= 0.0);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_and_stalls_reconnect_and_lose_nothing() {
    let setup = Setup::new(&bootstrap(), "stream-faults").await;
    let sim = live_simulator(10).await;
    let queries = [("all", "covid", "stream_with_search_recovery")];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let extractor = Extractor::start(&config, 0).await;
    let started = wait_stored_past(&setup, &["all"], 0).await;
    let from = stored_until(&started, "all").expect("start");

    let reconnects = |text: &str| metric(text, "tweetpipe_extractor_stream_reconnects_total{");
    // Triggers by time: a connection's backfill (a minute of posts) is written at once, and
    // a trigger by posts would cut every connection inside it.
    let after = |ms| {
        Some(StreamTrigger {
            after_posts: None,
            after_ms: Some(ms),
        })
    };
    for (faults, name) in [
        (
            StreamFaults {
                drop: after(1_500),
                ..StreamFaults::default()
            },
            "drops",
        ),
        (
            StreamFaults {
                stall: after(700),
                ..StreamFaults::default()
            },
            "stalls",
        ),
        (
            StreamFaults {
                operational_disconnect: after(1_500),
                ..StreamFaults::default()
            },
            "operational disconnects",
        ),
    ] {
        let before = reconnects(&extractor.metrics().await);
        sim.handle.set_faults(FaultConfig {
            stream: faults,
            ..FaultConfig::default()
        });
        wait_for(
            &format!("two reconnects after {name}"),
            Duration::from_secs(60),
            || async {
                let text = extractor.metrics().await;
                let now = reconnects(&text);
                if now >= before + 2.0 {
                    Ok(())
                } else {
                    Err(format!("reconnects {now} (before {before})"))
                }
            },
        )
        .await;
    }
    sim.handle.set_faults(FaultConfig::default());
    let calm = now_ms();
    let cps = wait_stored_past(&setup, &["all"], calm + 3_000).await;
    let stats = sim.handle.stream_stats();
    extractor.stop().await;

    let app = &stats["app"];
    assert!(
        app.injected_drops >= 2 && app.injected_stalls >= 2,
        "{app:?}"
    );
    assert!(app.injected_operational_disconnects >= 2, "{app:?}");
    // Every fault ended a connection the next one replaced, each asking the backfill.
    let connection = cps["all"]
        .stream
        .as_ref()
        .and_then(|s| s.connection.clone())
        .expect("the connection's record");
    assert!(connection.reconnects >= 6, "{connection:?}");
    assert_eq!(connection.backfill_minutes, 1, "{connection:?}");
    let records = setup.records().await;
    let all = records_of(&records, "all");
    assert_nothing_lost(
        &sim,
        &all,
        "covid",
        from,
        stored_until(&cps, "all").expect("until"),
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_longer_than_backfill_is_filled_by_search() {
    let setup = Setup::new(&bootstrap(), "stream-gap").await;
    // Three minutes of history; the query last stored up to 150 s ago, so a reconnect with one
    // minute of backfill leaves about 90 s for search.
    let sim = live_simulator(180).await;
    let queries = [("all", "covid", "stream_with_search_recovery")];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let from = now_ms() - 150_000;
    seed_stored_until(&setup, "all", from).await;

    let extractor = Extractor::start(&config, 0).await;
    let connected = now_ms();
    let cps = wait_stored_past(&setup, &["all"], connected + 3_000).await;
    let metrics = extractor.metrics().await;
    extractor.stop().await;

    let cp = &cps["all"];
    let progress = cp.stream.as_ref().expect("stream progress");
    assert_eq!(progress.recoveries, 1, "{cp:?}");
    assert!(progress.recovered_posts > 0, "{cp:?}");
    assert_eq!(cp.gaps_total, 0, "nothing lost: {cp:?}");
    assert!(
        metric(
            &metrics,
            "tweetpipe_extractor_stream_recovered_posts_total{"
        ) > 0.0
    );
    assert!(
        metric(
            &metrics,
            "tweetpipe_extractor_stream_backfill_minutes_total{"
        ) >= 1.0
    );
    let records = setup.records().await;
    let all = records_of(&records, "all");
    assert_nothing_lost(
        &sim,
        &all,
        "covid",
        from,
        stored_until(&cps, "all").expect("until"),
    );
    let searches = sim.handle.stats()["app"].requests;
    assert!(searches >= 1, "the gap came from search");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_connections_backs_off_until_the_connection_is_free() {
    let setup = Setup::new(&bootstrap(), "stream-429").await;
    let sim = live_simulator(10).await;
    // Someone else holds the app's one connection.
    let other = reqwest::Client::new()
        .get(format!("{}/2/tweets/search/stream", sim.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the other connection");
    assert_eq!(other.status().as_u16(), 200);
    let queries = [("all", "covid", "stream")];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let extractor = Extractor::start(&config, 0).await;

    wait_for("two refused connection attempts", Duration::from_secs(30), || async {
        let stats = sim.handle.stream_stats();
        let refused = stats.get("app").map_or(0, |s| s.refused_too_many_connections);
        let text = extractor.metrics().await;
        let backed_off = metric(&text, "tweetpipe_extractor_stream_reconnects_total{connection=\"all\",reason=\"rate_limited\"}");
        if refused >= 2 && backed_off >= 2.0 {
            Ok(())
        } else {
            Err(format!("refused {refused}, rate_limited reconnects {backed_off}"))
        }
    })
    .await;
    drop(other);
    let freed = now_ms();
    let cps = wait_stored_past(&setup, &["all"], freed + 2_000).await;
    let metrics = extractor.metrics().await;
    extractor.stop().await;
    assert_eq!(
        metric(&metrics, "tweetpipe_extractor_stream_connected{"),
        1.0,
        "{metrics}"
    );
    assert!(cps["all"].posts_total > 0, "{:?}", cps["all"]);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_holds_the_connection_and_a_handoff_loses_nothing() {
    let setup = Setup::new(&bootstrap(), "stream-handoff").await;
    let sim = live_simulator(10).await;
    let queries = [
        ("s", "covid", "stream_with_search_recovery"),
        ("pt", "covid lang:pt", "search"),
    ];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let mut replicas = vec![
        Some(Extractor::start(&config, 0).await),
        Some(Extractor::start(&config, 1).await),
    ];
    let started = wait_stored_past(&setup, &["s"], 0).await;
    let from = stored_until(&started, "s").expect("start");

    // Which replica holds the connection; never both.
    async fn holder(replicas: &[Option<Extractor>]) -> Result<usize, String> {
        let mut held = Vec::new();
        for (i, r) in replicas.iter().enumerate() {
            if let Some(r) = r
                && metric(&r.metrics().await, "tweetpipe_extractor_stream_connected{") == 1.0
            {
                held.push(i);
            }
        }
        assert!(
            held.len() <= 1,
            "replicas {held:?} hold the connection at once"
        );
        held.first()
            .copied()
            .ok_or_else(|| "no replica holds it".to_string())
    }
    let first = wait_for(
        "a replica holding the connection",
        Duration::from_secs(60),
        || holder(&replicas),
    )
    .await;
    wait_stored_past(&setup, &["s"], now_ms() + 2_000).await;

    // The holder stops (its slots go to the other replica), which takes the connection over.
    let summary = replicas[first].take().expect("holder").stop().await;
    assert!(summary.posts > 0, "{summary:?}");
    let second = wait_for(
        "the other replica taking the connection",
        Duration::from_secs(60),
        || holder(&replicas),
    )
    .await;
    assert_ne!(first, second);
    let cps = wait_stored_past(&setup, &["s"], now_ms() + 3_000).await;
    for r in replicas.into_iter().flatten() {
        r.stop().await;
    }

    // The posts of the last delivery_lag_ms (1 s here) before the stored checkpoint come again
    // with the new owner's backfill; the checkpoint's recent ids drop them.
    let records = setup.records().await;
    assert_once_and_nothing_lost(&sim, &records, "s", from, &cps);
    let app = &sim.handle.stream_stats()["app"];
    assert!(app.connections >= 2, "{app:?}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_only_records_a_gap_longer_than_backfill() {
    let setup = Setup::new(&bootstrap(), "stream-only-gap").await;
    let sim = live_simulator(180).await;
    let queries = [("all", "covid", "stream")];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let from = now_ms() - 150_000;
    seed_stored_until(&setup, "all", from).await;
    let before = now_ms();
    let extractor = Extractor::start(&config, 0).await;
    let cps = wait_stored_past(&setup, &["all"], now_ms() + 2_000).await;
    // The connection was requested between these two instants.
    let connected = now_ms();
    extractor.stop().await;

    let cp = &cps["all"];
    assert_eq!(cp.gaps_total, 1, "{cp:?}");
    let gap = cp.last_gap.as_ref().expect("the gap");
    assert_eq!(parse_ms(&gap.from), Some(from), "{gap:?}");
    let to = parse_ms(&gap.to).expect("gap end");
    // The gap ends where the backfill (one minute) begins.
    assert!(
        to >= before - 60_000 && to <= connected - 60_000 + 1_000,
        "{gap:?}, connected between {before} and {connected}"
    );
    assert_eq!(
        sim.handle.stats()["app"].requests,
        0,
        "no search in stream mode"
    );
    let records = setup.records().await;
    let all = records_of(&records, "all");
    // From the backfill on, nothing is lost.
    assert_nothing_lost(
        &sim,
        &all,
        "covid",
        to,
        stored_until(&cps, "all").expect("until"),
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_within_backfill_resumes_without_search_or_loss() {
    let setup = Setup::new(&bootstrap(), "stream-restart").await;
    let sim = live_simulator(10).await;
    let queries = [("all", "covid", "stream_with_search_recovery")];
    let config = parse_config(stream_config(&setup, &sim, &queries));
    let first = Extractor::start(&config, 0).await;
    let started = wait_stored_past(&setup, &["all"], 0).await;
    let from = stored_until(&started, "all").expect("start");
    wait_stored_past(&setup, &["all"], from + 3_000).await;
    first.stop().await;

    let second = Extractor::start(&config, 0).await;
    let cps = wait_stored_past(&setup, &["all"], now_ms() + 3_000).await;
    let metrics = second.metrics().await;
    second.stop().await;

    assert!(
        metric(
            &metrics,
            "tweetpipe_extractor_stream_backfill_minutes_total{"
        ) >= 1.0,
        "the restart asks backfill: {metrics}"
    );
    assert_eq!(
        sim.handle.stats()["app"].requests,
        0,
        "backfill covered the restart"
    );
    let records = setup.records().await;
    assert_once_and_nothing_lost(&sim, &records, "all", from, &cps);
    assert_eq!(cps["all"].gaps_total, 0);
    // The restart's connection counts as a reconnect: the count goes on from the checkpoint.
    let connection = cps["all"]
        .stream
        .as_ref()
        .and_then(|s| s.connection.clone())
        .expect("the connection's record");
    assert!(
        connection.reconnects >= 1 && connection.backfill_minutes == 1,
        "{connection:?}"
    );
    sim.stop().await;
}

/// The tags of the rules the simulator's app holds.
fn rule_tags(sim: &RunningSimulator) -> BTreeSet<String> {
    sim.handle
        .stream_rules("app")
        .into_iter()
        .filter_map(|(_, _, tag)| tag)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_moved_back_to_search_has_its_rule_deleted() {
    let setup = Setup::new(&bootstrap(), "stream-to-search").await;
    let sim = live_simulator(10).await;
    // A rule made by hand on the same app: never touched.
    let added = reqwest::Client::new()
        .post(format!("{}/2/tweets/search/stream/rules", sim.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"add": [{"value": "cats", "tag": "by-hand"}]}))
        .send()
        .await
        .expect("rule by hand");
    assert_eq!(added.status().as_u16(), 201);
    let streamed = parse_config(stream_config(
        &setup,
        &sim,
        &[
            ("s", "covid", "stream_with_search_recovery"),
            ("p", "covid lang:pt", "search"),
        ],
    ));
    let first = Extractor::start(&streamed, 0).await;
    wait_stored_past(&setup, &["s"], 0).await;
    first.stop().await;
    let own = format!("tweetpipe:tests/{}:s", setup.topic);
    assert_eq!(
        rule_tags(&sim),
        BTreeSet::from([own.clone(), "by-hand".to_string()])
    );

    // `s` is searched now, and no query of the pipeline streams on the app any more (the
    // operator then writes no stream settings).
    let mut searched = stream_config(
        &setup,
        &sim,
        &[("s", "covid", "search"), ("p", "covid lang:pt", "search")],
    );
    searched.as_object_mut().expect("object").remove("stream");
    let restarted = now_ms();
    let second = Extractor::start(&parse_config(searched), 0).await;
    wait_for(
        "the rule of the query moved back to search to be deleted",
        Duration::from_secs(30),
        || async {
            let tags = rule_tags(&sim);
            if tags.contains(&own) {
                Err(format!("rules on the app: {tags:?}"))
            } else {
                Ok(())
            }
        },
    )
    .await;
    // It is searched now (its first run pages back through recent search).
    setup
        .wait_for_checkpoints(Duration::from_secs(30), |cps| {
            cps.get("s").is_some_and(|cp| {
                cp.last_poll_at
                    .as_deref()
                    .and_then(parse_ms)
                    .is_some_and(|at| at >= restarted)
                    && cp.rate_window.is_some()
            })
        })
        .await;
    second.stop().await;
    assert_eq!(rule_tags(&sim), BTreeSet::from(["by-hand".to_string()]));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_moved_from_search_to_stream_loses_and_repeats_nothing() {
    let setup = Setup::new(&bootstrap(), "stream-from-search").await;
    let sim = live_simulator(3).await;
    let before = now_ms() - 3_600_000;
    // Searched first: the first poll fetches the 3 s of history in one page; the next would
    // come 15 s later.
    let searched = parse_config(stream_config(&setup, &sim, &[("all", "covid", "search")]));
    let first = Extractor::start(&searched, 0).await;
    setup
        .wait_for_checkpoints(Duration::from_secs(60), |cps| {
            cps.get("all")
                .is_some_and(|cp| cp.since_id.is_some() && cp.pagination.is_none())
        })
        .await;
    first.stop().await;
    // Posts go on being published while no one collects them: the stream must not start
    // from its connection, or these are lost.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let streamed = parse_config(stream_config(
        &setup,
        &sim,
        &[("all", "covid", "stream_with_search_recovery")],
    ));
    let second = Extractor::start(&streamed, 0).await;
    wait_stored_past(&setup, &["all"], now_ms() + 3_000).await;
    let metrics = second.metrics().await;
    second.stop().await;
    // Read after the stop: the checkpoint that covers every record written.
    let cps = setup
        .wait_for_checkpoints(Duration::from_secs(30), |cps| cps.contains_key("all"))
        .await;

    assert!(
        metric(
            &metrics,
            "tweetpipe_extractor_stream_backfill_minutes_total{"
        ) >= 1.0,
        "the first connection asks backfill: {metrics}"
    );
    let records = setup.records().await;
    assert_once_and_nothing_lost(&sim, &records, "all", before, &cps);
    let cp = &cps["all"];
    assert_eq!(cp.gaps_total, 0, "{cp:?}");
    assert_eq!(
        cp.month_posts,
        records_of(&records, "all").len() as u64,
        "month_posts counts each stored post once: {cp:?}"
    );
    sim.stop().await;
}
