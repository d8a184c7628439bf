//! The real binary, killed with SIGKILL in the middle of a run and started again, stores
//! every post exactly once; SIGTERM then stops it cleanly.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::*;

const N: usize = 20_000;
const WAIT: Duration = Duration::from_secs(300);

fn spawn_transformer(config_path: &Path, log_path: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|e| panic!("log {}: {e}", log_path.display()));
    let err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
    Command::new(env!("CARGO_BIN_EXE_tweetpipe-transformer"))
        .env("TRANSFORMER_CONFIG", config_path)
        .env("TRANSFORMER_KAFKA_SESSION_TIMEOUT_MS", "6000")
        .env("TRANSFORMER_KAFKA_HEARTBEAT_INTERVAL_MS", "1000")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn tweetpipe-transformer: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_batch_and_restarted_stores_exactly_n() {
    let db = TestDb::create("tp_t_kill").await;
    let topic = unique("tp-t-kill");
    create_topics(&topic, 2).await;
    let posts = sample_posts(N, 1_840_000_000_000_000_000);
    produce_posts(&topic, &posts).await;

    let dir = std::env::temp_dir().join(unique("tp-kill"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let url_file = dir.join("mysql-url");
    std::fs::write(&url_file, &db.url).unwrap_or_else(|e| panic!("{e}"));
    let config = serde_json::json!({
        "pipeline": "test/kill",
        "kafka": {"bootstrap_servers": kafka_bootstrap(), "topic": topic, "schema_registry_url": null,
                  "security_protocol": "plaintext", "sasl_mechanism": null, "sasl_username_file": null,
                  "sasl_password_file": null, "group_id": format!("{topic}-group")},
        "mysql": {"url_file": url_file},
        "batch_size": 250, "flush_interval_ms": 500, "query_names": ["covid-en"],
        "ops_addr": "127.0.0.1:0", "max_backoff_ms": 2000
    });
    let config_path = dir.join("transformer.json");
    std::fs::write(&config_path, config.to_string()).unwrap_or_else(|e| panic!("{e}"));
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
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, N as i64);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM post_queries").await,
        N as i64
    );
    assert_eq!(
        db.count("SELECT CAST(SUM(posts) AS SIGNED) FROM posts_hourly")
            .await,
        N as i64
    );
    let hashtags = db.count("SELECT COUNT(*) FROM post_hashtags").await;
    assert_eq!(
        db.count("SELECT CAST(SUM(posts) AS SIGNED) FROM hashtags_daily")
            .await,
        hashtags
    );

    // SIGTERM: finishes the open batch and exits 0.
    let pid = second.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap_or_else(|e| panic!("kill -TERM: {e}"));
    assert!(sent.success());
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
