//! What the run deploys: the simulator's configuration and the pipeline (4 queries, 2 tokens).

use serde_json::json;

/// The simulator's real limit per token; the pipeline's budget never exceeds it, so any
/// rate-limit 429 is the pipeline's fault, never the schedule's.
pub const SIM_REQUESTS_PER_WINDOW: u32 = 120;
/// A short window, so a run crosses many window boundaries (where pacing bugs show).
pub const WINDOW_SECONDS: u32 = 120;
pub const POSTS_PER_SECOND: f64 = 3.0;
pub const BACKFILL_POSTS: u64 = 300;

/// Token names (simulator and ledger labels) and their Secrets.
pub const TOKENS: [(&str, &str); 2] = [("chaos-a", "chaos-token-a"), ("chaos-b", "chaos-token-b")];

/// Name and X query of each pipeline query. They overlap (a post can match several), so
/// "stored once per matching query" is exercised.
pub const QUERIES: [(&str, &str); 4] = [
    ("covid-en", "covid lang:en"),
    ("covid-pt", "covid lang:pt -is:retweet"),
    (
        "quarantine",
        "quarantine OR quarentena OR cuarentena OR lockdown",
    ),
    ("retweets", "covid is:retweet"),
];

pub const PIPELINE: &str = "chaos";

/// The simulator's `config.json`. Publication stops after `max_posts`, so the drain ends.
pub fn simulator_config(seed: u64, max_posts: u64) -> serde_json::Value {
    let tokens: Vec<_> = TOKENS
        .iter()
        .map(|(name, token)| {
            json!({"name": name, "token": token, "requests_per_window": SIM_REQUESTS_PER_WINDOW,
                   "window_seconds": WINDOW_SECONDS, "monthly_post_cap": 10_000_000})
        })
        .collect();
    json!({"seed": seed, "tokens": tokens,
           "corpus": {"posts_per_second": POSTS_PER_SECOND, "backfill_posts": BACKFILL_POSTS, "max_posts": max_posts}})
}

/// Posts to publish: the backfill, then the rate over the chaos phase plus `margin_seconds`
/// (set-up time), after which publication stops and the drain can finish.
pub fn max_posts(chaos_seconds: u64, margin_seconds: u64) -> u64 {
    BACKFILL_POSTS + (POSTS_PER_SECOND * (chaos_seconds + margin_seconds) as f64) as u64
}

/// Names of a run's Kafka topic and database, unique per run so kept runs never collide.
pub struct Names {
    pub topic: String,
    pub database: String,
}

impl Names {
    pub fn for_run(run_id: &str) -> Self {
        Names {
            topic: format!("chaos.{run_id}"),
            database: format!("chaos_{run_id}"),
        }
    }
}

/// The TweetPipeline, for the operator instance `instance`. `Delete`: cleanup drops the data.
pub fn manifest(
    namespace: &str,
    instance: &str,
    names: &Names,
    kafka_bootstrap_pod: &str,
) -> serde_json::Value {
    let tokens: Vec<_> = TOKENS
        .iter()
        .map(|(name, _)| json!({"name": format!("x-{name}"), "key": "token"}))
        .collect();
    let queries: Vec<_> = QUERIES
        .iter()
        .map(|(name, query)| json!({"name": name, "query": query}))
        .collect();
    json!({
        "apiVersion": "tweetpipe.io/v1beta1", "kind": "TweetPipeline",
        "metadata": {"name": PIPELINE, "namespace": namespace,
                     "labels": {"tweetpipe.io/operator-instance": instance}},
        "spec": {
            "source": {
                "baseUrl": format!("http://x-api-simulator.{namespace}.svc:8080"),
                "tokens": tokens, "queries": queries,
                "limits": {"requestsPerWindow": SIM_REQUESTS_PER_WINDOW, "windowSeconds": WINDOW_SECONDS,
                           "monthlyPostCap": 10_000_000},
                "safetyMarginPercent": 10, "maxResults": 100
            },
            "extractor": {"maxReplicas": 4, "minRequestsPerReplica": 20},
            "kafka": {"bootstrapServers": kafka_bootstrap_pod, "topic": names.topic, "partitions": 3,
                      "replicationFactor": 1, "retentionHours": 168},
            "transformer": {"minReplicas": 1, "maxReplicas": 2, "targetLagPerReplica": 2000,
                            "batchSize": 200, "flushIntervalMs": 1000},
            "mysql": {"urlSecret": {"name": "mysql-admin", "key": "url"}, "database": names.database},
            "deletionPolicy": "Delete"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_budget_the_schedule_sets_fits_the_simulator() {
        assert!(
            crate::schedule::BUDGETS
                .iter()
                .all(|b| *b <= SIM_REQUESTS_PER_WINDOW)
        );
    }

    #[test]
    fn the_manifest_names_both_tokens_and_all_queries() {
        let names = Names::for_run("x1");
        let m = manifest("ns", "inst", &names, "10.0.0.1:9094");
        assert_eq!(
            m["spec"]["source"]["tokens"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            m["spec"]["source"]["queries"].as_array().map(Vec::len),
            Some(4)
        );
        assert_eq!(m["spec"]["deletionPolicy"], "Delete");
        assert_eq!(m["spec"]["mysql"]["database"], "chaos_x1");
        assert_eq!(max_posts(600, 90), 300 + 2070);
    }
}
