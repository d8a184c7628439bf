//! The filtered stream as the operator judges it, pure: which app (token) holds each stream
//! query's rule, whether an app is shared with another pipeline or holds more rules than X
//! allows, and each connection's state as the checkpoints show it.
//!
//! An app is known by a digest of its bearer token that the reconcile computes and keeps in
//! memory only; nothing here sees a token, and no digest reaches the status, events or logs.

use chrono::{DateTime, Utc};
use tweetpipe_common::contract::checkpoint::{ConnectionProgress, StreamProgress};
use tweetpipe_common::contract::extractor::Delivery;
use tweetpipe_xquery::AccessLevel;

use super::conditions::{Check, reasons};
use super::plan::Checkpoint;
use crate::crd::{StreamConnectionStatus, TweetPipelineSpec};

/// A connection whose queries are stored up to less than this long ago is `Streaming`. The
/// extractor keeps `stored_until` within `delivery_lag_ms` (5 s) of what it reads, and on a
/// quiet stream rewrites it once it lags by `keepalive_timeout_ms` (30 s); X sends a keep-alive
/// every 20 s. So a working connection is never older than about a minute; two leave room for
/// the checkpoint read's own delay.
pub const STREAMING_WITHIN_SECONDS: i64 = 120;

/// Connection states in the status.
pub mod states {
    /// Stored up to the last [`super::STREAMING_WITHIN_SECONDS`].
    pub const STREAMING: &str = "Streaming";
    /// Stored up to longer ago: disconnected, reconnecting, recovering, or its extractor down.
    pub const BEHIND: &str = "Behind";
    /// No stream checkpoint yet (never connected, or the checkpoints could not be read).
    pub const NOT_STARTED: &str = "NotStarted";
    /// `spec.suspend` is set: no connection on purpose.
    pub const SUSPENDED: &str = "Suspended";
}

/// The name the status gives a delivery mode (the CRD's spelling).
pub fn delivery_name(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Search => "Search",
        Delivery::Stream => "Stream",
        Delivery::StreamWithSearchRecovery => "StreamWithSearchRecovery",
    }
}

/// The tag of a stream query's rule, `tweetpipe:<namespace>/<name>:<query>`: the extractor's
/// default, which the build writes out and deletion selects by.
pub fn rule_tag(tp: &crate::crd::TweetPipeline, query: &str) -> String {
    let pipeline = tweetpipe_common::contract::names::pipeline_id(
        tp.metadata.namespace.as_deref().unwrap_or("default"),
        tp.metadata.name.as_deref().unwrap_or(""),
    );
    tweetpipe_common::contract::extractor::default_rule_tag(&pipeline, query)
}

/// Whether any query of the spec is streamed.
pub fn streams(spec: &TweetPipelineSpec) -> bool {
    spec.source
        .queries
        .iter()
        .any(|q| q.delivery_mode().is_stream())
}

/// The token a query spends: query `i` takes token `i mod tokens`, as
/// [`super::scaling::query_shares`] hands them out.
pub fn token_of(query: usize, tokens: usize) -> usize {
    query % tokens.max(1)
}

/// `(token index, stream queries on it)` for every token that carries a stream query, in token
/// order. Each stream query is one rule of its token's app.
pub fn rules_per_token(spec: &TweetPipelineSpec) -> Vec<(usize, u32)> {
    let tokens = spec.source.tokens.len();
    let mut counts = vec![0u32; tokens.max(1)];
    for (i, q) in spec.source.queries.iter().enumerate() {
        if q.delivery_mode().is_stream() {
            counts[token_of(i, tokens)] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .filter(|(_, rules)| *rules > 0)
        .collect()
}

/// One pipeline's stream rules on one app, as the reconcile found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUse {
    /// `namespace/name` of the pipeline.
    pub pipeline: String,
    /// Index of the token in that pipeline's `source.tokens`.
    pub token: usize,
    /// Which app: a digest of the token (equal digests, same app). Never shown.
    pub app: String,
    /// Its stream queries on that token.
    pub rules: u32,
    /// Whether its extractor holds a connection (not while suspended; its rules stay on the
    /// app and count toward the budget all the same).
    pub connects: bool,
}

/// Whether the apps `me` streams on are its own and within their rule budget, given every
/// pipeline's stream use the operator sees (`me`'s included). X allows one connection per app
/// on Pro (the extractor holds one per token), so two holders of one app take turns being
/// refused with 429 `TooManyConnections`; Enterprise allows more connections, so only the rule
/// budget applies there.
pub fn judge_apps(me: &str, level: AccessLevel, uses: &[AppUse]) -> Check {
    let budget = level.max_rules_per_app();
    let mut over_budget = Vec::new();
    let mut shared = Vec::new();
    for mine in uses.iter().filter(|u| u.pipeline == me) {
        let others: Vec<&AppUse> = uses
            .iter()
            .filter(|u| u.app == mine.app && !(u.pipeline == me && u.token == mine.token))
            .collect();
        let total: u64 =
            u64::from(mine.rules) + others.iter().map(|u| u64::from(u.rules)).sum::<u64>();
        let holders = others
            .iter()
            .filter(|u| u.connects || total > budget as u64)
            .map(|u| {
                if u.pipeline == me {
                    format!("this pipeline's token {}", u.token)
                } else {
                    format!("pipeline {} (token {})", u.pipeline, u.token)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        if total > budget as u64 {
            over_budget.push(format!(
                "the app of token {} would hold {total} stream rules ({} of this pipeline{}); X allows {budget} per app on {level}: move queries to search or to another app",
                mine.token,
                mine.rules,
                if holders.is_empty() {
                    String::new()
                } else {
                    format!(", the others of {holders}")
                }
            ));
        } else if mine.connects
            && others.iter().any(|u| u.connects)
            && level != AccessLevel::Enterprise
        {
            shared.push(format!(
                "the app of token {} also streams for {holders}: X allows one stream connection per app on {level}, so their extractors would take turns being refused (429 TooManyConnections); give each its own app (token), or move the stream queries into one pipeline",
                mine.token
            ));
        }
    }
    if !over_budget.is_empty() {
        Check::failed(reasons::RULE_BUDGET_EXCEEDED, over_budget.join("; "))
    } else if !shared.is_empty() {
        Check::failed(reasons::STREAM_APP_SHARED, shared.join("; "))
    } else {
        Check::Ok
    }
}

/// Each stream connection (one per token with stream queries) with its state, from the stream
/// queries' checkpoints: the oldest `stored_until` of its queries says how far it has stored.
pub fn connections(
    spec: &TweetPipelineSpec,
    checkpoints: &[Checkpoint],
    now: DateTime<Utc>,
) -> Vec<StreamConnectionStatus> {
    let tokens = spec.source.tokens.len();
    rules_per_token(spec)
        .into_iter()
        .map(|(token, rules)| {
            let progress: Vec<Option<&StreamProgress>> = spec
                .source
                .queries
                .iter()
                .enumerate()
                .filter(|(i, q)| q.delivery_mode().is_stream() && token_of(*i, tokens) == token)
                .map(|(_, q)| {
                    checkpoints
                        .iter()
                        .find(|c| c.query == q.name)
                        .and_then(|c| c.stream.as_ref())
                })
                .collect();
            let stored: Vec<Option<DateTime<Utc>>> = progress
                .iter()
                .map(|p| p.and_then(|s| parse_time(&s.stored_until)))
                .collect();
            let connection = freshest_connection(progress.iter().flatten().copied());
            // A query not yet streamed holds the connection's state back to NotStarted.
            let oldest = if stored.iter().any(Option::is_none) {
                None
            } else {
                stored.into_iter().flatten().min()
            };
            let state = if spec.suspend {
                states::SUSPENDED
            } else {
                match oldest {
                    None => states::NOT_STARTED,
                    Some(at) if (now - at).num_seconds() < STREAMING_WITHIN_SECONDS => {
                        states::STREAMING
                    }
                    Some(_) => states::BEHIND,
                }
            };
            StreamConnectionStatus {
                token: i32::try_from(token).unwrap_or(i32::MAX),
                state: state.to_string(),
                rules,
                stored_until: oldest
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                reconnects: connection.map_or(0, |c| c.reconnects),
                connected_at: connection.and_then(|c| c.connected_at.clone()),
                last_received_at: connection.and_then(|c| c.last_received_at.clone()),
                last_backfill_minutes: connection.map_or(0, |c| u32::from(c.backfill_minutes)),
            }
        })
        .collect()
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The connection as the most recently written of its queries' checkpoints saw it: every
/// query carries a copy, but a quiet query's checkpoint is rewritten less often than a busy
/// one's. Newest `lastReceivedAt` first, then the most reconnects (older records lack it).
fn freshest_connection<'a>(
    progress: impl Iterator<Item = &'a StreamProgress>,
) -> Option<&'a ConnectionProgress> {
    progress
        .filter_map(|p| p.connection.as_ref())
        .max_by_key(|c| {
            (
                c.last_received_at.as_deref().and_then(parse_time),
                c.reconnects,
            )
        })
}

/// A rule as `GET /2/tweets/search/stream/rules` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ListedRule {
    pub id: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub tag: Option<String>,
}

/// The answer of `GET /2/tweets/search/stream/rules` (`data` is absent when the app has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct RulesList {
    #[serde(default)]
    pub data: Vec<ListedRule>,
}

/// The ids of `pipeline`'s rules among `listed`: tagged `tweetpipe:<pipeline>:…`. A rule of
/// another pipeline (`tweetpipe:<pipeline>x:…` included), untagged or made by hand is never
/// among them.
pub fn rules_to_delete(pipeline: &str, listed: &RulesList) -> Vec<String> {
    let prefix = tweetpipe_common::contract::extractor::rule_tag_prefix(pipeline);
    listed
        .data
        .iter()
        .filter(|r| r.tag.as_deref().is_some_and(|t| t.starts_with(&prefix)))
        .map(|r| r.id.clone())
        .collect()
}

/// The body of `POST /2/tweets/search/stream/rules` that deletes `ids`.
pub fn delete_body(ids: &[String]) -> serde_json::Value {
    serde_json::json!({"delete": {"ids": ids}})
}

/// Whether deletion must remove stream rules: the spec streams, or the last status says a
/// query did (a query moved back to search may have left its rule).
pub fn had_stream_rules(tp: &crate::crd::TweetPipeline) -> bool {
    streams(&tp.spec)
        || tp
            .status
            .as_ref()
            .is_some_and(|s| s.stream.is_some() || s.queries.iter().any(|q| q.rule_tag.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::QueryDelivery;
    use crate::fixtures::pipeline_with;

    fn uses(rows: &[(&str, usize, &str, u32)]) -> Vec<AppUse> {
        rows.iter()
            .map(|(pipeline, token, app, rules)| AppUse {
                pipeline: pipeline.to_string(),
                token: *token,
                app: app.to_string(),
                rules: *rules,
                connects: true,
            })
            .collect()
    }

    /// A query's checkpoint with `progress` as its stream part.
    fn stream_checkpoint(query: &str, progress: Option<StreamProgress>) -> Checkpoint {
        Checkpoint {
            query: query.into(),
            stream: progress,
            ..Checkpoint::default()
        }
    }

    fn suspended(mut uses: Vec<AppUse>, pipeline: &str) -> Vec<AppUse> {
        for u in uses.iter_mut().filter(|u| u.pipeline == pipeline) {
            u.connects = false;
        }
        uses
    }

    fn reason(check: &Check) -> &str {
        match check {
            Check::Ok => "Ok",
            Check::Skipped(_) => "Skipped",
            Check::Failed { reason, .. } => reason,
        }
    }

    #[test]
    fn only_the_pipelines_own_rules_are_deleted() {
        let listed: RulesList = serde_json::from_value(serde_json::json!({"data": [
            {"id": "1", "value": "covid", "tag": "tweetpipe:ns/a:covid-en"},
            {"id": "2", "value": "flu", "tag": "tweetpipe:ns/ab:flu"},
            {"id": "3", "value": "cats"},
            {"id": "4", "value": "dogs", "tag": "mine"},
            {"id": "5", "value": "quarantine", "tag": "tweetpipe:ns/a:quarantine-en"},
            {"id": "6", "value": "x", "tag": "tweetpipe:ns/a"},
            {"id": "7", "value": "y", "tag": "tweetpipe:other/a:q"}
        ], "meta": {"sent": "2026-12-06T06:00:00.000Z", "result_count": 7}}))
        .unwrap();
        assert_eq!(rules_to_delete("ns/a", &listed), ["1", "5"]);
        assert!(rules_to_delete("ns/c", &listed).is_empty());
        let empty: RulesList =
            serde_json::from_value(serde_json::json!({"meta": {"result_count": 0}})).unwrap();
        assert!(rules_to_delete("ns/a", &empty).is_empty());
        assert_eq!(
            delete_body(&["1".into(), "5".into()]),
            serde_json::json!({"delete": {"ids": ["1", "5"]}})
        );
    }

    #[test]
    fn deletion_removes_rules_of_streaming_pipelines_and_of_those_that_streamed() {
        use crate::crd::{QueryStatus, TweetPipelineStatus};
        assert!(!had_stream_rules(&crate::fixtures::pipeline()));
        let streaming =
            pipeline_with(|tp| tp.spec.source.queries[0].delivery = QueryDelivery::Stream);
        assert!(had_stream_rules(&streaming));
        let streamed = pipeline_with(|tp| {
            tp.status = Some(TweetPipelineStatus {
                queries: vec![QueryStatus {
                    name: "covid-en".into(),
                    rule_tag: Some("tweetpipe:tweets/covid19:covid-en".into()),
                    ..QueryStatus::default()
                }],
                ..TweetPipelineStatus::default()
            })
        });
        assert!(had_stream_rules(&streamed));
    }

    #[test]
    fn the_app_table() {
        let me = "ns/a";
        // (case, level, uses, reason, words the message has)
        type Case = (
            &'static str,
            AccessLevel,
            Vec<AppUse>,
            &'static str,
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            ("no stream use", AccessLevel::Pro, vec![], "Ok", &[]),
            (
                "own apps",
                AccessLevel::Pro,
                uses(&[
                    (me, 0, "app1", 3),
                    (me, 1, "app2", 2),
                    ("ns/b", 0, "app3", 9),
                ]),
                "Ok",
                &[],
            ),
            (
                "another pipeline streams on the same app",
                AccessLevel::Pro,
                uses(&[(me, 0, "app1", 3), ("ns/b", 1, "app1", 2)]),
                reasons::STREAM_APP_SHARED,
                &["token 0", "pipeline ns/b (token 1)", "TooManyConnections"],
            ),
            (
                "two tokens of one pipeline are one app",
                AccessLevel::Pro,
                uses(&[(me, 0, "app1", 3), (me, 1, "app1", 2)]),
                reasons::STREAM_APP_SHARED,
                &["this pipeline's token 1"],
            ),
            (
                "Enterprise allows more connections: sharing is fine",
                AccessLevel::Enterprise,
                uses(&[(me, 0, "app1", 3), ("ns/b", 0, "app1", 2)]),
                "Ok",
                &[],
            ),
            (
                "a suspended pipeline holds no connection",
                AccessLevel::Pro,
                suspended(uses(&[(me, 0, "app1", 3), ("ns/b", 1, "app1", 2)]), "ns/b"),
                "Ok",
                &[],
            ),
            (
                "suspended, but its rules count",
                AccessLevel::Pro,
                suspended(
                    uses(&[(me, 0, "app1", 3), ("ns/b", 1, "app1", 998)]),
                    "ns/b",
                ),
                reasons::RULE_BUDGET_EXCEEDED,
                &["1001 stream rules", "ns/b"],
            ),
            (
                "exactly the budget",
                AccessLevel::Pro,
                uses(&[(me, 0, "app1", 200), ("ns/b", 0, "app1", 800)]),
                reasons::STREAM_APP_SHARED,
                &[],
            ),
            (
                "one over the budget",
                AccessLevel::Pro,
                uses(&[(me, 0, "app1", 200), ("ns/b", 0, "app1", 801)]),
                reasons::RULE_BUDGET_EXCEEDED,
                &[
                    "1001 stream rules",
                    "200 of this pipeline",
                    "allows 1000 per app on Pro",
                ],
            ),
            (
                "Enterprise's budget",
                AccessLevel::Enterprise,
                uses(&[(me, 0, "app1", 200), ("ns/b", 0, "app1", 24_801)]),
                reasons::RULE_BUDGET_EXCEEDED,
                &["25001", "allows 25000"],
            ),
            (
                "others over budget on an app this pipeline does not use",
                AccessLevel::Pro,
                uses(&[
                    (me, 0, "app1", 1),
                    ("ns/b", 0, "app2", 600),
                    ("ns/c", 0, "app2", 600),
                ]),
                "Ok",
                &[],
            ),
        ];
        for (case, level, uses, expected, words) in cases {
            let check = judge_apps(me, level, &uses);
            assert_eq!(reason(&check), expected, "{case}: {check:?}");
            let message = super::super::conditions::message(&check);
            for word in words {
                assert!(message.contains(word), "{case}: {message:?} lacks {word:?}");
            }
        }
    }

    #[test]
    fn the_connection_is_reported_as_its_freshest_checkpoint_saw_it() {
        let now = parse_time("2026-12-06T06:00:00Z").unwrap();
        let tp = pipeline_with(|tp| {
            tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
            tp.spec.source.queries[2].delivery = QueryDelivery::Stream;
        });
        let connection = |reconnects, received: Option<&str>, backfill| ConnectionProgress {
            reconnects,
            connected_at: Some(format!("2026-12-06T05:5{reconnects}:00.000Z")),
            last_received_at: received.map(str::to_string),
            backfill_minutes: backfill,
        };
        let checkpoint = |query: &str, connection: Option<ConnectionProgress>| {
            stream_checkpoint(
                query,
                Some(StreamProgress {
                    stored_until: "2026-12-06T05:59:50.000Z".into(),
                    rule_id: Some(format!("id-{query}")),
                    connection,
                    ..StreamProgress::default()
                }),
            )
        };
        // (case, checkpoints, reconnects, connectedAt, lastReceivedAt, lastBackfillMinutes)
        type Case = (
            &'static str,
            Vec<Checkpoint>,
            u64,
            Option<&'static str>,
            Option<&'static str>,
            u32,
        );
        let cases: Vec<Case> = vec![
            (
                "older extractors write no connection",
                vec![
                    checkpoint("covid-en", None),
                    checkpoint("quarantine-en", None),
                ],
                0,
                None,
                None,
                0,
            ),
            (
                "the quiet query's older copy loses to the busy one's",
                vec![
                    checkpoint(
                        "covid-en",
                        Some(connection(3, Some("2026-12-06T05:59:58.000Z"), 5)),
                    ),
                    checkpoint(
                        "quarantine-en",
                        Some(connection(2, Some("2026-12-06T05:59:20.000Z"), 5)),
                    ),
                ],
                3,
                Some("2026-12-06T05:53:00.000Z"),
                Some("2026-12-06T05:59:58.000Z"),
                5,
            ),
            (
                "one query without a connection yet",
                vec![
                    checkpoint("covid-en", None),
                    checkpoint(
                        "quarantine-en",
                        Some(connection(0, Some("2026-12-06T05:59:59.000Z"), 0)),
                    ),
                ],
                0,
                Some("2026-12-06T05:50:00.000Z"),
                Some("2026-12-06T05:59:59.000Z"),
                0,
            ),
            (
                "nothing received yet: the most reconnects",
                vec![
                    checkpoint("covid-en", Some(connection(1, None, 1))),
                    checkpoint("quarantine-en", Some(connection(4, None, 2))),
                ],
                4,
                Some("2026-12-06T05:54:00.000Z"),
                None,
                2,
            ),
        ];
        for (case, checkpoints, reconnects, connected_at, received, backfill) in cases {
            let c = &connections(&tp.spec, &checkpoints, now)[0];
            assert_eq!(c.state, states::STREAMING, "{case}");
            assert_eq!(c.reconnects, reconnects, "{case}");
            assert_eq!(c.connected_at.as_deref(), connected_at, "{case}");
            assert_eq!(c.last_received_at.as_deref(), received, "{case}");
            assert_eq!(c.last_backfill_minutes, backfill, "{case}");
        }
    }

    #[test]
    fn rules_are_counted_per_token_as_the_shares_hand_tokens_out() {
        // Two tokens, three queries: 0 and 2 on token 0, 1 on token 1.
        let tp = pipeline_with(|tp| {
            tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
            tp.spec.source.queries[2].delivery = QueryDelivery::Stream;
        });
        assert_eq!(rules_per_token(&tp.spec), vec![(0, 2)]);
        let shares = crate::decide::scaling::query_shares(2, 405, 100, 3);
        for share in shares {
            assert_eq!(token_of(share.query, 2), share.token);
        }
        let tp = pipeline_with(|tp| tp.spec.source.queries[1].delivery = QueryDelivery::Stream);
        assert_eq!(rules_per_token(&tp.spec), vec![(1, 1)]);
        assert!(rules_per_token(&crate::fixtures::pipeline().spec).is_empty());
    }

    #[test]
    fn connection_states_from_the_checkpoints() {
        let now = parse_time("2026-12-06T06:00:00Z").unwrap();
        let tp = pipeline_with(|tp| {
            tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
            tp.spec.source.queries[2].delivery = QueryDelivery::Stream;
        });
        let checkpoint = |query: &str, stored_until: Option<&str>| {
            stream_checkpoint(
                query,
                stored_until.map(|s| StreamProgress {
                    stored_until: s.into(),
                    ..StreamProgress::default()
                }),
            )
        };
        // (case, checkpoints, suspended, state, storedUntil)
        type Case = (
            &'static str,
            Vec<Checkpoint>,
            bool,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            ("nothing yet", vec![], false, states::NOT_STARTED, None),
            (
                "one query not streamed yet",
                vec![checkpoint("covid-en", Some("2026-12-06T05:59:50Z"))],
                false,
                states::NOT_STARTED,
                None,
            ),
            (
                "both recent: the older counts",
                vec![
                    checkpoint("covid-en", Some("2026-12-06T05:59:50Z")),
                    checkpoint("quarantine-en", Some("2026-12-06T05:58:30Z")),
                ],
                false,
                states::STREAMING,
                Some("2026-12-06T05:58:30.000Z"),
            ),
            (
                "one behind",
                vec![
                    checkpoint("covid-en", Some("2026-12-06T05:59:50Z")),
                    checkpoint("quarantine-en", Some("2026-12-06T05:57:59Z")),
                ],
                false,
                states::BEHIND,
                Some("2026-12-06T05:57:59.000Z"),
            ),
            (
                "a search checkpoint of the query counts as not streamed",
                vec![
                    checkpoint("covid-en", Some("2026-12-06T05:59:50Z")),
                    checkpoint("quarantine-en", None),
                ],
                false,
                states::NOT_STARTED,
                None,
            ),
            (
                "suspended",
                vec![
                    checkpoint("covid-en", Some("2026-12-06T05:00:00Z")),
                    checkpoint("quarantine-en", Some("2026-12-06T05:00:00Z")),
                ],
                true,
                states::SUSPENDED,
                Some("2026-12-06T05:00:00.000Z"),
            ),
        ];
        for (case, checkpoints, suspended, state, stored_until) in cases {
            let mut tp = tp.clone();
            tp.spec.suspend = suspended;
            let connections = connections(&tp.spec, &checkpoints, now);
            assert_eq!(connections.len(), 1, "{case}");
            assert_eq!(connections[0].token, 0, "{case}");
            assert_eq!(connections[0].rules, 2, "{case}");
            assert_eq!(connections[0].state, state, "{case}");
            assert_eq!(
                connections[0].stored_until.as_deref(),
                stored_until,
                "{case}"
            );
        }
    }
}
