//! The extractor's compacted checkpoint topic: the latest checkpoint per query.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::topics;

use crate::kafka::read_committed;

/// The latest committed checkpoint per query of the post topic `topic`.
pub fn read_checkpoints(
    bootstrap: &str,
    topic: &str,
) -> Result<HashMap<String, Checkpoint>, String> {
    let mut latest = HashMap::new();
    read_committed(bootstrap, &topics::checkpoint_topic(topic), |m| {
        let payload = rdkafka::Message::payload(m).expect("payload");
        let cp = Checkpoint::from_json(payload).expect("checkpoint json");
        latest.insert(cp.query.clone(), cp);
    })?;
    Ok(latest)
}

/// Waits until `done` holds for the checkpoints, or panics after `timeout`.
pub async fn wait_for_checkpoints(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&HashMap<String, Checkpoint>) -> bool,
) -> HashMap<String, Checkpoint> {
    let deadline = Instant::now() + timeout;
    loop {
        let (b, t) = (bootstrap.to_string(), topic.to_string());
        // Errors (a broker still electing leaders after a restart) are retried until the deadline.
        let cps = tokio::task::spawn_blocking(move || read_checkpoints(&b, &t))
            .await
            .expect("join");
        if let Ok(cps) = &cps
            && done(cps)
        {
            return cps.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out; checkpoints: {cps:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// True when the query has collected everything up to `newest` (no pagination run open).
pub fn caught_up(cps: &HashMap<String, Checkpoint>, query: &str, newest: &str) -> bool {
    cps.get(query)
        .is_some_and(|cp| cp.since_id.as_deref() == Some(newest) && cp.pagination.is_none())
}
