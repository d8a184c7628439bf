//! X's documented example queries and one row per refusal class, from
//! `tests/data/x-recent-search-examples.tsv`, each checked for the expected accept or refusal.

use tweetpipe_xquery::{AccessLevel, QueryErrorKind, parse_for};

const EXAMPLES: &str = include_str!("data/x-recent-search-examples.tsv");

struct Row<'a> {
    line: usize,
    expected: &'a str,
    level: AccessLevel,
    query: &'a str,
    source: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    EXAMPLES
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                cols.len(),
                4,
                "line {}: 4 tab-separated columns: {l}",
                i + 1
            );
            Row {
                line: i + 1,
                expected: cols[0],
                level: cols[1]
                    .parse()
                    .unwrap_or_else(|e| panic!("line {}: {e}", i + 1)),
                query: cols[2],
                source: cols[3],
            }
        })
        .collect()
}

fn kind_name(kind: QueryErrorKind) -> &'static str {
    match kind {
        QueryErrorKind::Empty => "Empty",
        QueryErrorKind::TooLong { .. } => "TooLong",
        QueryErrorKind::UnbalancedParentheses => "UnbalancedParentheses",
        QueryErrorKind::NoStandaloneClause => "NoStandaloneClause",
        QueryErrorKind::UnknownOperator => "UnknownOperator",
        QueryErrorKind::OperatorNotInAccessLevel => "OperatorNotInAccessLevel",
        QueryErrorKind::MissingValue => "MissingValue",
        QueryErrorKind::InvalidValue => "InvalidValue",
        QueryErrorKind::NullcastNotNegated => "NullcastNotNegated",
        QueryErrorKind::Syntax => "Syntax",
    }
}

#[test]
fn every_documented_example_gets_the_expected_answer() {
    let rows = rows();
    assert!(rows.len() > 120, "the table lost rows: {}", rows.len());
    let mut wrong = Vec::new();
    for row in &rows {
        let got = match parse_for(row.query, row.level) {
            Ok(_) => "accept".to_string(),
            Err(e) => {
                // Every refusal names a position X can point at, except length and emptiness.
                assert!(
                    e.position.is_some(),
                    "line {}: {} has no position",
                    row.line,
                    e.message
                );
                format!("{}: {}", kind_name(e.kind), e.message)
            }
        };
        let kind = got.split(':').next().unwrap_or_default();
        if kind != row.expected {
            wrong.push(format!(
                "line {} ({}): {:?} at {}: expected {}, got {got}",
                row.line, row.source, row.query, row.level, row.expected
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_refusal_class_has_a_row() {
    let rows = rows();
    for class in [
        "UnbalancedParentheses",
        "NoStandaloneClause",
        "UnknownOperator",
        "OperatorNotInAccessLevel",
        "MissingValue",
        "InvalidValue",
        "NullcastNotNegated",
        "Syntax",
    ] {
        assert!(
            rows.iter().any(|r| r.expected == class),
            "no row refused as {class}"
        );
    }
}

#[test]
fn query_length_follows_the_access_level() {
    let at = |n: usize| format!("covid {}", "x".repeat(n - 6));
    for level in [AccessLevel::Basic, AccessLevel::Pro, AccessLevel::PayPerUse] {
        assert!(parse_for(&at(512), level).is_ok(), "{level}");
        let err = parse_for(&at(513), level).expect_err("513 characters");
        assert_eq!(
            err.kind,
            QueryErrorKind::TooLong {
                length: 513,
                limit: 512
            }
        );
    }
    assert!(parse_for(&at(4096), AccessLevel::Enterprise).is_ok());
    let err = parse_for(&at(4097), AccessLevel::Enterprise).expect_err("4097 characters");
    assert!(
        err.message.contains("(4097) exceeds the maximum of 4096"),
        "{}",
        err.message
    );
}
