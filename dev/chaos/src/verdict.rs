//! The comparison and the report: pure, from what the run observed.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use tweetpipe_common::contract::checkpoint::Checkpoint;

use crate::observe::RollupCheck;
use crate::sim::{Ledger, Stats};

/// Everything the verdict is drawn from.
pub struct Observed<'a> {
    pub seed: u64,
    pub minutes: f64,
    pub restart_services: bool,
    pub started_at: String,
    /// Steps per kind of fault: (carried out, skipped or failed).
    pub faults: &'a BTreeMap<&'static str, (u32, u32)>,
    /// `(name, X query)` of each pipeline query.
    pub queries: &'a [(&'a str, &'a str)],
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
    /// `YYYY-MM` of the comparison (the checkpoints' `month`).
    pub month: &'a str,
    /// How the drain ended: seconds it took, or why it did not finish.
    pub drain: Result<u64, String>,
    /// The upgrade from the previous release, when the run made one: what was done, or why it
    /// failed.
    pub upgrade: Option<&'a Result<String, String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueryFigures {
    pub name: String,
    pub published: usize,
    pub served: usize,
    pub stored: usize,
    pub missing: usize,
    pub uncollected: usize,
    pub unexplained: usize,
    pub duplicated: usize,
    pub month_posts: u64,
}

pub struct Verdict {
    pub queries: Vec<QueryFigures>,
    pub rate_limited: u64,
    pub failures: Vec<String>,
    pub report: String,
}

/// Ids the ledger says were served for `query` (X query string), over every token (a query
/// spends one token, query `i` token `i mod T`; a second token is reported by `token_checks`).
fn served_ids(ledger: &Ledger, query: &str) -> HashSet<String> {
    ledger
        .tokens
        .iter()
        .flat_map(|t| t.queries.iter().filter(|q| q.query == query))
        .flat_map(|q| q.ids.iter().cloned())
        .collect()
}

/// Per token: the checkpoints' `month_posts` of the queries it served, summed, against the
/// ledger's distinct posts per query under that token, summed; and no query on two tokens.
fn token_checks(o: &Observed<'_>, failures: &mut Vec<String>) {
    let name_of = |query: &str| {
        o.queries
            .iter()
            .find(|(_, q)| *q == query)
            .map(|(name, _)| *name)
    };
    let mut tokens_of_query: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for token in &o.ledger.tokens {
        let mut month_posts = 0u64;
        let mut ledger = 0u64;
        for q in &token.queries {
            tokens_of_query
                .entry(q.query.as_str())
                .or_default()
                .push(token.token.as_str());
            ledger += q.ids.len() as u64;
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

pub fn judge(o: &Observed<'_>) -> Verdict {
    let empty = HashSet::new();
    let mut failures = Vec::new();
    let mut queries = Vec::new();
    for (name, query) in o.queries {
        let served = served_ids(o.ledger, query);
        let stored = o.stored.get(*name).unwrap_or(&empty);
        let published = o.published.get(*name).unwrap_or(&empty);
        let duplicated = o
            .copies
            .iter()
            .filter(|((_, q), n)| q == name && **n > 1)
            .map(|(_, n)| (*n - 1) as usize)
            .sum();
        let month_posts = o
            .checkpoints
            .get(*name)
            .filter(|cp| cp.month == o.month)
            .map_or(0, |cp| cp.month_posts);
        let figures = QueryFigures {
            name: name.to_string(),
            published: published.len(),
            served: served.len(),
            stored: stored.len(),
            missing: served.difference(stored).count(),
            uncollected: published.difference(stored).count(),
            unexplained: stored.difference(&served).count(),
            duplicated,
            month_posts,
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
        if month_posts != served.len() as u64 {
            failures.push(format!(
                "{name}: checkpoint month_posts {month_posts} ≠ ledger's distinct posts {}",
                served.len()
            ));
        }
        queries.push(figures);
    }
    token_checks(o, &mut failures);
    let rate_limited: u64 = o.stats.tokens.values().map(|t| t.rate_limited).sum();
    if rate_limited > 0 {
        failures.push(format!(
            "{rate_limited} rate-limit 429s (no injected fault is a 429)"
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
        "\n## Posts per query\n\n| query | published | served | stored | missing | never collected | stored, not served | duplicated (Kafka) | month_posts | ledger distinct |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for q in queries {
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            q.name,
            q.published,
            q.served,
            q.stored,
            q.missing,
            q.uncollected,
            q.unexplained,
            q.duplicated,
            q.month_posts,
            q.served
        );
    }
    let total = |f: fn(&QueryFigures) -> usize| queries.iter().map(f).sum::<usize>();
    let _ = writeln!(
        r,
        "| **all** | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        total(|q| q.published),
        total(|q| q.served),
        total(|q| q.stored),
        total(|q| q.missing),
        total(|q| q.uncollected),
        total(|q| q.unexplained),
        total(|q| q.duplicated),
        queries.iter().map(|q| q.month_posts).sum::<u64>(),
        total(|q| q.served),
    );
    let _ = writeln!(
        r,
        "\n## Simulator, per token\n\n| token | requests | posts served | distinct posts | rate-limit 429s | usage-capped | injected 5xx / slow / malformed |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (name, stats) in &o.stats.tokens {
        let ledger = o.ledger.tokens.iter().find(|t| &t.token == name);
        let _ = writeln!(
            r,
            "| {name} | {} | {} | {} | {} | {} | {} / {} / {} |",
            stats.requests,
            ledger.map_or(stats.posts_served, |t| t.served_posts),
            ledger.map_or(0, |t| t.distinct_posts),
            stats.rate_limited,
            stats.usage_capped,
            stats.injected_server_errors,
            stats.injected_slow,
            stats.injected_malformed
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
    use crate::sim::{QueryLedger, TokenLedger, TokenStats};

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
        rollups: RollupCheck,
        faults: BTreeMap<&'static str, (u32, u32)>,
    }

    const QUERIES: [(&str, &str); 2] = [("a", "covid"), ("b", "quarantine")];

    /// Query `a` served 1, 2, 3 (token x); `b` served 3 (token y).
    fn healthy() -> Fixture {
        let q = |query: &str, list: &[&str]| QueryLedger {
            query: query.into(),
            ids: list.iter().map(|s| s.to_string()).collect(),
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
                },
                TokenLedger {
                    token: "y".into(),
                    served_posts: 1,
                    distinct_posts: 1,
                    queries: vec![q("quarantine", &["3"])],
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
            ledger: &f.ledger,
            stats: &f.stats,
            published: &f.published,
            stored: &f.stored,
            copies: &f.copies,
            rollups: &f.rollups,
            checkpoints: &f.checkpoints,
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

    fn observed(f: &Fixture) -> Observed<'_> {
        Observed {
            seed: 1,
            minutes: 1.0,
            restart_services: true,
            started_at: String::new(),
            faults: &f.faults,
            queries: &QUERIES,
            ledger: &f.ledger,
            stats: &f.stats,
            published: &f.published,
            stored: &f.stored,
            copies: &f.copies,
            rollups: &f.rollups,
            checkpoints: &f.checkpoints,
            month: "2026-12",
            drain: Ok(1),
            upgrade: None,
        }
    }
}
