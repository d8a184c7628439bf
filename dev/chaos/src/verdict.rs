//! The comparison and the report: pure, from what the run observed.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::extractor::default_rule_tag;

use crate::observe::RollupCheck;
use crate::pipeline::{Delivery, Query};
use crate::sim::{Ledger, Stats};

/// Everything the verdict is drawn from.
pub struct Observed<'a> {
    pub seed: u64,
    pub minutes: f64,
    pub restart_services: bool,
    pub started_at: String,
    /// Steps per kind of fault: (carried out, skipped or failed).
    pub faults: &'a BTreeMap<&'static str, (u32, u32)>,
    /// The pipeline's queries (name, X query, delivery).
    pub queries: &'a [Query],
    /// `<namespace>/<name>` of the pipeline: its stream rules are tagged
    /// `tweetpipe:<pipeline>:<query>`.
    pub pipeline: &'a str,
    pub ledger: &'a Ledger,
    pub stats: &'a Stats,
    /// Ids of published posts matching each query (by name): what a perfect client holds.
    pub published: &'a BTreeMap<String, HashSet<String>>,
    /// Ids stored in `post_queries`, by query name.
    pub stored: &'a BTreeMap<String, HashSet<String>>,
    /// Committed post records per (post id, query name).
    pub copies: &'a std::collections::HashMap<(String, String), u32>,
    pub rollups: &'a RollupCheck,
    pub checkpoints: &'a BTreeMap<String, Checkpoint>,
    /// When each stream query that was never searched began streaming (epoch ms): posts
    /// published before are not its to collect (`observe::checkpoint_history`).
    pub stream_starts: &'a BTreeMap<String, i64>,
    /// `YYYY-MM` of the comparison (the checkpoints' `month`).
    pub month: &'a str,
    /// How the drain ended: seconds it took, or why it did not finish.
    pub drain: Result<u64, String>,
    /// The upgrade from the previous release, when the run made one: what was done, or why it
    /// failed.
    pub upgrade: Option<&'a Result<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFigures {
    pub name: String,
    pub delivery: Delivery,
    pub published: usize,
    pub served: usize,
    pub stored: usize,
    pub missing: usize,
    pub uncollected: usize,
    pub unexplained: usize,
    pub duplicated: usize,
    pub month_posts: u64,
    /// Published before the query began streaming (a stream query created as such starts at
    /// its first connection): left out of `published` and `served`.
    pub before_start: usize,
    /// Ledger: posts the filtered stream delivered for the query (backfill redeliveries
    /// included), and posts search answers carried (polls, or recovery searches of a stream
    /// query; refetches included).
    pub streamed: u64,
    pub searched: u64,
    /// Checkpoint: recovery searches (gaps longer than the backfill) and the posts they stored.
    pub recoveries: u64,
    pub recovered_posts: u64,
    /// Checkpoint: intervals recorded as never fetched.
    pub gaps: u64,
}

pub struct Verdict {
    pub queries: Vec<QueryFigures>,
    pub rate_limited: u64,
    pub failures: Vec<String>,
    pub report: String,
}

/// Ids the ledger says were served for `query` (X query string), over every token (a query
/// spends one token, query `i` token `i mod T`; a second token is reported by `token_checks`).
/// A streamed post is recorded under the matching rule's value, the query string, so searched
/// and streamed posts of a query count together.
fn served_ids(ledger: &Ledger, query: &str, start: Option<i64>) -> HashSet<String> {
    ledger
        .tokens
        .iter()
        .flat_map(|t| t.queries.iter().filter(|q| q.query == query))
        .flat_map(|q| q.ids.iter().filter(|id| after(id, start)).cloned())
        .collect()
}

/// Whether post `id` was published at or after `start` (always without one).
fn after(id: &str, start: Option<i64>) -> bool {
    start.is_none_or(|s| snowflake_ms(id).is_none_or(|t| t >= s))
}

/// The ledger's (streamed, searched) posts of `query` over every token, repeats included, and
/// the rule tags its streamed posts came under.
fn served_by(ledger: &Ledger, query: &str) -> (u64, u64, Vec<String>) {
    let (mut streamed, mut searched, mut tags) = (0, 0, Vec::new());
    for q in ledger
        .tokens
        .iter()
        .flat_map(|t| t.queries.iter().filter(|q| q.query == query))
    {
        streamed += q.streamed_posts;
        searched += q.served_posts.saturating_sub(q.streamed_posts);
        tags.extend(q.tags.iter().cloned());
    }
    tags.sort();
    tags.dedup();
    (streamed, searched, tags)
}

/// Per token: the checkpoints' `month_posts` of the queries it served, summed, against the
/// ledger's distinct posts per query under that token, summed; and no query on two tokens.
fn token_checks(o: &Observed<'_>, failures: &mut Vec<String>) {
    let name_of = |query: &str| o.queries.iter().find(|q| q.query == query).map(|q| q.name);
    let mut tokens_of_query: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for token in &o.ledger.tokens {
        let mut month_posts = 0u64;
        let mut ledger = 0u64;
        for q in &token.queries {
            tokens_of_query
                .entry(q.query.as_str())
                .or_default()
                .push(token.token.as_str());
            let start = name_of(&q.query).and_then(|name| o.stream_starts.get(name).copied());
            ledger += q.ids.iter().filter(|id| after(id, start)).count() as u64;
            month_posts += name_of(&q.query)
                .and_then(|name| o.checkpoints.get(name))
                .filter(|cp| cp.month == o.month)
                .map_or(0, |cp| cp.month_posts);
        }
        if month_posts != ledger {
            failures.push(format!(
                "token {}: its queries' month_posts sum to {month_posts}, the ledger's distinct posts per query to {ledger}",
                token.token
            ));
        }
    }
    for (query, tokens) in tokens_of_query {
        if tokens.len() > 1 {
            failures.push(format!(
                "query {query:?} was served under {} tokens ({}): a query spends one token",
                tokens.len(),
                tokens.join(", ")
            ));
        }
    }
}

/// X's snowflake epoch: an id's top bits are milliseconds since it.
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

/// Milliseconds since the Unix epoch at which post `id` was created (its snowflake time).
pub fn snowflake_ms(id: &str) -> Option<i64> {
    let id: u64 = id.parse().ok()?;
    i64::try_from(id >> 22)
        .ok()
        .map(|ms| ms + SNOWFLAKE_EPOCH_MS)
}

/// The stream queries whose checkpoint does not yet say their newest published post is stored
/// (`stream.stored_until` after its creation), each with why; `newest` holds the newest
/// published post per stream query name (absent: none published).
pub fn streams_behind(
    queries: &[Query],
    newest: &BTreeMap<&str, Option<String>>,
    checkpoints: &BTreeMap<String, Checkpoint>,
) -> Vec<String> {
    let mut behind = Vec::new();
    for q in queries.iter().filter(|q| q.delivery == Delivery::Stream) {
        let Some(Some(id)) = newest.get(q.name) else {
            continue;
        };
        let newest_ms = snowflake_ms(id).unwrap_or(i64::MAX);
        let stored_until = checkpoints
            .get(q.name)
            .and_then(|cp| cp.stream.as_ref())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s.stored_until).ok())
            .map(|t| t.timestamp_millis());
        match stored_until {
            Some(until) if until > newest_ms => {}
            Some(until) => behind.push(format!(
                "{} ({} s behind its newest post)",
                q.name,
                (newest_ms - until).div_euclid(1000) + 1
            )),
            None => behind.push(format!("{} (never streamed)", q.name)),
        }
    }
    behind
}

pub fn judge(o: &Observed<'_>) -> Verdict {
    let empty = HashSet::new();
    let mut failures = Vec::new();
    let mut queries = Vec::new();
    for &Query {
        name,
        query,
        delivery,
    } in o.queries
    {
        let start = o.stream_starts.get(name).copied();
        let served = served_ids(o.ledger, query, start);
        let stored = o.stored.get(name).unwrap_or(&empty);
        let all_published = o.published.get(name).unwrap_or(&empty);
        let published: HashSet<String> = all_published
            .iter()
            .filter(|id| after(id, start))
            .cloned()
            .collect();
        let published = &published;
        let duplicated = o
            .copies
            .iter()
            .filter(|((_, q), n)| q == name && **n > 1)
            .map(|(_, n)| (*n - 1) as usize)
            .sum();
        let checkpoint = o.checkpoints.get(name);
        let month_posts = checkpoint
            .filter(|cp| cp.month == o.month)
            .map_or(0, |cp| cp.month_posts);
        let stream = checkpoint.and_then(|cp| cp.stream.as_ref());
        let (streamed, searched, tags) = served_by(o.ledger, query);
        let figures = QueryFigures {
            name: name.to_string(),
            delivery,
            published: published.len(),
            served: served.len(),
            stored: stored.len(),
            missing: served.difference(stored).count(),
            uncollected: published.difference(stored).count(),
            unexplained: stored.difference(&served).count(),
            duplicated,
            month_posts,
            before_start: all_published.len() - published.len(),
            streamed,
            searched,
            recoveries: stream.map_or(0, |s| s.recoveries),
            recovered_posts: stream.map_or(0, |s| s.recovered_posts),
            gaps: checkpoint.map_or(0, |cp| cp.gaps_total),
        };
        if figures.missing > 0 {
            failures.push(format!(
                "{name}: {} served posts not stored",
                figures.missing
            ));
        }
        if figures.uncollected > 0 {
            failures.push(format!(
                "{name}: {} published posts never stored",
                figures.uncollected
            ));
        }
        if figures.unexplained > 0 {
            failures.push(format!(
                "{name}: {} stored posts the ledger never served",
                figures.unexplained
            ));
        }
        if figures.duplicated > 0 {
            failures.push(format!(
                "{name}: {} committed duplicate records in Kafka",
                figures.duplicated
            ));
        }
        // Streamed posts count like searched ones: each stored post once, whichever way it
        // came (a backfill redelivery or a recovery overlap dropped before Kafka is not
        // counted again).
        if month_posts != served.len() as u64 {
            failures.push(format!(
                "{name}: checkpoint month_posts {month_posts} ≠ ledger's distinct posts {}",
                served.len()
            ));
        }
        if figures.gaps > 0 {
            failures.push(format!(
                "{name}: {} interval(s) recorded as never fetched (last: {:?}); with search recovery nothing may be",
                figures.gaps,
                checkpoint.and_then(|cp| cp.last_gap.as_ref())
            ));
        }
        match delivery {
            Delivery::Stream => {
                if streamed == 0 {
                    failures.push(format!(
                        "{name}: delivery Stream, but the stream delivered none of its posts"
                    ));
                }
                let own = default_rule_tag(o.pipeline, name);
                let foreign: Vec<&String> = tags.iter().filter(|t| **t != own).collect();
                if !foreign.is_empty() {
                    failures.push(format!(
                        "{name}: streamed under rule tags {foreign:?}, expected only {own:?}"
                    ));
                }
            }
            Delivery::Search => {
                if streamed > 0 {
                    failures.push(format!(
                        "{name}: delivery Search, but {streamed} of its posts were streamed (a rule of it exists)"
                    ));
                }
            }
        }
        queries.push(figures);
    }
    token_checks(o, &mut failures);
    let search_rate_limited: u64 = o.stats.tokens.values().map(|t| t.rate_limited).sum();
    let stream_rate_limited: u64 = o.stats.streams.values().map(|s| s.rate_limited).sum();
    let rate_limited = search_rate_limited + stream_rate_limited;
    if search_rate_limited > 0 {
        failures.push(format!(
            "{search_rate_limited} rate-limit 429s from search (no injected fault is a search 429)"
        ));
    }
    if stream_rate_limited > 0 {
        failures.push(format!(
            "{stream_rate_limited} rate-limit 429s from the stream's endpoints (connection attempts, rule changes or lookups over their window; the injected ones are counted apart)"
        ));
    }
    if o.ledger.overflowed {
        failures.push("the simulator's ledger overflowed: the comparison is incomplete".into());
    }
    let rollup_mismatches = o.rollups.hourly_mismatches.len() + o.rollups.hashtag_mismatches.len();
    if rollup_mismatches > 0 {
        failures.push(format!(
            "{rollup_mismatches} roll-up rows differ from a recount"
        ));
    }
    if let Err(why) = &o.drain {
        failures.push(format!("drain: {why}"));
    }
    if let Some(Err(why)) = o.upgrade {
        failures.push(format!("upgrade: {why}"));
    }
    let report = render(o, &queries, rate_limited, &failures);
    Verdict {
        queries,
        rate_limited,
        failures,
        report,
    }
}

fn render(
    o: &Observed<'_>,
    queries: &[QueryFigures],
    rate_limited: u64,
    failures: &[String],
) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# make chaos report\n");
    let _ = writeln!(
        r,
        "- started {} · seed **{}** (replay: `CHAOS_SEED={} CHAOS_MINUTES={} make chaos`) · {} min of faults · Kafka/MariaDB restarts {}",
        o.started_at,
        o.seed,
        o.seed,
        o.minutes,
        o.minutes,
        if o.restart_services {
            "on"
        } else {
            "off (CHAOS_RESTART_SERVICES=0)"
        }
    );
    let _ = writeln!(
        r,
        "- drain: {}",
        match &o.drain {
            Ok(s) => format!("done in {s} s"),
            Err(why) => format!("NOT done: {why}"),
        }
    );
    if let Some(upgrade) = o.upgrade {
        let _ = writeln!(
            r,
            "- upgrade from the previous release halfway through: {}",
            match upgrade {
                Ok(detail) => detail.clone(),
                Err(why) => format!("FAILED: {why}"),
            }
        );
    }
    let _ = writeln!(
        r,
        "- verdict: **{}**\n",
        if failures.is_empty() { "PASS" } else { "FAIL" }
    );
    let _ = writeln!(
        r,
        "## Faults injected\n\n| kind | done | skipped or failed |\n| --- | ---: | ---: |"
    );
    for (kind, (done, skipped)) in o.faults {
        let _ = writeln!(r, "| {kind} | {done} | {skipped} |");
    }
    let _ = writeln!(
        r,
        "\n## Posts per query\n\n| query | delivery | published | served | stored | missing | never collected | stored, not served | duplicated (Kafka) | month_posts | ledger distinct | by stream | by search | recoveries (posts) | gaps |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for q in queries {
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
            q.name,
            q.delivery.name(),
            q.published,
            q.served,
            q.stored,
            q.missing,
            q.uncollected,
            q.unexplained,
            q.duplicated,
            q.month_posts,
            q.served,
            q.streamed,
            q.searched,
            q.recoveries,
            q.recovered_posts,
            q.gaps
        );
    }
    let total = |f: fn(&QueryFigures) -> usize| queries.iter().map(f).sum::<usize>();
    let sum = |f: fn(&QueryFigures) -> u64| queries.iter().map(f).sum::<u64>();
    let _ = writeln!(
        r,
        "| **all** | | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
        total(|q| q.published),
        total(|q| q.served),
        total(|q| q.stored),
        total(|q| q.missing),
        total(|q| q.uncollected),
        total(|q| q.unexplained),
        total(|q| q.duplicated),
        sum(|q| q.month_posts),
        total(|q| q.served),
        sum(|q| q.streamed),
        sum(|q| q.searched),
        sum(|q| q.recoveries),
        sum(|q| q.recovered_posts),
        sum(|q| q.gaps),
    );
    let started: Vec<String> = queries
        .iter()
        .filter_map(|q| {
            let start = o.stream_starts.get(&q.name)?;
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*start)?;
            Some(format!(
                "{} from {} ({} earlier posts left out)",
                q.name,
                at.format("%H:%M:%S%.3f"),
                q.before_start
            ))
        })
        .collect();
    if !started.is_empty() {
        let _ = writeln!(
            r,
            "\nStream queries created as such start at their first connection; counted from then: {}.",
            started.join(", ")
        );
    }
    let _ = writeln!(
        r,
        "\n*by stream*: the simulator's stream deliveries for the query (backfill redeliveries included); *by search*: posts in search answers (polls; for a stream query, before the upgrade and recovery searches), refetches included; *recoveries*: searches over a gap longer than the backfill, from the checkpoint."
    );
    let _ = writeln!(
        r,
        "\n## Simulator, per token\n\n| token | search requests | posts served (streamed) | distinct posts | rate-limit 429s | usage-capped | injected 5xx / slow / malformed |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (name, stats) in &o.stats.tokens {
        let ledger = o.ledger.tokens.iter().find(|t| &t.token == name);
        let _ = writeln!(
            r,
            "| {name} | {} | {} ({}) | {} | {} | {} | {} / {} / {} |",
            stats.requests,
            ledger.map_or(stats.posts_served, |t| t.served_posts),
            ledger.map_or(0, |t| t.streamed_posts),
            ledger.map_or(0, |t| t.distinct_posts),
            stats.rate_limited,
            stats.usage_capped,
            stats.injected_server_errors,
            stats.injected_slow,
            stats.injected_malformed
        );
    }
    if !o.stats.streams.is_empty() {
        let _ = writeln!(
            r,
            "\n## Filtered stream, per app\n\n| app | connections | posts delivered | keep-alives | injected drops / stalls / operational disconnects | injected 429s | 429 TooManyConnections | rate-limit 429s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (app, s) in &o.stats.streams {
            let _ = writeln!(
                r,
                "| {app} | {} | {} | {} | {} / {} / {} | {} | {} | {} |",
                s.connections,
                s.posts_delivered,
                s.keep_alives,
                s.injected_drops,
                s.injected_stalls,
                s.injected_operational_disconnects,
                s.refused_injected,
                s.refused_too_many_connections,
                s.rate_limited
            );
        }
        let _ = writeln!(
            r,
            "\n*injected 429s* are the schedule's (`reject_connects`); *TooManyConnections* answers a connection attempt while the simulator still counts the app's previous connection open (after a kill or a handoff, until it notices the close), which the extractor backs off from like X's; *rate-limit 429s* (a stream endpoint's window used up) fail the run."
        );
    }
    let outages = o
        .faults
        .get("stream outage longer than backfill")
        .map_or(0, |(done, _)| *done);
    let recoveries: u64 = queries.iter().map(|q| q.recoveries).sum();
    if outages > 0 && recoveries == 0 {
        let _ = writeln!(
            r,
            "\nNote: {outages} stream outage(s) longer than the backfill, but no recovery search in any checkpoint (an outage before the upgrade hits nothing: the previous release polls stream queries)."
        );
    }
    let _ = writeln!(
        r,
        "\nRate-limit 429s in all: **{rate_limited}**. Ledger: {} entries of {} (overflowed: {}). Published posts: {}.",
        o.ledger.entries, o.ledger.capacity, o.ledger.overflowed, o.stats.visible_posts
    );
    let _ = writeln!(
        r,
        "\n## Roll-ups\n\n- `posts_hourly`: {} rows, {} differ from the recount\n- `hashtags_daily`: {} rows, {} differ from the recount",
        o.rollups.hourly_rows,
        o.rollups.hourly_mismatches.len(),
        o.rollups.hashtag_rows,
        o.rollups.hashtag_mismatches.len()
    );
    for line in o
        .rollups
        .hourly_mismatches
        .iter()
        .chain(&o.rollups.hashtag_mismatches)
        .take(20)
    {
        let _ = writeln!(r, "  - {line}");
    }
    let _ = writeln!(r, "\n## Failures\n");
    if failures.is_empty() {
        let _ = writeln!(r, "none");
    }
    for f in failures {
        let _ = writeln!(r, "- {f}");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{QueryLedger, StreamStats, TokenLedger, TokenStats};
    use tweetpipe_common::contract::checkpoint::StreamProgress;

    fn ids(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    struct Fixture {
        ledger: Ledger,
        stats: Stats,
        published: BTreeMap<String, HashSet<String>>,
        stored: BTreeMap<String, HashSet<String>>,
        copies: std::collections::HashMap<(String, String), u32>,
        checkpoints: BTreeMap<String, Checkpoint>,
        stream_starts: BTreeMap<String, i64>,
        rollups: RollupCheck,
        faults: BTreeMap<&'static str, (u32, u32)>,
    }

    const QUERIES: [Query; 2] = [
        Query {
            name: "a",
            query: "covid",
            delivery: Delivery::Search,
        },
        Query {
            name: "b",
            query: "quarantine",
            delivery: Delivery::Search,
        },
    ];
    /// `a` searched, `b` streamed (with search recovery).
    const MIXED: [Query; 2] = [
        QUERIES[0],
        Query {
            name: "b",
            query: "quarantine",
            delivery: Delivery::Stream,
        },
    ];
    const PIPELINE: &str = "ns/chaos";

    /// Query `a` served 1, 2, 3 (token x); `b` served 3 (token y).
    fn healthy() -> Fixture {
        let q = |query: &str, list: &[&str]| QueryLedger {
            query: query.into(),
            served_posts: list.len() as u64,
            ids: list.iter().map(|s| s.to_string()).collect(),
            ..QueryLedger::default()
        };
        let ledger = Ledger {
            capacity: 100,
            entries: 5,
            overflowed: false,
            tokens: vec![
                TokenLedger {
                    token: "x".into(),
                    served_posts: 3,
                    distinct_posts: 3,
                    queries: vec![q("covid", &["1", "2", "3"])],
                    ..TokenLedger::default()
                },
                TokenLedger {
                    token: "y".into(),
                    served_posts: 1,
                    distinct_posts: 1,
                    queries: vec![q("quarantine", &["3"])],
                    ..TokenLedger::default()
                },
            ],
        };
        let stats = Stats {
            visible_posts: 3,
            tokens: [
                ("x".to_string(), TokenStats::default()),
                ("y".to_string(), TokenStats::default()),
            ]
            .into(),
            streams: Default::default(),
        };
        let cp = |name: &str, n: u64| Checkpoint {
            month_posts: n,
            ..Checkpoint::new(name, "2026-12")
        };
        Fixture {
            ledger,
            stats,
            published: [
                ("a".into(), ids(&["1", "2", "3"])),
                ("b".into(), ids(&["3"])),
            ]
            .into(),
            stored: [
                ("a".into(), ids(&["1", "2", "3"])),
                ("b".into(), ids(&["3"])),
            ]
            .into(),
            copies: [(("1".into(), "a".into()), 1), (("3".into(), "b".into()), 1)].into(),
            checkpoints: [("a".into(), cp("a", 3)), ("b".into(), cp("b", 1))].into(),
            stream_starts: BTreeMap::new(),
            rollups: RollupCheck::default(),
            faults: [("kill extractor pod", (3, 0))].into(),
        }
    }

    fn judge_fixture(f: &Fixture) -> Verdict {
        judge(&Observed {
            seed: 7,
            minutes: 2.0,
            restart_services: false,
            started_at: "now".into(),
            faults: &f.faults,
            queries: &QUERIES,
            pipeline: PIPELINE,
            ledger: &f.ledger,
            stats: &f.stats,
            published: &f.published,
            stored: &f.stored,
            copies: &f.copies,
            rollups: &f.rollups,
            checkpoints: &f.checkpoints,
            stream_starts: &f.stream_starts,
            month: "2026-12",
            drain: Ok(12),
            upgrade: None,
        })
    }

    #[test]
    fn a_query_on_two_tokens_fails() {
        let mut f = healthy();
        f.ledger.tokens[1].queries.push(QueryLedger {
            query: "covid".into(),
            ids: vec!["3".into()],
            ..QueryLedger::default()
        });
        let v = judge_fixture(&f);
        assert!(
            v.failures.iter().any(|m| m.contains("under 2 tokens")),
            "{:?}",
            v.failures
        );
        assert!(
            v.failures.iter().any(|m| m.starts_with("token y")),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn a_clean_run_passes_with_queries_spread_over_tokens() {
        let v = judge_fixture(&healthy());
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(v.queries[0].served, 3);
        assert!(v.report.contains("**PASS**") && v.report.contains("CHAOS_SEED=7"));
    }

    #[test]
    fn loss_duplicates_429s_and_month_drift_each_fail() {
        let mut f = healthy();
        if let Some(s) = f.stored.get_mut("a") {
            s.remove("2");
        }
        f.copies.insert(("3".into(), "b".into()), 2);
        if let Some(t) = f.stats.tokens.get_mut("y") {
            t.rate_limited = 2;
        }
        if let Some(cp) = f.checkpoints.get_mut("a") {
            cp.month_posts = 4;
        }
        let v = judge_fixture(&f);
        assert_eq!(v.queries[0].missing, 1);
        assert_eq!(v.queries[0].uncollected, 1);
        assert_eq!(v.queries[1].duplicated, 1);
        assert_eq!(v.rate_limited, 2);
        // Loss, never collected, duplicate, 429s, month drift of query `a` and of its token.
        assert_eq!(v.failures.len(), 6, "{:?}", v.failures);
        assert!(v.report.contains("**FAIL**"));
    }

    #[test]
    fn roll_up_differences_and_an_unfinished_drain_fail() {
        let mut f = healthy();
        f.rollups.hourly_mismatches.push("row".into());
        let mut v = judge_fixture(&f);
        assert_eq!(v.failures.len(), 1);
        let f = healthy();
        v = judge(&Observed {
            drain: Err("lag 5".into()),
            ..observed(&f)
        });
        assert_eq!(v.failures, vec!["drain: lag 5".to_string()]);
    }

    #[test]
    fn a_failed_upgrade_fails_and_a_done_one_is_reported() {
        let f = healthy();
        let failed = Err("workers still not on :dev".to_string());
        let v = judge(&Observed {
            upgrade: Some(&failed),
            ..observed(&f)
        });
        assert_eq!(
            v.failures,
            vec!["upgrade: workers still not on :dev".to_string()]
        );
        assert!(v.report.contains("FAILED: workers still not on :dev"));
        let done = Ok("every worker on :dev after 40 s".to_string());
        let v = judge(&Observed {
            upgrade: Some(&done),
            ..observed(&f)
        });
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert!(
            v.report
                .contains("halfway through: every worker on :dev after 40 s")
        );
    }

    /// The healthy fixture with `b` streamed: its post 3 came by the stream (and once more by a
    /// backfill redelivery), under its own rule tag; the apps' stream counters as a run leaves them.
    fn streaming() -> Fixture {
        let mut f = healthy();
        let b = &mut f.ledger.tokens[1].queries[0];
        b.served_posts = 2;
        b.streamed_posts = 2;
        b.tags = vec![default_rule_tag(PIPELINE, "b")];
        f.stats.streams = [(
            "y".to_string(),
            StreamStats {
                connections: 6,
                posts_delivered: 2,
                injected_drops: 2,
                injected_stalls: 1,
                refused_injected: 3,
                refused_too_many_connections: 1,
                ..StreamStats::default()
            },
        )]
        .into();
        if let Some(cp) = f.checkpoints.get_mut("b") {
            cp.stream = Some(StreamProgress {
                stored_until: "2026-12-01T00:00:00.000Z".into(),
                recovered_posts: 1,
                recoveries: 1,
                ..StreamProgress::default()
            });
        }
        f
    }

    #[test]
    fn a_stream_query_is_judged_from_its_first_connection() {
        // `b` began streaming at `start`: post `old` was published (and served by the first
        // reconnection's backfill) before, post `new` after.
        let start = 1_796_083_200_000i64;
        let id = |ms: i64| ((((ms - SNOWFLAKE_EPOCH_MS) as u64) << 22) | 1).to_string();
        let (old, new) = (id(start - 30_000), id(start + 1));
        let mut f = streaming();
        let b = &mut f.ledger.tokens[1].queries[0];
        b.ids = vec![old.clone(), new.clone()];
        f.ledger.tokens[1].distinct_posts = 2;
        f.published.insert("b".into(), ids(&[&old, &new]));
        f.stored.insert("b".into(), ids(&[&new]));
        f.copies = [((new.clone(), "b".to_string()), 1)].into();
        let without_start = judge_mixed(&f);
        assert!(
            without_start
                .failures
                .iter()
                .any(|m| m.contains("b: 1 published posts never stored")),
            "{:?}",
            without_start.failures
        );
        f.stream_starts.insert("b".into(), start);
        let v = judge_mixed(&f);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(
            (
                v.queries[1].published,
                v.queries[1].served,
                v.queries[1].before_start
            ),
            (1, 1, 1)
        );
        assert!(
            v.report
                .contains("b from 00:00:00.000 (1 earlier posts left out)"),
            "{}",
            v.report
        );
    }

    fn judge_mixed(f: &Fixture) -> Verdict {
        judge(&Observed {
            queries: &MIXED,
            ..observed(f)
        })
    }

    #[test]
    fn a_streamed_query_passes_and_its_stream_figures_are_reported() {
        let v = judge_mixed(&streaming());
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        let b = &v.queries[1];
        assert_eq!(b.delivery, Delivery::Stream);
        assert_eq!((b.streamed, b.searched), (2, 0));
        assert_eq!((b.recoveries, b.recovered_posts), (1, 1));
        assert!(
            v.report
                .contains("| b | Stream | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 1 | 1 | 2 | 0 | 1 (1) | 0 |"),
            "{}",
            v.report
        );
        assert!(
            v.report
                .contains("| y | 6 | 2 | 0 | 2 / 1 / 0 | 3 | 1 | 0 |"),
            "{}",
            v.report
        );
        // Injected 429s and TooManyConnections are not the pipeline's fault.
        assert_eq!(v.rate_limited, 0);
    }

    #[test]
    fn a_stream_query_fails_on_loss_duplicates_gaps_and_stream_429s() {
        let mut f = streaming();
        if let Some(s) = f.stored.get_mut("b") {
            s.clear();
        }
        f.copies.insert(("3".into(), "b".into()), 2);
        if let Some(cp) = f.checkpoints.get_mut("b") {
            cp.gaps_total = 1;
        }
        if let Some(s) = f.stats.streams.get_mut("y") {
            s.rate_limited = 1;
        }
        let v = judge_mixed(&f);
        assert_eq!(v.queries[1].missing, 1);
        assert_eq!(v.queries[1].uncollected, 1);
        assert_eq!(v.queries[1].duplicated, 1);
        assert_eq!(v.rate_limited, 1);
        for expected in [
            "b: 1 served posts not stored",
            "b: 1 published posts never stored",
            "b: 1 committed duplicate records in Kafka",
            "b: 1 interval(s) recorded as never fetched",
            "rate-limit 429s from the stream's endpoints",
        ] {
            assert!(
                v.failures.iter().any(|m| m.contains(expected)),
                "{expected}: {:?}",
                v.failures
            );
        }
        assert_eq!(v.failures.len(), 5, "{:?}", v.failures);
    }

    #[test]
    fn the_delivery_must_match_how_posts_came() {
        // Declared Stream but only searched: the stream mode never ran.
        let v = judge_mixed(&healthy());
        assert_eq!(
            v.failures,
            vec!["b: delivery Stream, but the stream delivered none of its posts".to_string()]
        );
        // Declared Search but streamed: a rule exists for a search query.
        let v = judge(&Observed {
            queries: &QUERIES,
            ..observed(&streaming())
        });
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(v.failures[0].starts_with("b: delivery Search, but 2 of its posts were streamed"));
        // Streamed under someone else's rule tag.
        let mut f = streaming();
        f.ledger.tokens[1].queries[0]
            .tags
            .push("tweetpipe:other/p:b".into());
        let v = judge_mixed(&f);
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(v.failures[0].contains("tweetpipe:other/p:b"));
    }

    #[test]
    fn a_stream_query_is_drained_once_stored_past_its_newest_post() {
        // 2026-12-01T00:00:00Z as a snowflake.
        let at = 1_796_083_200_000i64;
        let id = (((at - SNOWFLAKE_EPOCH_MS) as u64) << 22 | 7).to_string();
        assert_eq!(snowflake_ms(&id), Some(at));
        let cp = |until: &str| Checkpoint {
            stream: Some(StreamProgress {
                stored_until: until.into(),
                ..StreamProgress::default()
            }),
            ..Checkpoint::new("b", "2026-12")
        };
        let newest: BTreeMap<&str, Option<String>> = [("b", Some(id))].into();
        let behind = |checkpoints: BTreeMap<String, Checkpoint>| {
            streams_behind(&MIXED, &newest, &checkpoints)
        };
        assert_eq!(
            behind(BTreeMap::new()),
            vec!["b (never streamed)".to_string()]
        );
        assert_eq!(
            behind([("b".into(), cp("2026-11-30T23:59:00.000Z"))].into()),
            vec!["b (61 s behind its newest post)".to_string()]
        );
        assert_eq!(
            behind([("b".into(), cp("2026-12-01T00:00:00.000Z"))].into()),
            vec!["b (1 s behind its newest post)".to_string()]
        );
        assert!(behind([("b".into(), cp("2026-12-01T00:00:00.001Z"))].into()).is_empty());
        // Search queries and stream queries with nothing published are not waited for.
        let none: BTreeMap<&str, Option<String>> = [("b", None)].into();
        assert!(streams_behind(&MIXED, &none, &BTreeMap::new()).is_empty());
        assert!(streams_behind(&QUERIES, &newest, &BTreeMap::new()).is_empty());
    }

    fn observed(f: &Fixture) -> Observed<'_> {
        Observed {
            seed: 1,
            minutes: 1.0,
            restart_services: true,
            started_at: String::new(),
            faults: &f.faults,
            queries: &QUERIES,
            pipeline: PIPELINE,
            ledger: &f.ledger,
            stats: &f.stats,
            published: &f.published,
            stored: &f.stored,
            copies: &f.copies,
            rollups: &f.rollups,
            checkpoints: &f.checkpoints,
            stream_starts: &f.stream_starts,
            month: "2026-12",
            drain: Ok(1),
            upgrade: None,
        }
    }
}
