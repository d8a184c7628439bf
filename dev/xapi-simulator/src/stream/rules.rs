//! Filtered-stream rules: validation with the search grammar, the per-tier limits, and the
//! add/delete/list answers in X's shapes (`data`, `meta.sent`, `meta.summary`, `errors`).
//!
//! Pure: the HTTP handlers hold the per-app rule sets and call in here.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::corpus::format_time;
use crate::params::first_id_at;
use crate::query::{self, AccessLevel, Expr, PostFacts};

/// One rule of an app's active set.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: u64,
    pub value: String,
    pub tag: Option<String>,
    expr: Expr,
}

impl Rule {
    pub fn matches(&self, post: &PostFacts) -> bool {
        self.expr.matches(post)
    }

    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id.to_string()));
        o.insert("value".into(), json!(self.value));
        if let Some(tag) = &self.tag {
            o.insert("tag".into(), json!(tag));
        }
        Value::Object(o)
    }
}

/// An app's active rules, shared with its stream connection without copying (replaced whole on
/// every change, so a connection always matches against one consistent set).
pub type RuleSet = Arc<Vec<Rule>>;

/// How many rules an app may hold and how long each may be (X's filtered stream table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleLimits {
    pub max_rules: usize,
    pub max_chars: usize,
}

impl RuleLimits {
    /// Pro and pay-per-use: 1,000 rules of up to 1,024 characters; Enterprise: 25,000 of up
    /// to 2,048. Basic (which X's current table gives no stream) keeps its search length, 512:
    /// the shared grammar has no level with Basic's operators and a longer limit. The table is
    /// `tweetpipe-xquery`'s, which the operator's admission judges stream queries by.
    pub fn for_level(level: AccessLevel) -> Self {
        RuleLimits {
            max_rules: level.max_rules_per_app(),
            max_chars: level.max_rule_chars(),
        }
    }
}

/// Checks a rule value: its length against the tier's rule limit, then the search grammar with
/// the level's operators. `Err` holds X's `details` strings.
pub fn validate(value: &str, limits: RuleLimits, level: AccessLevel) -> Result<Expr, Vec<String>> {
    let length = value.chars().count();
    if length > limits.max_chars {
        return Err(vec![format!(
            "Rule length ({length}) exceeds the maximum of {} characters",
            limits.max_chars
        )]);
    }
    // Rules are longer than search queries (1,024 > 512), so the grammar is asked at a level
    // with the same operators whose query limit is no shorter than the rule limit checked above.
    query::parse_for(value, level.rule_grammar()).map_err(|e| {
        vec![match e.position {
            Some(position) => format!("{} (at position {position})", e.detail),
            None => e.detail,
        }]
    })
}

/// The body of `POST /2/tweets/search/stream/rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesRequest {
    pub add: Option<Vec<NewRule>>,
    pub delete: Option<DeleteRules>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub value: String,
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRules {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

/// An answer: HTTP status, body, and the app's new rule set when the request changed it
/// (taken out and stored by the caller).
#[derive(Debug)]
pub struct RulesAnswer {
    pub status: u16,
    pub body: Value,
    pub new_set: Option<Vec<Rule>>,
}

/// Hands out rule ids: snowflakes of the creation time, strictly increasing.
#[derive(Debug, Default)]
pub struct RuleIds {
    last: u64,
}

impl RuleIds {
    pub fn next(&mut self, now_ms: i64) -> u64 {
        self.last = first_id_at(now_ms).max(self.last + 1);
        self.last
    }
}

fn summary_meta(now_ms: i64, summary: Value) -> Value {
    json!({"sent": format_time(now_ms), "summary": summary})
}

fn duplicate_error(value: &str, existing_id: u64) -> Value {
    json!({"value": value, "id": existing_id.to_string(), "title": "DuplicateRule",
           "type": "https://api.twitter.com/2/problems/duplicate-rules"})
}

fn invalid_rule_error(value: &str, details: Vec<String>) -> Value {
    json!({"value": value, "details": details, "title": "UnprocessableEntity",
           "type": "https://api.twitter.com/2/problems/invalid-rules"})
}

/// What the request asks of the rules being added, judged one by one.
enum Judgement {
    Valid(Rule),
    Invalid(Vec<String>),
    Duplicate(u64),
}

/// Adds rules. A rule with an invalid value refuses the whole request (nothing is created,
/// 200 with the problems); duplicates of an existing rule (or of an earlier one in the same
/// request) are refused one by one while the others are created (201); a request that would
/// take the app past its rule cap creates nothing (403 `RulesCapExceeded`). `dry_run` answers
/// the same without changing anything.
pub fn add(
    current: &[Rule],
    new_rules: &[NewRule],
    limits: RuleLimits,
    level: AccessLevel,
    dry_run: bool,
    now_ms: i64,
    ids: &mut RuleIds,
) -> RulesAnswer {
    let mut judged: Vec<(&NewRule, Judgement)> = Vec::with_capacity(new_rules.len());
    for new_rule in new_rules {
        let existing = current
            .iter()
            .find(|r| r.value == new_rule.value)
            .map(|r| r.id)
            .or_else(|| {
                judged
                    .iter()
                    .find_map(|(earlier, judgement)| match judgement {
                        Judgement::Valid(rule) if earlier.value == new_rule.value => Some(rule.id),
                        _ => None,
                    })
            });
        let judgement = match (validate(&new_rule.value, limits, level), existing) {
            (Err(details), _) => Judgement::Invalid(details),
            (Ok(_), Some(existing_id)) => Judgement::Duplicate(existing_id),
            (Ok(expr), None) => Judgement::Valid(Rule {
                id: ids.next(now_ms),
                value: new_rule.value.clone(),
                tag: new_rule.tag.clone(),
                expr,
            }),
        };
        judged.push((new_rule, judgement));
    }
    let total = judged.len();
    let valid = judged
        .iter()
        .filter(|(_, j)| matches!(j, Judgement::Valid(_)))
        .count();
    let any_invalid = judged
        .iter()
        .any(|(_, j)| matches!(j, Judgement::Invalid(_)));
    let errors: Vec<Value> = judged
        .iter()
        .filter_map(|(new_rule, j)| match j {
            Judgement::Invalid(details) => {
                Some(invalid_rule_error(&new_rule.value, details.clone()))
            }
            Judgement::Duplicate(id) => Some(duplicate_error(&new_rule.value, *id)),
            Judgement::Valid(_) => None,
        })
        .collect();
    if any_invalid {
        let mut body = Map::new();
        body.insert(
            "meta".into(),
            summary_meta(
                now_ms,
                json!({"created": 0, "not_created": total, "valid": valid, "invalid": total - valid}),
            ),
        );
        body.insert("errors".into(), Value::Array(errors));
        return RulesAnswer {
            status: 200,
            body: Value::Object(body),
            new_set: None,
        };
    }
    if current.len() + valid > limits.max_rules {
        return RulesAnswer {
            status: 403,
            body: json!({
                "title": "RulesCapExceeded",
                "detail": format!(
                    "Adding {valid} rules to the {} this app has would pass its limit of {} rules.",
                    current.len(),
                    limits.max_rules
                ),
                "type": "https://api.twitter.com/2/problems/rule-cap"
            }),
            new_set: None,
        };
    }
    let created: Vec<Rule> = judged
        .into_iter()
        .filter_map(|(_, j)| match j {
            Judgement::Valid(rule) => Some(rule),
            _ => None,
        })
        .collect();
    let mut body = Map::new();
    if !created.is_empty() {
        body.insert(
            "data".into(),
            Value::Array(created.iter().map(Rule::to_json).collect()),
        );
    }
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    // A dry run answers what the request would do: the same summary, nothing stored.
    let summary = json!({"created": created.len(), "not_created": total - created.len(),
                         "valid": valid, "invalid": total - valid});
    body.insert("meta".into(), summary_meta(now_ms, summary));
    let new_set = (!dry_run && !created.is_empty()).then(|| {
        let mut set = current.to_vec();
        set.extend(created);
        set
    });
    RulesAnswer {
        status: 201,
        body: Value::Object(body),
        new_set,
    }
}

/// Deletes rules by id or by value. Each one not found is counted in `not_deleted` with an
/// error object (X nests a 400-style problem there); the others are deleted (unless `dry_run`).
pub fn delete(current: &[Rule], delete: &DeleteRules, dry_run: bool, now_ms: i64) -> RulesAnswer {
    let mut remaining: Vec<Rule> = current.to_vec();
    let mut deleted = 0usize;
    let mut errors = Vec::new();
    let by_id = delete.ids.iter().map(|id| (id, true));
    let by_value = delete.values.iter().map(|value| (value, false));
    for (key, is_id) in by_id.chain(by_value) {
        let found = remaining.iter().position(|r| {
            if is_id {
                r.id.to_string() == *key
            } else {
                r.value == *key
            }
        });
        match found {
            Some(at) => {
                remaining.remove(at);
                deleted += 1;
            }
            None => errors.push(json!({
                "errors": [{"parameters": {}, "message": "Rule does not exist"}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request"
            })),
        }
    }
    let not_deleted = errors.len();
    let mut body = Map::new();
    body.insert(
        "meta".into(),
        summary_meta(
            now_ms,
            json!({"deleted": deleted, "not_deleted": not_deleted}),
        ),
    );
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    RulesAnswer {
        status: 200,
        body: Value::Object(body),
        new_set: (!dry_run && deleted > 0).then_some(remaining),
    }
}

/// `GET /2/tweets/search/stream/rules`: every rule, or those whose ids are listed.
pub fn list(current: &[Rule], ids: Option<&[u64]>, now_ms: i64) -> Value {
    let chosen: Vec<Value> = current
        .iter()
        .filter(|r| ids.is_none_or(|ids| ids.contains(&r.id)))
        .map(Rule::to_json)
        .collect();
    let mut body = Map::new();
    let count = chosen.len();
    if !chosen.is_empty() {
        body.insert("data".into(), Value::Array(chosen));
    }
    body.insert(
        "meta".into(),
        json!({"sent": format_time(now_ms), "result_count": count}),
    );
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;
    const PRO: RuleLimits = RuleLimits {
        max_rules: 1_000,
        max_chars: 1_024,
    };

    fn new_rule(value: &str, tag: Option<&str>) -> NewRule {
        NewRule {
            value: value.into(),
            tag: tag.map(String::from),
        }
    }

    #[test]
    fn rule_values_are_judged_by_the_search_grammar_and_the_tier_length() {
        let long_rule = |n: usize| format!("covid {}", "x".repeat(n - 6));
        // (case, value, level, Ok or the start of the first detail).
        let cases: Vec<(&str, String, AccessLevel, Result<(), &str>)> = vec![
            ("a keyword", "covid".into(), AccessLevel::Pro, Ok(())),
            (
                "operators and groups",
                "(covid OR vacina) lang:pt -is:retweet has:links".into(),
                AccessLevel::Pro,
                Ok(()),
            ),
            (
                "longer than a search query, within the Pro rule limit",
                long_rule(1_024),
                AccessLevel::Pro,
                Ok(()),
            ),
            (
                "one past the Pro rule limit",
                long_rule(1_025),
                AccessLevel::Pro,
                Err("Rule length (1025) exceeds the maximum of 1024 characters"),
            ),
            (
                "within the Enterprise rule limit",
                long_rule(2_048),
                AccessLevel::Enterprise,
                Ok(()),
            ),
            (
                "one past the Enterprise rule limit",
                long_rule(2_049),
                AccessLevel::Enterprise,
                Err("Rule length (2049) exceeds the maximum of 2048 characters"),
            ),
            (
                "an operator search does not have",
                "covid sample:10".into(),
                AccessLevel::Pro,
                Err("Reference to invalid operator 'sample'"),
            ),
            (
                "only a negation",
                "-covid".into(),
                AccessLevel::Pro,
                Err(""),
            ),
            (
                "an advanced operator on Basic",
                "covid place_country:BR".into(),
                AccessLevel::Basic,
                Err(""),
            ),
            ("empty", "   ".into(), AccessLevel::Pro, Err("")),
            (
                "unbalanced parentheses",
                "(covid OR vacina".into(),
                AccessLevel::Pro,
                Err(""),
            ),
        ];
        for (case, value, level, expected) in cases {
            let got = validate(&value, RuleLimits::for_level(level), level);
            match (got, expected) {
                (Ok(_), Ok(())) => {}
                (Err(details), Err(start)) => {
                    assert_eq!(details.len(), 1, "{case}: {details:?}");
                    assert!(details[0].starts_with(start), "{case}: {details:?}");
                    assert!(!details[0].is_empty(), "{case}");
                }
                (got, expected) => panic!("{case}: got {got:?}, expected {expected:?}"),
            }
        }
        assert_eq!(RuleLimits::for_level(AccessLevel::Pro), PRO);
        assert_eq!(
            RuleLimits::for_level(AccessLevel::Enterprise).max_rules,
            25_000
        );
    }

    #[test]
    fn positions_are_reported_as_x_does() {
        let details = validate("covid OR", PRO, AccessLevel::Pro).expect_err("dangling OR");
        assert!(details[0].contains("(at position"), "{details:?}");
    }

    #[test]
    fn adding_creates_valid_rules_and_reports_the_summary() {
        let mut ids = RuleIds::default();
        let answer = add(
            &[],
            &[
                new_rule("covid lang:en", Some("en")),
                new_rule("vacina", None),
            ],
            PRO,
            AccessLevel::Pro,
            false,
            NOW,
            &mut ids,
        );
        assert_eq!(answer.status, 201);
        let data = answer.body["data"].as_array().expect("data");
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["value"], "covid lang:en");
        assert_eq!(data[0]["tag"], "en");
        assert!(data[1].get("tag").is_none(), "no tag key without a tag");
        let first: u64 = data[0]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        let second: u64 = data[1]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        assert!(
            second > first && first >= first_id_at(NOW),
            "snowflake ids, increasing"
        );
        assert_eq!(
            answer.body["meta"]["summary"],
            json!({"created": 2, "not_created": 0, "valid": 2, "invalid": 0})
        );
        assert_eq!(answer.body["meta"]["sent"], format_time(NOW));
        assert!(answer.body.get("errors").is_none());
        assert_eq!(answer.new_set.map(|s| s.len()), Some(2));
    }

    #[test]
    fn table_of_add_requests() {
        let mut ids = RuleIds::default();
        let existing = add(
            &[],
            &[new_rule("covid", Some("kept"))],
            PRO,
            AccessLevel::Pro,
            false,
            NOW,
            &mut ids,
        )
        .new_set
        .expect("created");
        let existing_id = existing[0].id.to_string();
        let two_rules = RuleLimits {
            max_rules: 2,
            max_chars: 1_024,
        };
        // (case, current, request, limits, dry run, status, summary, error titles, set size after).
        type Case<'a> = (
            &'a str,
            Vec<Rule>,
            Vec<NewRule>,
            RuleLimits,
            bool,
            u16,
            Value,
            Vec<&'a str>,
            Option<usize>,
        );
        let cases: Vec<Case> = vec![
            (
                "a duplicate of an existing rule is refused, the others created",
                existing.clone(),
                vec![
                    new_rule("covid", Some("other tag")),
                    new_rule("vacuna", None),
                ],
                PRO,
                false,
                201,
                json!({"created": 1, "not_created": 1, "valid": 1, "invalid": 1}),
                vec!["DuplicateRule"],
                Some(2),
            ),
            (
                "a duplicate within the request",
                vec![],
                vec![new_rule("vacuna", None), new_rule("vacuna", Some("again"))],
                PRO,
                false,
                201,
                json!({"created": 1, "not_created": 1, "valid": 1, "invalid": 1}),
                vec!["DuplicateRule"],
                Some(1),
            ),
            (
                "an invalid rule refuses the whole request",
                existing.clone(),
                vec![new_rule("vacuna", None), new_rule("covid OR", None)],
                PRO,
                false,
                200,
                json!({"created": 0, "not_created": 2, "valid": 1, "invalid": 1}),
                vec!["UnprocessableEntity"],
                None,
            ),
            (
                "past the rule cap nothing is created",
                existing.clone(),
                vec![new_rule("vacuna", None), new_rule("vacina", None)],
                two_rules,
                false,
                403,
                Value::Null,
                vec![],
                None,
            ),
            (
                "up to the rule cap",
                existing.clone(),
                vec![new_rule("vacuna", None)],
                two_rules,
                false,
                201,
                json!({"created": 1, "not_created": 0, "valid": 1, "invalid": 0}),
                vec![],
                Some(2),
            ),
            (
                "a dry run reports and changes nothing",
                existing.clone(),
                vec![new_rule("vacuna", None), new_rule("covid", None)],
                PRO,
                true,
                201,
                json!({"created": 1, "not_created": 1, "valid": 1, "invalid": 1}),
                vec!["DuplicateRule"],
                None,
            ),
        ];
        for (case, current, request, limits, dry_run, status, summary, titles, set_size) in cases {
            let answer = add(
                &current,
                &request,
                limits,
                AccessLevel::Pro,
                dry_run,
                NOW,
                &mut ids,
            );
            assert_eq!(answer.status, status, "{case}: {}", answer.body);
            if status == 403 {
                assert_eq!(answer.body["title"], "RulesCapExceeded", "{case}");
                assert_eq!(
                    answer.body["type"], "https://api.twitter.com/2/problems/rule-cap",
                    "{case}"
                );
            } else {
                assert_eq!(answer.body["meta"]["summary"], summary, "{case}");
            }
            let got_titles: Vec<&str> = answer.body["errors"]
                .as_array()
                .map(|errors| errors.iter().filter_map(|e| e["title"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(got_titles, titles, "{case}");
            assert_eq!(answer.new_set.map(|s| s.len()), set_size, "{case}");
        }
        // The duplicate's error names the rule that was kept, and the duplicate's value.
        let answer = add(
            &existing,
            &[new_rule("covid", None)],
            PRO,
            AccessLevel::Pro,
            false,
            NOW,
            &mut ids,
        );
        assert_eq!(answer.body["errors"][0]["id"], json!(existing_id));
        assert_eq!(answer.body["errors"][0]["value"], "covid");
        assert_eq!(
            answer.body["errors"][0]["type"],
            "https://api.twitter.com/2/problems/duplicate-rules"
        );
        assert!(answer.body.get("data").is_none());
    }

    #[test]
    fn deleting_by_ids_or_values_counts_what_was_not_there() {
        let mut ids = RuleIds::default();
        let set = add(
            &[],
            &[
                new_rule("covid", None),
                new_rule("vacina", None),
                new_rule("vacuna", None),
            ],
            PRO,
            AccessLevel::Pro,
            false,
            NOW,
            &mut ids,
        )
        .new_set
        .expect("created");
        let request = DeleteRules {
            ids: vec![set[0].id.to_string(), "42".into()],
            values: vec!["vacina".into(), "gripe".into()],
        };
        let answer = delete(&set, &request, false, NOW);
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body["meta"]["summary"],
            json!({"deleted": 2, "not_deleted": 2})
        );
        let errors = answer.body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0]["errors"][0]["message"], "Rule does not exist");
        let left = answer.new_set.expect("changed");
        assert_eq!(
            left.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(),
            ["vacuna"]
        );
        let dry = delete(&set, &request, true, NOW);
        assert_eq!(dry.body["meta"]["summary"]["deleted"], 2);
        assert!(dry.new_set.is_none(), "a dry run changes nothing");
    }

    #[test]
    fn listing_all_or_some_rules() {
        let mut ids = RuleIds::default();
        let set = add(
            &[],
            &[new_rule("covid", Some("a")), new_rule("vacina", None)],
            PRO,
            AccessLevel::Pro,
            false,
            NOW,
            &mut ids,
        )
        .new_set
        .expect("created");
        let all = list(&set, None, NOW);
        assert_eq!(all["meta"]["result_count"], 2);
        assert_eq!(all["data"][0]["tag"], "a");
        let some = list(&set, Some(&[set[1].id]), NOW);
        assert_eq!(some["meta"]["result_count"], 1);
        assert_eq!(some["data"][0]["value"], "vacina");
        let none = list(&[], None, NOW);
        assert!(none.get("data").is_none(), "no data key when empty: {none}");
        assert_eq!(none["meta"]["result_count"], 0);
    }
}
