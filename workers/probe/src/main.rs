//! `tweetpipe-probe`: checks that Kafka and MySQL are reachable and working from where it runs.
//!
//! It creates a topic (if needed), produces one uniquely tagged message, consumes it back, and runs
//! `SELECT VERSION()` on MySQL. It prints one JSON line with what it found and exits 0 only if
//! every check passed. Configuration (environment):
//! - `PROBE_KAFKA_BOOTSTRAP`: bootstrap servers
//! - `PROBE_MYSQL_URL` or `PROBE_MYSQL_URL_FILE`: MySQL URL (the file form keeps the password out
//!   of the pod spec); never printed
//! - `PROBE_TOPIC` (default `tweetpipe.probe`), `PROBE_TIMEOUT_SECS` (default 30)
//!
//! `tweetpipe-probe --every SECS` repeats the checks forever (a long-running pod whose readiness
//! probe runs `tweetpipe-probe` once).

mod checks;

use std::process::ExitCode;
use std::time::Duration;

use checks::{ProbeConfig, ProbeReport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match ProbeConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!(
                "{{\"ok\":false,\"error\":{}}}",
                serde_json::Value::String(e.to_string())
            );
            return ExitCode::from(2);
        }
    };
    let every = match repeat_interval(std::env::args().skip(1)) {
        Ok(every) => every,
        Err(e) => {
            eprintln!(
                "{{\"ok\":false,\"error\":{}}}",
                serde_json::Value::String(e)
            );
            return ExitCode::from(2);
        }
    };
    loop {
        let report = run_checks(&config).await;
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        match every {
            Some(interval) => tokio::time::sleep(interval).await,
            None if report.ok => return ExitCode::SUCCESS,
            None => return ExitCode::FAILURE,
        }
    }
}

async fn run_checks(config: &ProbeConfig) -> ProbeReport {
    let timeout = Duration::from_secs(config.timeout_secs);
    let kafka = checks::kafka_round_trip(&config.kafka_bootstrap, &config.topic, timeout).await;
    let mysql = checks::mysql_version(&config.mysql_url, timeout).await;
    ProbeReport::new(kafka, mysql)
}

/// `--every SECS` → Some(interval); no arguments → None (check once).
fn repeat_interval(mut args: impl Iterator<Item = String>) -> Result<Option<Duration>, String> {
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--every"), Some(secs)) => secs
            .parse::<u64>()
            .ok()
            .filter(|secs| *secs > 0)
            .map(|secs| Some(Duration::from_secs(secs)))
            .ok_or_else(|| format!("--every takes a positive number of seconds, not {secs:?}")),
        (Some(other), _) => Err(format!(
            "unknown argument {other:?}; usage: tweetpipe-probe [--every SECS]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn parses_the_repeat_interval() {
        assert_eq!(repeat_interval(args(&[])), Ok(None));
        assert_eq!(
            repeat_interval(args(&["--every", "5"])),
            Ok(Some(Duration::from_secs(5)))
        );
        assert!(repeat_interval(args(&["--every", "0"])).is_err());
        assert!(repeat_interval(args(&["--every"])).is_err());
        assert!(repeat_interval(args(&["--bogus"])).is_err());
    }
}
