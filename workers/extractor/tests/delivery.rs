//! Delivery guarantees against the simulator and real Kafka: every published post reaches the
//! topic exactly once, also across a crash (SIGKILL) and a graceful stop (SIGTERM).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;
use tweetpipe_testkit::checkpoints::caught_up;
use tweetpipe_testkit::files::write_json;
use tweetpipe_testkit::kafka::bootstrap;
use tweetpipe_testkit::process::{ChildGuard, spawn_logged};
use tweetpipe_testkit::records::assert_exactly;
use xapi_simulator::FaultConfig;

/// Runs the extractor binary as a child process with its log in `dir`.
fn spawn_extractor(config_path: &Path, dir: &Path, tag: &str) -> ChildGuard {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tweetpipe-extractor"));
    command
        .env("EXTRACTOR_CONFIG", config_path)
        .env("REPLICA_INDEX", "0")
        .env("RUST_LOG", "info,tweetpipe_extractor=debug");
    ChildGuard(spawn_logged(
        command,
        &dir.join(format!("extractor-{tag}.log")),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_post_becomes_exactly_one_record() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let setup = Setup::new(&bootstrap(), "exactly-n").await;
    let sim = simulator(750, token_config(60, 2, 1_000_000), FaultConfig::default()).await;
    let queries = [("all", "covid"), ("pt", "covid lang:pt")];
    let config = parse_config(setup.config(&sim, 60, 2, 100, &queries));
    let extractor = Extractor::start(&config, 0).await;

    let expected_all = sim.handle.matching_ids("covid").expect("query");
    let expected_pt = sim.handle.matching_ids("covid lang:pt").expect("query");
    assert_eq!(expected_all.len(), 750);
    setup
        .wait_for_checkpoints(Duration::from_secs(90), |cps| {
            caught_up(cps, "all", &expected_all[0]) && caught_up(cps, "pt", &expected_pt[0])
        })
        .await;
    let metrics = extractor.metrics().await;
    let readyz = format!("http://{}/readyz", extractor.running.ops_addr);
    assert_eq!(tweetpipe_testkit::http::get_status(&readyz).await, 200);
    let summary = extractor.stop().await;

    let records = setup.records().await;
    let (all, pt): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.post.query_name == "all");
    assert_exactly(&all, &expected_all, "all");
    assert_exactly(&pt, &expected_pt, "pt");
    assert_eq!(
        summary.posts as usize,
        expected_all.len() + expected_pt.len()
    );
    assert_eq!(
        summary.rate_limited, 0,
        "pacing within the share never earns a 429"
    );
    assert_eq!(sim.handle.stats()["app"].rate_limited, 0);
    for r in all.iter().chain(&pt) {
        assert_eq!(
            r.headers.get("tweetpipe-query").map(String::as_str),
            Some(r.post.query_name.as_str())
        );
        let traceparent = r
            .headers
            .get("traceparent")
            .expect("trace context travels in the headers");
        assert_eq!(traceparent.split('-').count(), 4, "{traceparent}");
        let received_at = r
            .headers
            .get(tweetpipe_common::headers::RECEIVED_AT)
            .and_then(|v| tweetpipe_common::headers::decode_received_at(v.as_bytes()))
            .expect("the page's receive time travels in the headers");
        assert!(received_at > 1_600_000_000_000, "{received_at}");
        assert_eq!(r.key, r.post.id);
        assert_eq!(r.post.pipeline, format!("tests/{}", setup.topic));
        assert!(
            r.post
                .author
                .as_ref()
                .is_some_and(|a| a.id == r.post.author_id),
            "author expanded"
        );
        assert!(r.post.lang.is_some() && r.post.metrics.is_some() && r.post.created_at > 0);
    }
    assert!(pt.iter().all(|r| r.post.lang.as_deref() == Some("pt")));
    assert!(all.iter().any(|r| !r.post.hashtags.is_empty()));
    assert!(
        all.iter()
            .any(|r| r.post.referenced.iter().any(|x| x.text.is_some())),
        "referenced posts expanded"
    );
    assert!(
        all.iter().any(|r| r.post.place.is_some()),
        "places expanded"
    );
    assert!(
        metrics.contains(r#"tweetpipe_extractor_posts_total{query="all"} 750"#),
        "{metrics}"
    );
    assert!(metrics.contains("tweetpipe_extractor_behind_seconds"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_graceful_stop_mid_run_neither_lose_nor_duplicate() {
    let setup = Setup::new(&bootstrap(), "restart").await;
    // Small pages and a slow pace make each run long enough to interrupt in the middle.
    let sim = simulator(600, token_config(12, 2, 1_000_000), FaultConfig::default()).await;
    let config = setup.config(&sim, 12, 2, 10, &[("all", "covid")]);
    let config_path = write_json(&setup.dir, "extractor.json", &config);

    let mut first = spawn_extractor(&config_path, &setup.dir, "1");
    setup
        .wait_for_checkpoints(Duration::from_secs(60), |cps| collected(cps, "all", 100))
        .await;
    first.signal("KILL");
    let _ = first.0.wait();

    let mut second = spawn_extractor(&config_path, &setup.dir, "2");
    setup
        .wait_for_checkpoints(Duration::from_secs(60), |cps| collected(cps, "all", 300))
        .await;
    second.signal("TERM");
    let status = second.0.wait().expect("wait");
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");

    let mut third = spawn_extractor(&config_path, &setup.dir, "3");
    let expected = sim.handle.matching_ids("covid").expect("query");
    let cps = setup
        .wait_caught_up("all", &expected[0], Duration::from_secs(90))
        .await;
    third.signal("TERM");
    let _ = third.0.wait();

    assert_exactly(&setup.records().await, &expected, "all");
    assert_eq!(
        cps["all"].posts_total, 600,
        "the checkpoint counts every post once"
    );
    sim.stop().await;
}
