//! Validation of `GET /2/tweets/search/recent` parameters, with the real API's 400 messages.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::query::{self, Expr};

/// The parameters the real endpoint accepts; anything else is a 400.
pub const ACCEPTED: &[&str] = &[
    "query",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "max_results",
    "next_token",
    "pagination_token",
    "sort_order",
    "expansions",
    "tweet.fields",
    "media.fields",
    "poll.fields",
    "place.fields",
    "user.fields",
];

// The accepted names are X facts shared with the operator's admission checks.
pub use tweetpipe_xquery::fields::{
    EXPANSIONS, MEDIA_FIELDS, PLACE_FIELDS, POLL_FIELDS, TWEET_FIELDS, USER_FIELDS,
};

/// Recent search covers the last 7 days.
pub const WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// One entry of a 400's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub parameter: String,
    pub values: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct SearchParams {
    pub query: Expr,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub since_id: Option<u64>,
    pub until_id: Option<u64>,
    pub max_results: usize,
    /// Exclusive upper post index, from a pagination token.
    pub cursor: Option<u64>,
    pub expansions: BTreeSet<String>,
    pub tweet_fields: BTreeSet<String>,
    pub user_fields: BTreeSet<String>,
    pub place_fields: BTreeSet<String>,
}

fn format_minute(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Opaque, stable pagination token for an exclusive upper post index. The same token always
/// replays the same page, as on X; tokens from another seed are refused.
pub fn encode_token(cursor: u64, key: u64) -> String {
    let check = (cursor ^ key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    format!("b26v89c19zqg8o3f{cursor:x}z{check:x}")
}

pub fn decode_token(token: &str, key: u64) -> Option<u64> {
    let rest = token.strip_prefix("b26v89c19zqg8o3f")?;
    let (cursor, _) = rest.split_once('z')?;
    let cursor = u64::from_str_radix(cursor, 16).ok()?;
    (encode_token(cursor, key) == token).then_some(cursor)
}

/// Validates the raw query pairs. All problems are reported at once, as the real API does.
pub fn parse(
    pairs: &[(String, String)],
    now_ms: i64,
    token_key: u64,
) -> Result<SearchParams, Vec<ParamError>> {
    let mut errors = Vec::new();
    let mut values: HashMap<&str, &str> = HashMap::new();
    for (name, value) in pairs {
        if !ACCEPTED.contains(&name.as_str()) {
            errors.push(ParamError {
                parameter: name.clone(),
                values: vec![value.clone()],
                message: format!(
                    "The query parameter [{name}] is not one of [{}]",
                    ACCEPTED.join(",")
                ),
            });
        } else if values.insert(name, value).is_some() {
            errors.push(ParamError {
                parameter: name.clone(),
                values: vec![value.clone()],
                message: format!(
                    "Duplicate parameters are not allowed: the `{name}` query parameter"
                ),
            });
        }
    }
    let query = match values.get("query") {
        None => {
            errors.push(ParamError {
                parameter: "query".into(),
                values: vec![],
                message: "The `query` query parameter can not be empty".into(),
            });
            None
        }
        Some(q) => match query::parse(q) {
            Ok(expr) => Some(expr),
            Err(e) => {
                errors.push(ParamError {
                    parameter: "query".into(),
                    values: vec![(*q).into()],
                    message: e.message,
                });
                None
            }
        },
    };
    let mut fail_later = Vec::new();
    let mut check = |parameter: &str, value: &str, message: String| {
        fail_later.push(ParamError {
            parameter: parameter.into(),
            values: vec![value.into()],
            message,
        });
    };

    let max_results = match values.get("max_results") {
        None => 10,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (10..=100).contains(&n) => n as usize,
            Ok(_) => {
                check(
                    "max_results",
                    v,
                    format!(
                        "The `max_results` query parameter value [{v}] is not between 10 and 100"
                    ),
                );
                10
            }
            Err(_) => {
                check(
                    "max_results",
                    v,
                    format!("The `max_results` query parameter value [{v}] is not a number"),
                );
                10
            }
        },
    };
    let mut id = |name: &str| {
        let v = values.get(name)?;
        let ok = !v.is_empty() && v.len() <= 19 && v.chars().all(|c| c.is_ascii_digit());
        match v.parse::<u64>() {
            Ok(n) if ok => Some(n),
            _ => {
                check(
                    name,
                    v,
                    format!(
                        "The `{name}` query parameter value [{v}] does not match ^[0-9]{{1,19}}$"
                    ),
                );
                None
            }
        }
    };
    let since_id = id("since_id");
    let until_id = id("until_id");
    let mut time = |name: &str| {
        let v = values.get(name)?;
        match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => {
                check(
                    name,
                    v,
                    format!(
                        "The `{name}` query parameter value [{v}] is not a valid RFC 3339 date-time (YYYY-MM-DDTHH:mm:ssZ)"
                    ),
                );
                None
            }
        }
    };
    let start_ms = time("start_time");
    let end_ms = time("end_time");
    if let (Some(start), Some(v)) = (start_ms, values.get("start_time"))
        && start < now_ms - WINDOW_MS
    {
        check(
            "start_time",
            v,
            format!(
                "Invalid 'start_time':'{v}'. 'start_time' must be on or after {}",
                format_minute(now_ms - WINDOW_MS)
            ),
        );
    }
    if let (Some(end), Some(v)) = (end_ms, values.get("end_time"))
        && end > now_ms - 10_000
    {
        check(
            "end_time",
            v,
            format!(
                "Invalid 'end_time':'{v}'. 'end_time' must be a minimum of 10 seconds prior to the request time."
            ),
        );
    }
    if let (Some(start), Some(end), Some(v)) = (start_ms, end_ms, values.get("start_time"))
        && start >= end
    {
        check(
            "start_time",
            v,
            format!("Invalid 'start_time':'{v}'. 'start_time' must be before 'end_time'."),
        );
    }
    if let Some(v) = values.get("sort_order")
        && !matches!(*v, "recency" | "relevancy")
    {
        check(
            "sort_order",
            v,
            format!(
                "The `sort_order` query parameter value [{v}] is not one of [recency,relevancy]"
            ),
        );
    }
    let token_name = if values.contains_key("next_token") {
        "next_token"
    } else {
        "pagination_token"
    };
    let cursor = match values.get(token_name) {
        None => None,
        Some(t) => match decode_token(t, token_key) {
            Some(c) => Some(c),
            None => {
                check(
                    token_name,
                    t,
                    format!("The `{token_name}` query parameter value [{t}] is not valid"),
                );
                None
            }
        },
    };
    let mut list = |name: &str, allowed: &[&str]| -> BTreeSet<String> {
        let Some(v) = values.get(name) else {
            return BTreeSet::new();
        };
        let mut set = BTreeSet::new();
        for item in v.split(',') {
            if allowed.contains(&item) {
                set.insert(item.to_string());
            } else {
                check(
                    name,
                    item,
                    format!(
                        "The `{name}` query parameter value [{item}] is not one of [{}]",
                        allowed.join(",")
                    ),
                );
            }
        }
        set
    };
    let expansions = list("expansions", EXPANSIONS);
    let tweet_fields = list("tweet.fields", TWEET_FIELDS);
    let user_fields = list("user.fields", USER_FIELDS);
    let place_fields = list("place.fields", PLACE_FIELDS);
    list("media.fields", MEDIA_FIELDS);
    list("poll.fields", POLL_FIELDS);
    errors.extend(fail_later);
    match query {
        Some(query) if errors.is_empty() => Ok(SearchParams {
            query,
            start_ms,
            end_ms,
            since_id,
            until_id,
            max_results,
            cursor,
            expansions,
            tweet_fields,
            user_fields,
            place_fields,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_accepted_values() {
        let p = parse(&pairs(&[("query", "covid lang:en")]), NOW, 1).expect("valid");
        assert_eq!(p.max_results, 10);
        let p = parse(
            &pairs(&[
                ("query", "covid"),
                ("max_results", "100"),
                ("since_id", "1798000000000000000"),
                (
                    "expansions",
                    "author_id,referenced_tweets.id,entities.mentions.username,geo.place_id",
                ),
                ("tweet.fields", "created_at,lang,public_metrics,entities"),
                ("user.fields", "created_at,location,public_metrics,verified"),
                ("place.fields", "country_code,name,place_type"),
                ("sort_order", "recency"),
                ("start_time", "2025-11-24T00:00:00Z"),
            ]),
            NOW,
            1,
        )
        .expect("valid");
        assert_eq!(p.max_results, 100);
        assert_eq!(p.since_id, Some(1_798_000_000_000_000_000));
        assert!(p.expansions.contains("geo.place_id"));
    }

    #[test]
    fn reports_every_problem() {
        let errs = parse(
            &pairs(&[
                ("query", "covid"),
                ("max_results", "5"),
                ("foo", "bar"),
                ("since_id", "abc"),
                ("tweet.fields", "lang,color"),
                ("end_time", "2025-11-24T16:00:00Z"),
            ]),
            NOW,
            1,
        )
        .expect_err("invalid");
        let messages: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(errs.len(), 5, "{messages:#?}");
        assert!(
            messages
                .iter()
                .any(|m| m.contains("[foo] is not one of [query,start_time"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("[5] is not between 10 and 100"))
        );
        assert!(messages.iter().any(|m| m.contains("[abc] does not match")));
        assert!(messages.iter().any(|m| m.contains("[color] is not one of")));
        assert!(messages.iter().any(|m| m.contains("minimum of 10 seconds")));
        let missing = parse(&pairs(&[]), NOW, 1).expect_err("no query");
        assert_eq!(missing[0].parameter, "query");
        let old = parse(
            &pairs(&[("query", "covid"), ("start_time", "2025-01-01T00:00:00Z")]),
            NOW,
            1,
        )
        .expect_err("too old");
        assert!(old[0].message.contains("must be on or after"));
    }

    #[test]
    fn pagination_tokens_replay_and_reject_forgeries() {
        let t = encode_token(12345, 9);
        assert_eq!(decode_token(&t, 9), Some(12345));
        assert_eq!(decode_token(&t, 10), None);
        let p = parse(
            &pairs(&[("query", "covid"), ("pagination_token", &t)]),
            NOW,
            9,
        )
        .expect("valid");
        assert_eq!(p.cursor, Some(12345));
        let errs = parse(
            &pairs(&[("query", "covid"), ("next_token", "nope")]),
            NOW,
            9,
        )
        .expect_err("bad");
        assert!(
            errs[0]
                .message
                .contains("`next_token` query parameter value [nope] is not valid")
        );
    }
}
