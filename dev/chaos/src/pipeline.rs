//! What the run deploys: the simulator's configuration and the pipeline (5 queries, 2 tokens;
//! 3 of the queries delivered by the filtered stream, the others by recent search).

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

/// How a query's posts arrive (`spec.source.queries[].delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Polled from recent search.
    Search,
    /// X's filtered stream, with search recovery (the CRD's default for `Stream`): a disconnect
    /// longer than the backfill is filled from recent search.
    Stream,
}

impl Delivery {
    /// The CRD's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Search => "Search",
            Delivery::Stream => "Stream",
        }
    }
}

/// One pipeline query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub name: &'static str,
    /// The X query (also the stream rule's value, under which the simulator's ledger records
    /// streamed posts).
    pub query: &'static str,
    pub delivery: Delivery,
}

const fn query(name: &'static str, query: &'static str, delivery: Delivery) -> Query {
    Query {
        name,
        query,
        delivery,
    }
}

/// The pipeline's queries. Query `i` spends token `i mod 2` (docs/operator.md), so `chaos-a`
/// carries `covid-en` (search) and the stream rules `quarantine` and `vaccine` on one
/// connection, `chaos-b` carries `covid-pt` (stream) and `retweets` (search): each app has a
/// connection and each token search queries. They overlap (a post can match several, over one
/// connection or both), so "stored once per matching query" is exercised for both deliveries.
pub const QUERIES: [Query; 5] = [
    query("covid-en", "covid lang:en", Delivery::Search),
    query("covid-pt", "covid lang:pt -is:retweet", Delivery::Stream),
    query(
        "quarantine",
        "quarantine OR quarentena OR cuarentena OR lockdown",
        Delivery::Stream,
    ),
    query("retweets", "covid is:retweet", Delivery::Search),
    query("vaccine", "vaccine OR vacina OR vacuna", Delivery::Stream),
];

/// `spec.source.accessLevel`: the filtered stream needs Pro (or Enterprise); the simulator
/// answers as the same level (its `access_level`), so rules are judged by the same limits.
pub const ACCESS_LEVEL: &str = "Pro";

/// `spec.source.stream.backfillMinutes`: the shortest X offers, so a disconnect longer than the
/// backfill (a gap search recovery must fill) fits in a few minutes of faults.
pub const BACKFILL_MINUTES: u32 = 1;

/// The simulator's stream: X's keep-alive (every 20 s; the extractor gives up after 30 s of
/// silence) and one connection per app, but 200 connection attempts per 15 minutes instead of
/// X's 50. The run's own drops, kills and rescales reconnect more often than X's limit allows
/// (the stream's 429 is injected instead, `reject_connects`), so a real stream 429 means the
/// extractor reconnected in a loop.
pub const STREAM_KEEPALIVE_MS: u64 = 20_000;
pub const STREAM_CONNECTS_PER_WINDOW: u32 = 200;

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
    json!({"seed": seed, "tokens": tokens, "access_level": ACCESS_LEVEL,
           "stream": {"keepalive_ms": STREAM_KEEPALIVE_MS, "max_connections_per_app": 1,
                      "connects_per_window": STREAM_CONNECTS_PER_WINDOW, "window_seconds": 900},
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

/// `spec.source.queries`: with `streaming`, each query's `delivery`; without, every query as
/// search (what a user of the previous release, which has no stream, wrote).
fn queries(streaming: bool) -> Vec<serde_json::Value> {
    QUERIES
        .iter()
        .map(|q| match q.delivery {
            Delivery::Stream if streaming => {
                // searchRecovery left to its default (true).
                json!({"name": q.name, "query": q.query, "delivery": q.delivery.name()})
            }
            _ => json!({"name": q.name, "query": q.query}),
        })
        .collect()
}

/// The merge patch of `spec` that moves the stream queries to `delivery: Stream` (the whole
/// query list: a merge patch replaces lists), with the access level and backfill they need.
/// A run that starts on the previous release applies it once the upgrade is done, as a user
/// adopting the stream would.
pub fn stream_patch() -> serde_json::Value {
    json!({"source": {"queries": queries(true), "accessLevel": ACCESS_LEVEL,
                      "stream": {"backfillMinutes": BACKFILL_MINUTES}}})
}

/// The TweetPipeline, for the operator instance `instance`. `Delete`: cleanup drops the data.
/// Without `streaming` every query is searched and the stream settings are left out: the
/// previous release has neither.
pub fn manifest(
    namespace: &str,
    instance: &str,
    names: &Names,
    kafka_bootstrap_pod: &str,
    streaming: bool,
) -> serde_json::Value {
    let tokens: Vec<_> = TOKENS
        .iter()
        .map(|(name, _)| json!({"name": format!("x-{name}"), "key": "token"}))
        .collect();
    let queries = queries(streaming);
    let mut manifest = json!({
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
    });
    if streaming {
        manifest["spec"]["source"]["accessLevel"] = json!(ACCESS_LEVEL);
        manifest["spec"]["source"]["stream"] = json!({"backfillMinutes": BACKFILL_MINUTES});
    }
    manifest
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
        let m = manifest("ns", "inst", &names, "10.0.0.1:9094", true);
        assert_eq!(
            m["spec"]["source"]["tokens"].as_array().map(Vec::len),
            Some(2)
        );
        let queries = m["spec"]["source"]["queries"].as_array().expect("queries");
        assert_eq!(queries.len(), QUERIES.len());
        assert_eq!(queries[0].get("delivery"), None, "search is the default");
        assert_eq!(queries[1]["delivery"], "Stream");
        assert_eq!(
            queries[1].get("searchRecovery"),
            None,
            "search recovery is the default"
        );
        assert_eq!(m["spec"]["source"]["accessLevel"], "Pro");
        assert_eq!(m["spec"]["source"]["stream"]["backfillMinutes"], 1);
        assert_eq!(m["spec"]["deletionPolicy"], "Delete");
        assert_eq!(m["spec"]["mysql"]["database"], "chaos_x1");
        assert_eq!(max_posts(600, 90), 300 + 2070);
        // As the previous release's users wrote it: searched, no stream settings; the patch
        // after the upgrade brings them.
        let old = manifest("ns", "inst", &names, "10.0.0.1:9094", false);
        assert!(
            old["spec"]["source"]["queries"]
                .as_array()
                .expect("queries")
                .iter()
                .all(|q| q.get("delivery").is_none())
        );
        assert!(old["spec"]["source"].get("stream").is_none());
        assert!(old["spec"]["source"].get("accessLevel").is_none());
        let patch = stream_patch();
        assert_eq!(patch["source"]["queries"], m["spec"]["source"]["queries"]);
        assert_eq!(patch["source"]["stream"], m["spec"]["source"]["stream"]);
        assert_eq!(patch["source"]["accessLevel"], "Pro");
    }

    #[test]
    fn each_token_streams_and_searches_and_queries_overlap() {
        // Query i spends token i mod 2 (the operator's rule).
        for token in 0..TOKENS.len() {
            let mine: Vec<_> = QUERIES
                .iter()
                .enumerate()
                .filter(|(i, _)| i % TOKENS.len() == token)
                .map(|(_, q)| q.delivery)
                .collect();
            assert!(mine.contains(&Delivery::Stream), "token {token}");
            assert!(mine.contains(&Delivery::Search), "token {token}");
        }
        // One connection carries two rules.
        assert!(
            QUERIES
                .iter()
                .enumerate()
                .filter(|(i, q)| i % 2 == 0 && q.delivery == Delivery::Stream)
                .count()
                >= 2
        );
        let names: std::collections::BTreeSet<_> = QUERIES.iter().map(|q| q.name).collect();
        assert_eq!(names.len(), QUERIES.len(), "names are unique");
        let config = simulator_config(1, 10);
        assert_eq!(config["access_level"], ACCESS_LEVEL);
        assert_eq!(config["stream"]["keepalive_ms"], 20_000);
    }
}
