//! The dashboard queries (`dashboards/sql/*.sql`) run against real MariaDB holding posts, with
//! Grafana's macros expanded the way Grafana's MySQL data source expands them, and their
//! results are checked against figures computed here from the same posts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Timelike};
use sqlx::Row;
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::mysql::TestDb;
use tweetpipe_transformer::rows::{PostKind, StoredPost};
use tweetpipe_transformer::store::Store;
use tweetpipe_transformer::transform::transform;

const SQL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboards/sql");
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../dashboards/grafana/tweetpipe.json"
);

/// 2024-11-22T06:00:00Z .. 2024-11-23T06:00:00Z, inside the two days of sample posts.
const FROM: i64 = 1_732_255_200;
const TO: i64 = 1_732_341_600;
const QUERIES: [&str; 2] = ["covid-en", "quarentena-pt"];

fn dashboard_sql(name: &str) -> String {
    std::fs::read_to_string(format!("{SQL_DIR}/{name}.sql"))
        .unwrap_or_else(|e| panic!("{SQL_DIR}/{name}.sql: {e}"))
}

/// Grafana's MySQL macros: `$__timeFilter(c)` → `c BETWEEN FROM_UNIXTIME(from) AND
/// FROM_UNIXTIME(to)`, `$__timeFrom()`/`$__timeTo()` → `FROM_UNIXTIME(..)`, and a
/// multi-value `$query` → a quoted, comma-separated list.
fn expand(sql: &str) -> String {
    let mut out = sql
        .replace("$__timeFrom()", &format!("FROM_UNIXTIME({FROM})"))
        .replace("$__timeTo()", &format!("FROM_UNIXTIME({TO})"))
        .replace(
            "$query",
            &QUERIES
                .iter()
                .map(|q| format!("'{q}'"))
                .collect::<Vec<_>>()
                .join(","),
        );
    while let Some(start) = out.find("$__timeFilter(") {
        let rest = &out[start + "$__timeFilter(".len()..];
        let end = rest
            .find(')')
            .unwrap_or_else(|| panic!("unclosed $__timeFilter"));
        let column = rest[..end].to_owned();
        out = format!(
            "{}{column} BETWEEN FROM_UNIXTIME({FROM}) AND FROM_UNIXTIME({TO}){}",
            &out[..start],
            &rest[end + 1..]
        );
    }
    assert!(!out.contains('$'), "unexpanded macro in {out}");
    out
}

/// Runs a dashboard query; every value as text (MySQL's text protocol), rows in order.
async fn run(db: &TestDb, name: &str) -> Vec<Vec<String>> {
    let sql = expand(&dashboard_sql(name));
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .fetch_all(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"));
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get_unchecked::<Option<String>, _>(i)
                        .unwrap_or_else(|e| panic!("{name} column {i}: {e}"))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect()
}

fn in_range(t: NaiveDateTime) -> bool {
    let from = DateTime::from_timestamp(FROM, 0).map(|d| d.naive_utc());
    let to = DateTime::from_timestamp(TO, 0).map(|d| d.naive_utc());
    from.is_some_and(|f| t >= f) && to.is_some_and(|e| t <= e)
}

fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

fn selected(s: &StoredPost) -> bool {
    QUERIES.contains(&s.post.query_name.as_str())
}

/// Sorted like `ORDER BY count DESC, name`.
fn ranked(counts: BTreeMap<String, i64>, limit: usize) -> Vec<Vec<String>> {
    let mut rows: Vec<(String, i64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.into_iter()
        .take(limit)
        .map(|(k, v)| vec![k, v.to_string()])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_answer_from_the_stored_posts() {
    let db = TestDb::create("tp_t_dash", &MIGRATOR).await;
    let stored: Vec<StoredPost> = sample_posts(3_000, 1_860_000_000_000_000_000)
        .iter()
        .map(|p| transform(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let store = Store::new(db.pool.clone());
    for batch in stored.chunks(500) {
        store
            .write_batch(batch)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let fmt = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();

    // Volume per hour × query × language.
    let mut volume: BTreeMap<(String, String), i64> = BTreeMap::new();
    for s in stored.iter().filter(|s| selected(s)) {
        let hour = hour_of(s.post.created_at);
        if in_range(hour) {
            let metric = format!("{} / {}", s.post.query_name, s.post.lang);
            *volume.entry((fmt(hour), metric)).or_default() += 1;
        }
    }
    let want: Vec<Vec<String>> = volume
        .into_iter()
        .map(|((h, m), n)| vec![h, m, n.to_string()])
        .collect();
    assert!(!want.is_empty());
    assert_eq!(run(&db, "volume_by_query_lang").await, want);

    // Language share.
    let mut langs: BTreeMap<String, i64> = BTreeMap::new();
    for s in stored
        .iter()
        .filter(|s| selected(s) && in_range(hour_of(s.post.created_at)))
    {
        *langs.entry(s.post.lang.clone()).or_default() += 1;
    }
    assert_eq!(run(&db, "language_share").await, ranked(langs, usize::MAX));

    // Average sentiment per hour × query.
    let mut sentiment: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for s in stored.iter().filter(|s| selected(s)) {
        let hour = hour_of(s.post.created_at);
        if in_range(hour) {
            let e = sentiment
                .entry((fmt(hour), s.post.query_name.clone()))
                .or_default();
            e.0 += f64::from(s.post.sentiment);
            e.1 += 1.0;
        }
    }
    let got = run(&db, "sentiment_over_time").await;
    assert_eq!(got.len(), sentiment.len());
    for (row, ((hour, query), (sum, n))) in got.iter().zip(&sentiment) {
        assert_eq!((&row[0], &row[1]), (hour, query));
        let value: f64 = row[2].parse().unwrap_or_else(|e| panic!("{row:?}: {e}"));
        assert!((value - sum / n).abs() < 1e-4, "{row:?} vs {}", sum / n);
    }
    assert!(
        got.iter()
            .any(|r| r[2].parse::<f64>().unwrap_or(0.0) != 0.0)
    );

    // Post kinds per hour.
    let mut kinds: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for s in stored.iter().filter(|s| selected(s)) {
        let hour = hour_of(s.post.created_at);
        if in_range(hour) {
            let slot = match s.post.kind {
                PostKind::Original => 0,
                PostKind::Retweet => 1,
                PostKind::Reply => 2,
                PostKind::Quote => 3,
            };
            kinds.entry(fmt(hour)).or_default()[slot] += 1;
        }
    }
    let want: Vec<Vec<String>> = kinds
        .into_iter()
        .map(|(h, k)| {
            std::iter::once(h)
                .chain(k.iter().map(i64::to_string))
                .collect()
        })
        .collect();
    assert_eq!(run(&db, "post_kinds").await, want);

    // Top hashtags over whole UTC days of the range, all queries.
    let (from_day, to_day) = (
        DateTime::from_timestamp(FROM, 0).map(|d| d.date_naive()),
        DateTime::from_timestamp(TO, 0).map(|d| d.date_naive()),
    );
    let mut tags: BTreeMap<String, i64> = BTreeMap::new();
    for s in &stored {
        let day = Some(s.post.created_at.date());
        if day >= from_day && day <= to_day {
            for h in &s.hashtags {
                *tags.entry(h.tag.clone()).or_default() += 1;
            }
        }
    }
    let top = run(&db, "top_hashtags").await;
    assert_eq!(top, ranked(tags, 20));
    assert_eq!(
        top[0][0], "covid19",
        "#COVID19 and #covid19 fold into one tag"
    );

    // Top mentioned accounts among the selected queries' posts.
    let mut mentions: BTreeMap<String, i64> = BTreeMap::new();
    for s in stored
        .iter()
        .filter(|s| selected(s) && in_range(s.post.created_at))
    {
        for m in &s.mentions {
            *mentions.entry(m.username.clone()).or_default() += 1;
        }
    }
    assert_eq!(run(&db, "top_mentions").await, ranked(mentions, 20));

    // The $query variable lists every query.
    let queries: Vec<String> = run(&db, "queries")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(queries, vec!["covid-en", "covid-pt", "quarentena-pt"]);
    db.drop().await;
}

#[test]
fn dashboard_json_matches_the_sql_files() {
    let text = std::fs::read_to_string(DASHBOARD).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    let files: Vec<String> = std::fs::read_dir(SQL_DIR)
        .unwrap_or_else(|e| panic!("{SQL_DIR}: {e}"))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".sql")?.to_owned())
        })
        .collect();
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    assert!(panels.len() >= 6);
    let mut used = Vec::new();
    for panel in &panels {
        assert_eq!(panel["datasource"]["type"], "mysql");
        let sql = panel["targets"][0]["rawSql"].as_str().unwrap_or_default();
        let file = files
            .iter()
            .find(|f| dashboard_sql(f) == sql)
            .unwrap_or_else(|| panic!("panel {:?} runs SQL that is in no file of {SQL_DIR}; run python3 dashboards/generate.py", panel["title"]));
        used.push(file.clone());
    }
    let variable = &dashboard["templating"]["list"][1];
    assert_eq!(variable["name"], "query");
    assert_eq!(
        variable["query"].as_str(),
        Some(dashboard_sql("queries").as_str())
    );
    used.push("queries".into());
    used.sort();
    let mut all = files.clone();
    all.sort();
    assert_eq!(used, all, "every SQL file is on the dashboard");
}
