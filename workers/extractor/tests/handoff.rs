//! The extractor under change: rescaling hands queries over without overlap, a stop mid-request
//! keeps the page X served, a restart mid-window does not spend the window again, and a checkpoint older than the API's 7-day window resumes
//! with a recorded gap. Real Kafka (the platform's), the simulator in-process with its ledger.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use support::*;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::topics::checkpoint_topic;
use tweetpipe_testkit::checkpoints::read_checkpoints;
use tweetpipe_testkit::kafka::{bootstrap, produce_raw, producer};
use xapi_simulator::{CorpusConfig, FaultConfig, RunningSimulator, SimConfig, SlowResponses};

/// A test's topics on the platform's Kafka, and a simulator whose posts keep arriving
/// (`per_second`, after a small backfill) for a token of `limit` requests per window.
async fn live_setup(
    name: &str,
    per_second: f64,
    limit: u32,
    window_seconds: u64,
) -> (Setup, RunningSimulator) {
    let setup = Setup::new(&bootstrap(), name).await;
    let sim = xapi_simulator::start(SimConfig {
        listen: "127.0.0.1:0".into(),
        seed: 11,
        tokens: vec![token_config(limit, window_seconds, 10_000_000)],
        corpus: CorpusConfig {
            posts_per_second: per_second,
            backfill_posts: 50,
            max_posts: None,
        },
        faults: FaultConfig::default(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    (setup, sim)
}

fn checkpoints(setup: &Setup) -> HashMap<String, Checkpoint> {
    read_checkpoints(&setup.bootstrap, &setup.topic).expect("checkpoints")
}

/// Per query: (posts served with repeats, distinct posts) from the simulator's ledger.
fn ledger_by_query(sim: &RunningSimulator) -> BTreeMap<String, (u64, u64, Vec<String>)> {
    sim.handle
        .ledger()
        .tokens
        .into_iter()
        .flat_map(|t| t.queries)
        .map(|q| {
            (
                q.query,
                (
                    q.served_posts,
                    q.distinct_posts,
                    q.ids.iter().map(u64::to_string).collect(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rescale_2_3_1_under_load_never_runs_a_query_twice_nor_overspends() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    // 40 requests per 10 s on one token; the queries share 36 (a 10 % margin).
    let (setup, sim) = live_setup("rescale", 20.0, 40, 10).await;
    let queries = [
        ("all", "covid"),
        ("en", "covid lang:en"),
        ("pt", "covid lang:pt"),
        ("es", "covid lang:es"),
    ];
    let config = parse_config(setup.config(&sim, 36, 10, 10, &queries));

    let first = Extractor::start(&config, 0).await;
    let second = Extractor::start(&config, 1).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let third = Extractor::start(&config, 2).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let s2 = second.stop().await;
    let s3 = third.stop().await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let s1 = first.stop().await;

    let stats = sim.handle.stats();
    let app = &stats["app"];
    assert_eq!(
        app.rate_limited, 0,
        "no rate-limit 429 across the rescale: {app:?}"
    );
    assert!(
        s1.assignments >= 3 && s2.assignments >= 1 && s3.assignments >= 1,
        "every membership change reached the replicas: {s1:?} {s2:?} {s3:?}"
    );
    let ledger = ledger_by_query(&sim);
    let records = setup.records().await;
    let cps = checkpoints(&setup);
    for (name, query) in queries {
        let (served, distinct, ids) = ledger.get(query).cloned().unwrap_or_default();
        assert!(distinct > 0, "{name} was polled");
        // Two replicas polling one query from the same checkpoint would be served the same
        // posts twice.
        assert_eq!(served, distinct, "{name}: a post was served twice");
        let mut stored: Vec<String> = records
            .iter()
            .filter(|r| r.post.query_name == name)
            .map(|r| r.key.clone())
            .collect();
        stored.sort_unstable();
        let stored_count = stored.len();
        stored.dedup();
        assert_eq!(
            stored.len(),
            stored_count,
            "{name}: duplicate records in Kafka"
        );
        let mut expected = ids.clone();
        expected.sort_unstable();
        assert_eq!(stored, expected, "{name}: every served post once, no other");
        let month_posts = cps.get(name).map_or(0, |c| c.month_posts);
        assert_eq!(
            month_posts, distinct,
            "{name}: month_posts equals the ledger"
        );
    }
}

/// X counts a page once it answers, read or not. A stop while the answer travels must keep the
/// page, or the next owner fetches (and pays for) the same posts again: what made the rescale
/// test above see "a post was served twice" when its replicas were stopped on a busy machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_request_keeps_the_page_x_served() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let setup = Setup::new(&bootstrap(), "stop-mid-request").await;
    // Every answer is held 1.5 s after its posts are counted: a slow network.
    let faults = FaultConfig {
        slow: Some(SlowResponses {
            every: 1,
            length: 1,
            delay_ms: 1_500,
            after_counting: true,
        }),
        ..FaultConfig::default()
    };
    let sim = simulator(300, token_config(60, 2, 1_000_000), faults).await;
    let config = parse_config(setup.config(&sim, 60, 2, 100, &[("all", "covid")]));
    let replica = Extractor::start(&config, 0).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ledger_by_query(&sim)
        .get("covid")
        .is_none_or(|(served, _, _)| *served == 0)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "X served no page within 30 s: {:?}",
            sim.handle.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first page is served and counted; its answer is still on the way.
    let summary = replica.stop().await;

    let (served, distinct, ids) = ledger_by_query(&sim)["covid"].clone();
    assert_eq!(served, distinct, "one request, no repeats: {summary:?}");
    let mut stored: Vec<String> = setup.records().await.into_iter().map(|r| r.key).collect();
    stored.sort_unstable();
    let mut expected = ids;
    expected.sort_unstable();
    assert_eq!(
        stored, expected,
        "every post X served before the stop is in Kafka ({summary:?})"
    );
    assert_eq!(
        checkpoints(&setup).get("all").map(|c| c.month_posts),
        Some(distinct),
        "the checkpoint counts the page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_window_does_not_spend_the_window_again() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    // The whole limit for one query: any request beyond it is a 429.
    let (setup, sim) = live_setup("restart-window", 5.0, 12, 20).await;
    let config = parse_config(setup.config(&sim, 12, 20, 10, &[("all", "covid")]));

    let first = Extractor::start(&config, 0).await;
    // Into the window, then a restart (the pacer of a fresh process starts empty).
    tokio::time::sleep(Duration::from_secs(9)).await;
    first.stop().await;
    let saved = checkpoints(&setup)["all"]
        .rate_window
        .expect("window saved");
    assert!(
        saved.sent >= 3,
        "requests spent before the restart: {saved:?}"
    );
    let second = Extractor::start(&config, 0).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let summary = second.stop().await;

    let stats = sim.handle.stats();
    assert_eq!(
        stats["app"].rate_limited, 0,
        "the restarted extractor went on with the window: {stats:?}"
    );
    assert_eq!(summary.rate_limited, 0);
    assert!(summary.requests > 0, "it polled after the restart");
}

/// A snowflake id created `age` ago.
fn id_aged(age: Duration) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let created = now_ms - age.as_millis() as i64;
    (((created - 1_288_834_974_657) as u64) << 22).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_older_than_the_window_resumes_with_a_recorded_gap() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let setup = Setup::new(&bootstrap(), "old-checkpoint").await;
    let sim = simulator(300, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    // The query last ran 8 days ago (a quiet query, or a long monthly-cap pause).
    let mut old = Checkpoint::new("all", "2020-01");
    let stale = id_aged(Duration::from_secs(8 * 24 * 3600));
    old.since_id = Some(stale.clone());
    old.newest_id = Some(stale);
    old.posts_total = 42;
    produce_raw(
        &producer(&setup.bootstrap),
        &checkpoint_topic(&setup.topic),
        "all",
        &serde_json::to_vec(&old).expect("json"),
        None,
    )
    .await
    .expect("old checkpoint written");
    let config = parse_config(setup.config(&sim, 60, 2, 100, &[("all", "covid")]));
    let replica = Extractor::start(&config, 0).await;
    let expected = sim.handle.matching_ids("covid").expect("query");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cp = checkpoints(&setup).get("all").cloned();
        if cp
            .as_ref()
            .is_some_and(|c| c.since_id.as_deref() == Some(expected[0].as_str()))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the query did not catch up: {cp:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let summary = replica.stop().await;
    let cp = checkpoints(&setup)["all"].clone();
    assert!(cp.stopped.is_none(), "the query was not stopped: {cp:?}");
    assert!(summary.stopped.is_empty(), "{summary:?}");
    assert_eq!((cp.gaps_total, summary.gaps), (1, 1));
    let gap = cp.last_gap.expect("gap recorded");
    assert!(gap.from < gap.to, "{gap:?}");
    assert_eq!(cp.posts_total, 42 + expected.len() as u64);
    let stats = sim.handle.stats();
    assert_eq!(
        stats["app"].bad_requests, 0,
        "no request sent the stale since_id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_share_in_the_mounted_config_applies_without_a_restart() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let (setup, sim) = live_setup("live-share", 5.0, 60, 10).await;
    let mut value = setup.config(&sim, 50, 10, 10, &[("all", "covid")]);
    value["tuning"]["config_reload_ms"] = serde_json::json!(200);
    let path = tweetpipe_testkit::files::write_json(&setup.dir, "extractor.json", &value);
    let cancel = CancellationToken::new();
    let running = tweetpipe_extractor::start_with(
        parse_config(value.clone()),
        Some(path.clone()),
        0,
        cancel.clone(),
    )
    .await
    .expect("start");
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    let scrape = || async {
        tweetpipe_testkit::http::get_text(&format!("http://{}/metrics", running.ops_addr)).await
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The monthly slow-down lowers the share: only the live setting changes.
    value["queries"][0]["requests_per_window"] = serde_json::json!(5);
    tweetpipe_testkit::files::write_json(&setup.dir, "extractor.json", &value);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reloaded = scrape().await;
    assert_eq!(
        metric(&reloaded, "tweetpipe_extractor_config_reloads_total"),
        1.0,
        "{reloaded}"
    );
    let before = sim.handle.stats()["app"].requests;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let during = sim.handle.stats()["app"].requests - before;
    // 5 per 10 s window over 20 s: at most 3 windows touched.
    assert!(
        during <= 15,
        "the lowered share paces the query: {during} requests in 20 s"
    );
    // A change that needs a restart is not applied (the operator rolls the pod for it).
    value["queries"][0]["query"] = serde_json::json!("covid lang:en");
    tweetpipe_testkit::files::write_json(&setup.dir, "extractor.json", &value);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        metric(&scrape().await, "tweetpipe_extractor_config_reloads_total"),
        1.0
    );
    cancel.cancel();
    let summary = running.task.await.expect("task").expect("extractor run");
    assert_eq!(summary.rate_limited, 0);
    assert!(summary.requests > 0);
}
