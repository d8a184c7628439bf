//! `tweetpipe-probe`: checks that Kafka and MySQL are reachable and working from where it runs.
//!
//! It creates a topic (if needed), produces one uniquely tagged message, consumes it back, and runs
//! `SELECT VERSION()` on MySQL. It prints one JSON line with what it found and exits 0 only if
//! every check passed. Configuration (environment):
//! - `PROBE_KAFKA_BOOTSTRAP`: bootstrap servers
//! - `PROBE_MYSQL_URL` or `PROBE_MYSQL_URL_FILE`: MySQL URL (the file form keeps the password out
//!   of the pod spec); never printed
//! - `PROBE_TOPIC` (default `tweetpipe.probe`), `PROBE_TIMEOUT_SECS` (default 30)

mod checks;

use std::process::ExitCode;
use std::time::Duration;

use checks::{ProbeConfig, ProbeReport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match ProbeConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{{\"ok\":false,\"error\":{}}}", serde_json::Value::String(e.to_string()));
            return ExitCode::from(2);
        }
    };
    let timeout = Duration::from_secs(config.timeout_secs);
    let kafka = checks::kafka_round_trip(&config.kafka_bootstrap, &config.topic, timeout).await;
    let mysql = checks::mysql_version(&config.mysql_url, timeout).await;
    let report = ProbeReport::new(kafka, mysql);
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
