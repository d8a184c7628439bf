//! Each fault class gets its documented behaviour (docs/extractor.md, "Faults").

mod support;

use std::time::{Duration, Instant};

use support::*;
use tweetpipe_testkit::checkpoints::caught_up;
use tweetpipe_testkit::kafka::bootstrap;
use tweetpipe_testkit::records::assert_exactly;
use xapi_simulator::{Burst, FaultConfig};

/// 400 (invalid query): that query stops with the reason recorded; the others go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_query_stops_only_that_query() {
    let setup = Setup::new(&bootstrap(), "invalid").await;
    let sim = simulator(300, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    let queries = [("bad", "covid (vaccine"), ("good", "covid")];
    let config = parse_config(setup.config(&sim, 60, 2, 100, &queries));
    let expected = sim.handle.matching_ids("covid").expect("query");
    let extractor = Extractor::start(&config, 0).await;
    let cps = setup
        .wait_for_checkpoints(Duration::from_secs(60), |cps| {
            caught_up(cps, "good", &expected[0])
                && cps.get("bad").is_some_and(|cp| cp.stopped.is_some())
        })
        .await;
    let stop = cps["bad"].stopped.as_ref().expect("stopped");
    assert_eq!(stop.reason, "invalid_query");
    assert!(
        stop.message.contains("missing ')' to close the '('"),
        "{}",
        stop.message
    );
    let metrics = extractor.metrics().await;
    assert!(
        metrics
            .contains(r#"tweetpipe_extractor_query_stopped{query="bad",reason="invalid_query"} 1"#),
        "{metrics}"
    );
    // The stopped query is asked exactly once.
    assert!(
        metrics.contains(
            r#"tweetpipe_extractor_requests_total{query="bad",outcome="invalid_query"} 1"#
        )
    );
    let summary = extractor.stop().await;
    assert_eq!(
        summary.stopped,
        vec![("bad".to_string(), "invalid_query".to_string())]
    );
    assert_exactly(&setup.records().await, &expected, "good");
    sim.stop().await;
}

/// Starts an extractor on the one query `all` (60 requests per 2 s window, pages of 100) and
/// waits until that query stops, which must be for `reason`.
async fn run_until_stopped(
    setup: &Setup,
    sim: &xapi_simulator::RunningSimulator,
    reason: &str,
) -> (
    Extractor,
    std::collections::HashMap<String, tweetpipe_common::contract::checkpoint::Checkpoint>,
) {
    let config = parse_config(setup.config(sim, 60, 2, 100, &[("all", "covid")]));
    let extractor = Extractor::start(&config, 0).await;
    let cps = setup
        .wait_for_checkpoints(Duration::from_secs(60), |cps| {
            cps.get("all").is_some_and(|cp| cp.stopped.is_some())
        })
        .await;
    assert_eq!(
        cps["all"].stopped.as_ref().map(|s| s.reason.as_str()),
        Some(reason)
    );
    (extractor, cps)
}

/// 401 (token revoked): the query stops with reason `unauthorized`, nothing is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_stops_with_unauthorized() {
    let setup = Setup::new(&bootstrap(), "unauthorized").await;
    let sim = simulator(300, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    sim.handle.revoke("app");
    let (extractor, cps) = run_until_stopped(&setup, &sim, "unauthorized").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = extractor.metrics().await;
    assert!(
        metrics.contains(
            r#"tweetpipe_extractor_requests_total{query="all",outcome="unauthorized"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains(TOKEN),
        "the token never appears in metrics"
    );
    extractor.stop().await;
    assert!(setup.records().await.is_empty());
    let log_free_of_token = !format!("{:?}", cps).contains(TOKEN);
    assert!(log_free_of_token);
    sim.stop().await;
}

/// 429 (a share larger than the token allows): wait until the reset, at most one 429 per
/// window, and still every post exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_waits_until_reset() {
    let setup = Setup::new(&bootstrap(), "ratelimit").await;
    let sim = simulator(400, token_config(3, 2, 1_000_000), FaultConfig::default()).await;
    let expected = sim.handle.matching_ids("covid").expect("query");
    // The config claims 8 requests per 2 s while the token allows 3: the headers must win.
    let config = parse_config(setup.config(&sim, 8, 2, 20, &[("all", "covid")]));
    let started = Instant::now();
    let extractor = Extractor::start(&config, 0).await;
    setup
        .wait_caught_up("all", &expected[0], Duration::from_secs(90))
        .await;
    let summary = extractor.stop().await;
    let windows = started.elapsed().as_secs() / 2 + 2;
    let limited = sim.handle.stats()["app"].rate_limited;
    assert_eq!(summary.rate_limited, limited);
    assert!(
        limited <= windows,
        "{limited} 429s in about {windows} windows: at most one per window"
    );
    assert_exactly(&setup.records().await, &expected, "all");
    sim.stop().await;
}

/// 429 usage-capped: the query stops with reason `usage_capped`; what was collected stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_cap_stops_the_query() {
    let setup = Setup::new(&bootstrap(), "usagecap").await;
    let sim = simulator(600, token_config(60, 2, 250), FaultConfig::default()).await;
    let (extractor, cps) = run_until_stopped(&setup, &sim, "usage_capped").await;
    assert_eq!(
        cps["all"].posts_total, 300,
        "three pages of 100 were served before the cap"
    );
    extractor.stop().await;
    assert_eq!(setup.records().await.len(), 300);
    assert_eq!(
        sim.handle.stats()["app"].usage_capped,
        1,
        "asked once, then stopped"
    );
    sim.stop().await;
}

/// 5xx bursts and malformed JSON: back off with jitter and retry the same request; nothing
/// lost, nothing duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_malformed_bodies_are_retried() {
    let faults = FaultConfig {
        server_errors: Some(Burst {
            every: 5,
            length: 2,
            status: 503,
        }),
        malformed: Some(Burst {
            every: 7,
            length: 3,
            status: 200,
        }),
        ..FaultConfig::default()
    };
    let setup = Setup::new(&bootstrap(), "5xx").await;
    let sim = simulator(500, token_config(60, 2, 1_000_000), faults).await;
    let expected = sim.handle.matching_ids("covid").expect("query");
    let config = parse_config(setup.config(&sim, 60, 2, 20, &[("all", "covid")]));
    let extractor = Extractor::start(&config, 0).await;
    setup
        .wait_caught_up("all", &expected[0], Duration::from_secs(90))
        .await;
    let metrics = extractor.metrics().await;
    extractor.stop().await;
    assert!(metrics.contains(r#"outcome="server_error""#), "{metrics}");
    assert!(metrics.contains(r#"outcome="malformed""#), "{metrics}");
    assert_exactly(&setup.records().await, &expected, "all");
    sim.stop().await;
}
