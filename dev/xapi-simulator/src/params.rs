//! Validation of `GET /2/tweets/search/recent` parameters, with the real API's 400 messages.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::corpus::TWITTER_EPOCH_MS;
use crate::query::{self, AccessLevel, Expr};

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

/// Bits of a snowflake id below its millisecond timestamp.
const SNOWFLAKE_TIME_SHIFT: u32 = 22;

/// One entry of a 400's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameters the problem is about, with their values (X's `parameters` object;
    /// usually one, several when the problem is a combination).
    pub parameters: Vec<(String, Vec<String>)>,
    pub message: String,
}

impl ParamError {
    fn one(parameter: &str, values: Vec<String>, message: String) -> Self {
        ParamError {
            parameters: vec![(parameter.to_string(), values)],
            message,
        }
    }

    /// The names of the parameters the problem is about.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parameters.iter().map(|(name, _)| name.as_str())
    }
}

/// Creation time (epoch ms) of a post id: X ids are snowflakes of their creation time.
pub fn snowflake_ms(id: u64) -> i64 {
    (id >> SNOWFLAKE_TIME_SHIFT) as i64 + TWITTER_EPOCH_MS
}

/// The smallest post id created at `ms` (its sequence bits zero).
pub fn first_id_at(ms: i64) -> u64 {
    ((ms - TWITTER_EPOCH_MS).max(0) as u64) << SNOWFLAKE_TIME_SHIFT
}

#[derive(Debug, Clone)]
pub struct SearchParams {
    pub query: Expr,
    /// The `query` parameter as sent (the ledger's key).
    pub query_text: String,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub since_id: Option<u64>,
    pub until_id: Option<u64>,
    pub max_results: usize,
    /// Exclusive upper post index, from a pagination token.
    pub cursor: Option<u64>,
    pub fields: Fields,
}

/// What a response carries beyond the defaults: the `expansions` and `*.fields` parameters,
/// shared by search and the filtered stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub expansions: BTreeSet<String>,
    pub tweet_fields: BTreeSet<String>,
    pub user_fields: BTreeSet<String>,
    pub place_fields: BTreeSet<String>,
}

/// Validates the `expansions` and `*.fields` parameters against X's value lists, adding a
/// problem per unknown value to `errors`.
pub(crate) fn parse_fields(values: &HashMap<&str, &str>, errors: &mut Vec<ParamError>) -> Fields {
    let mut list = |name: &str, allowed: &[&str]| -> BTreeSet<String> {
        let Some(v) = values.get(name) else {
            return BTreeSet::new();
        };
        let mut set = BTreeSet::new();
        for item in v.split(',') {
            if allowed.contains(&item) {
                set.insert(item.to_string());
            } else {
                errors.push(ParamError::one(
                    name,
                    vec![item.into()],
                    format!(
                        "The `{name}` query parameter value [{item}] is not one of [{}]",
                        allowed.join(",")
                    ),
                ));
            }
        }
        set
    };
    let fields = Fields {
        expansions: list("expansions", EXPANSIONS),
        tweet_fields: list("tweet.fields", TWEET_FIELDS),
        user_fields: list("user.fields", USER_FIELDS),
        place_fields: list("place.fields", PLACE_FIELDS),
    };
    list("media.fields", MEDIA_FIELDS);
    list("poll.fields", POLL_FIELDS);
    fields
}

/// Collects the query pairs by name, refusing names outside `accepted` and repeated names
/// with X's messages.
pub(crate) fn collect_pairs<'a>(
    pairs: &'a [(String, String)],
    accepted: &[&str],
    errors: &mut Vec<ParamError>,
) -> HashMap<&'a str, &'a str> {
    let mut values: HashMap<&str, &str> = HashMap::new();
    for (name, value) in pairs {
        if !accepted.contains(&name.as_str()) {
            errors.push(ParamError::one(
                name,
                vec![value.clone()],
                format!(
                    "The query parameter [{name}] is not one of [{}]",
                    accepted.join(",")
                ),
            ));
        } else if values.insert(name, value).is_some() {
            errors.push(ParamError::one(
                name,
                vec![value.clone()],
                format!("Duplicate parameters are not allowed: the `{name}` query parameter"),
            ));
        }
    }
    values
}

fn format_second(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-08-19T08:41Z`: the minute precision X uses in the stale-id message.
fn format_minute(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%MZ")
        .to_string()
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

/// X's answer to a `since_id`/`until_id` created before the 7-day window: the cut-off to the
/// minute and the smallest id it would accept (the first id of the cut-off millisecond), e.g.
/// `'since_id' must be a tweet id created after 2026-08-19T08:41Z. Please use a 'since_id' that
/// is larger than 2089996193672200192`.
fn stale_id_message(name: &str, window_start_ms: i64) -> String {
    format!(
        "'{name}' must be a tweet id created after {}. Please use a '{name}' that is larger than {}",
        format_minute(window_start_ms),
        first_id_at(window_start_ms)
    )
}

/// X refuses id bounds combined with time bounds, naming every parameter involved.
fn ids_with_times(values: &HashMap<&str, &str>) -> Option<ParamError> {
    let present = |names: [&str; 2]| -> Vec<(String, Vec<String>)> {
        names
            .iter()
            .filter_map(|n| {
                values
                    .get(n)
                    .map(|v| ((*n).to_string(), vec![(*v).to_string()]))
            })
            .collect()
    };
    let ids = present(["since_id", "until_id"]);
    let times = present(["start_time", "end_time"]);
    (!ids.is_empty() && !times.is_empty()).then(|| ParamError {
        parameters: ids.into_iter().chain(times).collect(),
        message: "Invalid use of 'since_id' or 'until_id' in conjunction with 'start_time' or 'end_time'.".into(),
    })
}

/// Validates the raw query pairs. All problems are reported at once, as the real API does.
pub fn parse(
    pairs: &[(String, String)],
    now_ms: i64,
    token_key: u64,
    access_level: AccessLevel,
) -> Result<SearchParams, Vec<ParamError>> {
    let mut errors = Vec::new();
    let values = collect_pairs(pairs, ACCEPTED, &mut errors);
    let query = match values.get("query") {
        None => {
            errors.push(ParamError::one(
                "query",
                vec![],
                "The `query` query parameter can not be empty".into(),
            ));
            None
        }
        Some(q) => match query::parse_for(q, access_level) {
            Ok(expr) => Some(expr),
            Err(e) => {
                errors.push(ParamError::one("query", vec![(*q).into()], e.message));
                None
            }
        },
    };
    let mut fail_later = Vec::new();
    let mut check = |parameter: &str, value: &str, message: String| {
        fail_later.push(ParamError::one(parameter, vec![value.into()], message));
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
                format_second(now_ms - WINDOW_MS)
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
    let window_start_ms = now_ms - WINDOW_MS;
    for (name, id) in [("since_id", since_id), ("until_id", until_id)] {
        if let (Some(id), Some(v)) = (id, values.get(name))
            && snowflake_ms(id) < window_start_ms
        {
            check(name, v, stale_id_message(name, window_start_ms));
        }
    }
    let combination = ids_with_times(&values);
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
    let fields = parse_fields(&values, &mut fail_later);
    errors.extend(fail_later);
    errors.extend(combination);
    match query {
        Some(query) if errors.is_empty() => Ok(SearchParams {
            query,
            query_text: values
                .get("query")
                .map(|q| q.to_string())
                .unwrap_or_default(),
            start_ms,
            end_ms,
            since_id,
            until_id,
            max_results,
            cursor,
            fields,
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
    fn the_access_level_sets_the_query_limit_and_operators() {
        let long = format!("covid {}", "x".repeat(600));
        let judge = |query: &str, level| parse(&pairs(&[("query", query)]), NOW, 1, level);
        assert!(judge(&long, AccessLevel::Enterprise).is_ok());
        let errs = judge(&long, AccessLevel::Pro).expect_err("606 > 512");
        assert!(errs[0].message.contains("(606) exceeds the maximum of 512"));
        assert!(judge("covid place_country:BR", AccessLevel::Pro).is_ok());
        let errs = judge("covid place_country:BR", AccessLevel::Basic).expect_err("advanced");
        assert!(errs[0].message.contains("not available in current product"));
    }

    #[test]
    fn defaults_and_accepted_values() {
        let p = parse(
            &pairs(&[("query", "covid lang:en")]),
            NOW,
            1,
            AccessLevel::default(),
        )
        .expect("valid");
        assert_eq!(p.max_results, 10);
        let p = parse(
            &pairs(&[
                ("query", "covid"),
                ("max_results", "100"),
                ("since_id", "1992000000000000000"),
                (
                    "expansions",
                    "author_id,referenced_tweets.id,entities.mentions.username,geo.place_id",
                ),
                ("tweet.fields", "created_at,lang,public_metrics,entities"),
                ("user.fields", "created_at,location,public_metrics,verified"),
                ("place.fields", "country_code,name,place_type"),
                ("sort_order", "recency"),
            ]),
            NOW,
            1,
            AccessLevel::default(),
        )
        .expect("valid");
        assert_eq!(p.max_results, 100);
        assert_eq!(p.since_id, Some(1_992_000_000_000_000_000));
        assert_eq!(p.query_text, "covid");
        assert!(p.fields.expansions.contains("geo.place_id"));
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
            AccessLevel::default(),
        )
        .expect_err("invalid");
        let messages: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(errs.len(), 6, "{messages:#?}");
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
        assert!(messages.iter().any(|m| m.contains("in conjunction with")));
        let missing = parse(&pairs(&[]), NOW, 1, AccessLevel::default()).expect_err("no query");
        assert_eq!(missing[0].names().collect::<Vec<_>>(), ["query"]);
        let old = parse(
            &pairs(&[("query", "covid"), ("start_time", "2025-01-01T00:00:00Z")]),
            NOW,
            1,
            AccessLevel::default(),
        )
        .expect_err("too old");
        assert!(old[0].message.contains("must be on or after"));
    }

    const DAY: i64 = 24 * 3600 * 1000;

    /// The id of a post created `ago_ms` before `NOW`.
    fn id_aged(ago_ms: i64) -> String {
        (first_id_at(NOW - ago_ms) | 12345).to_string()
    }

    #[test]
    fn snowflake_times_round_trip() {
        // A real id: 2087867603335160198 was created at 2026-08-13T11:43:21.996Z.
        assert_eq!(snowflake_ms(2_087_867_603_335_160_198), 1_786_621_401_996);
        assert_eq!(snowflake_ms(first_id_at(NOW)), NOW);
        assert_eq!(snowflake_ms(first_id_at(NOW) | 0x3F_FFFF), NOW);
        assert_eq!(first_id_at(0), 0, "before the epoch");
    }

    #[test]
    fn window_and_combination_rules() {
        let cutoff = first_id_at(NOW - WINDOW_MS).to_string();
        let window_start = format_minute(NOW - WINDOW_MS);
        let stale_since = format!(
            "'since_id' must be a tweet id created after {window_start}. Please use a 'since_id' that is larger than {cutoff}"
        );
        let stale_until = stale_since.replace("since_id", "until_id");
        let combination = "Invalid use of 'since_id' or 'until_id' in conjunction with 'start_time' or 'end_time'.";
        let old = id_aged(WINDOW_MS + 60_000);
        let fresh = id_aged(WINDOW_MS - 60_000);
        let recent = id_aged(DAY);
        let start_ok = format_second(NOW - DAY);
        let end_ok = format_second(NOW - 60_000);
        // (case, parameters, expected errors as (parameter names, message)).
        type Pairs<'a> = Vec<(&'a str, &'a str)>;
        type Expected<'a> = Vec<(Vec<&'a str>, &'a str)>;
        let cases: Vec<(&str, Pairs, Expected)> = vec![
            (
                "since_id inside the window",
                vec![("since_id", &fresh)],
                vec![],
            ),
            ("since_id one day old", vec![("since_id", &recent)], vec![]),
            (
                "since_id at the cut-off",
                vec![("since_id", &cutoff)],
                vec![],
            ),
            (
                "since_id older than 7 days",
                vec![("since_id", &old)],
                vec![(vec!["since_id"], &stale_since)],
            ),
            (
                "until_id older than 7 days",
                vec![("until_id", &old)],
                vec![(vec!["until_id"], &stale_until)],
            ),
            (
                "both ids stale",
                vec![("since_id", &old), ("until_id", &old)],
                vec![
                    (vec!["since_id"], &stale_since),
                    (vec!["until_id"], &stale_until),
                ],
            ),
            (
                "since_id of the epoch",
                vec![("since_id", "1")],
                vec![(vec!["since_id"], &stale_since)],
            ),
            (
                "since_id with end_time",
                vec![("since_id", &recent), ("end_time", &end_ok)],
                vec![(vec!["since_id", "end_time"], combination)],
            ),
            (
                "until_id with start_time",
                vec![("until_id", &recent), ("start_time", &start_ok)],
                vec![(vec!["until_id", "start_time"], combination)],
            ),
            (
                "all four bounds: one problem naming them all",
                vec![
                    ("since_id", &recent),
                    ("until_id", &recent),
                    ("start_time", &start_ok),
                    ("end_time", &end_ok),
                ],
                vec![(
                    vec!["since_id", "until_id", "start_time", "end_time"],
                    combination,
                )],
            ),
            (
                "times alone",
                vec![("start_time", &start_ok), ("end_time", &end_ok)],
                vec![],
            ),
            (
                "start_time older than 7 days",
                vec![("start_time", "2025-11-10T00:00:00Z")],
                vec![(
                    vec!["start_time"],
                    "Invalid 'start_time':'2025-11-10T00:00:00Z'. 'start_time' must be on or after 2025-11-17T16:00:00Z",
                )],
            ),
            (
                "end_time 5 s before the request",
                vec![("end_time", "2025-11-24T15:59:55Z")],
                vec![(
                    vec!["end_time"],
                    "Invalid 'end_time':'2025-11-24T15:59:55Z'. 'end_time' must be a minimum of 10 seconds prior to the request time.",
                )],
            ),
            (
                "start_time after end_time",
                vec![
                    ("start_time", "2025-11-24T12:00:00Z"),
                    ("end_time", "2025-11-24T11:00:00Z"),
                ],
                vec![(
                    vec!["start_time"],
                    "Invalid 'start_time':'2025-11-24T12:00:00Z'. 'start_time' must be before 'end_time'.",
                )],
            ),
            (
                "an unknown parameter",
                vec![("since", "2025-11-24")],
                vec![(
                    vec!["since"],
                    "The query parameter [since] is not one of [query,start_time,end_time,since_id,until_id,max_results,next_token,pagination_token,sort_order,expansions,tweet.fields,media.fields,poll.fields,place.fields,user.fields]",
                )],
            ),
        ];
        for (case, extra, expected) in cases {
            let mut list = vec![("query", "covid")];
            list.extend(extra);
            let got: Vec<(Vec<String>, String)> =
                match parse(&pairs(&list), NOW, 1, AccessLevel::default()) {
                    Ok(_) => vec![],
                    Err(errors) => errors
                        .iter()
                        .map(|e| (e.names().map(String::from).collect(), e.message.clone()))
                        .collect(),
                };
            let expected: Vec<(Vec<String>, String)> = expected
                .into_iter()
                .map(|(names, m)| (names.into_iter().map(String::from).collect(), m.into()))
                .collect();
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn stale_id_message_matches_x_to_the_minute() {
        // X's answer seen by clients: window start 2026-08-19T08:41:37.480Z.
        let window_start = snowflake_ms(2_089_996_193_672_200_192);
        assert_eq!(
            stale_id_message("since_id", window_start),
            "'since_id' must be a tweet id created after 2026-08-19T08:41Z. Please use a 'since_id' that is larger than 2089996193672200192"
        );
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
            AccessLevel::default(),
        )
        .expect("valid");
        assert_eq!(p.cursor, Some(12345));
        let errs = parse(
            &pairs(&[("query", "covid"), ("next_token", "nope")]),
            NOW,
            9,
            AccessLevel::default(),
        )
        .expect_err("bad");
        assert!(
            errs[0]
                .message
                .contains("`next_token` query parameter value [nope] is not valid")
        );
    }
}
