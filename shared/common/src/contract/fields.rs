//! The X API fields and expansions the Avro post record is built from. The extractor always
//! requests them in addition to the pipeline's own lists, and the operator's CRD defaults start
//! from them, so a post never lacks a field the record needs.

/// `tweet.fields` the record needs.
pub const REQUIRED_TWEET_FIELDS: &[&str] = &[
    "created_at",
    "author_id",
    "lang",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "entities",
    "public_metrics",
    "geo",
    "possibly_sensitive",
    "context_annotations",
];

/// `expansions` the record needs (authors, referenced posts, places, mentioned users).
pub const REQUIRED_EXPANSIONS: &[&str] = &[
    "author_id",
    "referenced_tweets.id",
    "geo.place_id",
    "entities.mentions.username",
];

/// `user.fields` the record needs.
pub const REQUIRED_USER_FIELDS: &[&str] = &["created_at", "location", "public_metrics", "verified"];

/// `place.fields` the record needs.
pub const REQUIRED_PLACE_FIELDS: &[&str] = &["country_code", "name", "place_type"];

/// The API parameter value: `required` first, then the configured names not already in it.
pub fn with_required(configured: &[String], required: &[&str]) -> String {
    let mut all: Vec<&str> = required.to_vec();
    for name in configured {
        if !all.contains(&name.as_str()) {
            all.push(name);
        }
    }
    all.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_names_come_first_and_configured_ones_are_added_once() {
        let own = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rows: [(&[&str], &[&str], &str); 4] = [
            (&[], &["a", "b"], "a,b"),
            (&["c"], &["a", "b"], "a,b,c"),
            (&["b", "c", "c"], &["a", "b"], "a,b,c"),
            (&["c"], &[], "c"),
        ];
        for (configured, required, expected) in rows {
            assert_eq!(with_required(&own(configured), required), expected);
        }
    }

    #[test]
    fn no_required_list_repeats_a_name() {
        for list in [
            REQUIRED_TWEET_FIELDS,
            REQUIRED_EXPANSIONS,
            REQUIRED_USER_FIELDS,
            REQUIRED_PLACE_FIELDS,
        ] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "{list:?}");
        }
    }
}
