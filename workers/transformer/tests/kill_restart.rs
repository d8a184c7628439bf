//! The real binary, killed with SIGKILL in the middle of a run and started again, stores
//! every post exactly once; SIGTERM then stops it cleanly.

mod support;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use support::*;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_testkit::files::{temp_dir, write, write_json};
use tweetpipe_testkit::kafka::bootstrap;
use tweetpipe_testkit::mysql::wait_for_count;
use tweetpipe_testkit::process::{signal, spawn_logged};
use tweetpipe_testkit::records::produce_posts;
use tweetpipe_testkit::rollups::assert_each_post_once;

const N: usize = 20_000;
const WAIT: Duration = Duration::from_secs(300);

fn spawn_transformer(config_path: &Path, log_path: &Path) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tweetpipe-transformer"));
    command
        .env("TRANSFORMER_CONFIG", config_path)
        .env("TRANSFORMER_KAFKA_SESSION_TIMEOUT_MS", "6000")
        .env("TRANSFORMER_KAFKA_HEARTBEAT_INTERVAL_MS", "1000")
        .env("RUST_LOG", "info");
    spawn_logged(command, log_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_batch_and_restarted_stores_exactly_n() {
    let (db, topic) = db_and_topic("kill", 2).await;
    let posts = sample_posts(N, 1_840_000_000_000_000_000);
    produce_posts(&bootstrap(), &topic, &posts).await;

    let dir = temp_dir("tp-kill");
    let url_file = write(&dir, "mysql-url", &db.url);
    let config = serde_json::json!({
        "pipeline": "test/kill",
        "kafka": {"bootstrap_servers": bootstrap(), "topic": topic, "schema_registry_url": null,
                  "security_protocol": "plaintext", "sasl_mechanism": null, "sasl_username_file": null,
                  "sasl_password_file": null, "group_id": format!("{topic}-group")},
        "mysql": {"url_file": url_file},
        "batch_size": 250, "flush_interval_ms": 500, "query_names": ["covid-en"],
        "ops_addr": "127.0.0.1:0", "max_backoff_ms": 2000
    });
    let config_path = write_json(&dir, "transformer.json", &config);
    let log_path = dir.join("transformer.log");

    let mut first = spawn_transformer(&config_path, &log_path);
    // Kill once a few batches are in, while most of the topic is still ahead.
    let deadline = tokio::time::Instant::now() + WAIT;
    let stored_at_kill = loop {
        let n = db.count("SELECT COUNT(*) FROM posts").await;
        if n >= 1_000 {
            break n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transformer stored only {n} posts; log: {}",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    first.kill().unwrap_or_else(|e| panic!("kill: {e}"));
    let status = first.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(!status.success(), "SIGKILL must end the process abnormally");
    let after_kill = db.count("SELECT COUNT(*) FROM posts").await;
    assert!(
        after_kill < N as i64,
        "the kill came too late to be mid-run ({stored_at_kill} then {after_kill} of {N})"
    );

    let mut second = spawn_transformer(&config_path, &log_path);
    wait_for_count(&db, "SELECT COUNT(*) FROM posts", N as i64, WAIT).await;
    // Nothing more arrives: the count stays at exactly N, and every roll-up agrees.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_each_post_once(&db, N as i64).await;

    // SIGTERM: finishes the open batch and exits 0.
    signal(second.id(), "TERM");
    let status = tokio::task::spawn_blocking(move || second.wait())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.success(),
        "SIGTERM should stop cleanly, got {status}; log: {}",
        log_path.display()
    );
    db.drop().await;
}
