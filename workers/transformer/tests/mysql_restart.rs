//! MariaDB stopped and started again during a run: the transformer pauses, retries with
//! backoff, and in the end holds exactly N posts. Its own test binary, because it takes the
//! shared MariaDB down for a few seconds.
// test-runner: alone (every other binary uses this MariaDB; dev/run-tests.py runs this one by itself)

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_testkit::kafka::bootstrap;
use tweetpipe_testkit::mysql::wait_for_count;
use tweetpipe_testkit::records::produce_posts;
use tweetpipe_testkit::rollups::assert_each_post_once;
use tweetpipe_transformer::metrics::ReasonLabel;

const N: usize = 20_000;
const WAIT: Duration = Duration::from_secs(300);

fn mariadb(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/platform/mariadb.sh");
    let status = Command::new("bash")
        .args([script, action])
        .status()
        .unwrap_or_else(|e| panic!("bash {script} {action}: {e}"));
    assert!(status.success(), "{script} {action} failed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restarted_during_a_run_loses_nothing() {
    let (db, topic) = db_and_topic("dbrestart", 2).await;
    let posts = sample_posts(N, 1_850_000_000_000_000_000);
    produce_posts(&bootstrap(), &topic, &posts).await;

    let running = start(config(&topic, &db, 250), &db);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = db.count("SELECT COUNT(*) FROM posts").await;
        if n >= 1_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} posts stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    mariadb("stop");
    tokio::time::sleep(Duration::from_secs(4)).await;
    mariadb("start");

    wait_for_count(&db, "SELECT COUNT(*) FROM posts", N as i64, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let unavailable = running
        .metrics
        .write_retries
        .get_or_create(&ReasonLabel {
            reason: "unavailable",
        })
        .get();
    running.stop().await;

    assert!(unavailable > 0, "the outage was never seen by the writer");
    assert_each_post_once(&db, N as i64).await;
    db.drop().await;
}
