//! The pure part: one decoded [`Post`] becomes the rows stored for it. No I/O here.

pub mod fold;
pub mod sentiment;
pub mod text;

use chrono::{DateTime, NaiveDateTime};
use tweetpipe_common::post::{Hashtag, Post, ReferenceKind, User};

use crate::rows::{
    ContextAnnotationRow, HashtagRow, MentionRow, PostKind, PostRow, ReferenceRow, StoredPost,
    UrlRow, UserRow,
};

/// Why a post cannot be stored. Each becomes a dead letter with this text as its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error("{field} {value:?} is not a decimal id that fits in 64 unsigned bits")]
    BadId { field: &'static str, value: String },
    #[error("{field} {millis} ms is outside the range MySQL DATETIME can hold")]
    BadTime { field: &'static str, millis: i64 },
    #[error("query_name is empty")]
    NoQuery,
    #[error(transparent)]
    TextTooLong(#[from] text::TextTooLong),
}

// Column limits from the migrations, in characters.
const LANG_MAX: usize = 16;
const QUERY_MAX: usize = 128;
const PIPELINE_MAX: usize = 253;
const NAME_MAX: usize = 255;
const USERNAME_MAX: usize = 64;
const TAG_MAX: usize = 280;
const URL_MAX: usize = 255;
const EXPANDED_URL_MAX: usize = 2048;
const PLACE_ID_MAX: usize = 64;
/// TEXT holds 65,535 bytes; 16,000 characters of up to 4 bytes stay inside it.
const TEXT_MAX: usize = 16_000;

/// Turns a decoded post into the rows to store.
pub fn transform(post: &Post) -> Result<StoredPost, TransformError> {
    let id = parse_id("id", &post.id)?;
    let author_id = parse_id("author_id", &post.author_id)?;
    let created_at = datetime("created_at", post.created_at)?;
    let collected_at = datetime("collected_at", post.collected_at)?;
    let query_name = text::truncate_chars(post.query_name.trim(), QUERY_MAX);
    if query_name.is_empty() {
        return Err(TransformError::NoQuery);
    }
    let lang = language(post.lang.as_deref());
    let text = text::truncate_chars(&text::normalise(&post.text, &post.urls)?, TEXT_MAX);
    let sentiment = sentiment::score(&text, &lang);
    let metrics = post.metrics.as_ref();
    let place = post.place.as_ref();

    let row = PostRow {
        id,
        author_id,
        created_at,
        kind: classify(post),
        sentiment,
        topic: fold::topic(&query_name),
        query_name,
        pipeline: text::truncate_chars(&post.pipeline, PIPELINE_MAX),
        conversation_id: optional_id("conversation_id", post.conversation_id.as_deref())?,
        in_reply_to_user_id: optional_id(
            "in_reply_to_user_id",
            post.in_reply_to_user_id.as_deref(),
        )?,
        retweet_count: metrics.map(|m| non_negative(m.retweet_count)),
        reply_count: metrics.map(|m| non_negative(m.reply_count)),
        like_count: metrics.map(|m| non_negative(m.like_count)),
        quote_count: metrics.map(|m| non_negative(m.quote_count)),
        impression_count: metrics.and_then(|m| m.impression_count).map(non_negative),
        place_id: place.map(|p| text::truncate_chars(&p.id, PLACE_ID_MAX)),
        place_name: place.map(|p| text::truncate_chars(&p.full_name, NAME_MAX)),
        country_code: place
            .and_then(|p| p.country_code.as_deref())
            .filter(|c| c.len() == 2 && c.is_ascii())
            .map(str::to_ascii_uppercase),
        possibly_sensitive: post.possibly_sensitive,
        collected_at,
        lang,
        text,
    };

    let author = match &post.author {
        Some(user) if user.id == post.author_id => Some(user_row(user, author_id, collected_at)?),
        _ => None,
    };

    let hashtags = tag_rows(&post.hashtags, &['#', '＃']);
    let cashtags = tag_rows(&post.cashtags, &['$', '＄']);

    let mut context_annotations: Vec<ContextAnnotationRow> =
        Vec::with_capacity(post.context_annotations.len());
    for annotation in &post.context_annotations {
        // X's ids are decimal; an annotation without usable ids is dropped, not the post.
        let (Ok(domain_id), Ok(entity_id)) = (
            annotation.domain_id.trim().parse::<u64>(),
            annotation.entity_id.trim().parse::<u64>(),
        ) else {
            continue;
        };
        if context_annotations
            .iter()
            .any(|c| c.domain_id == domain_id && c.entity_id == entity_id)
        {
            continue;
        }
        context_annotations.push(ContextAnnotationRow {
            domain_id,
            entity_id,
            domain_name: text::truncate_chars(annotation.domain_name.trim(), NAME_MAX),
            entity_name: text::truncate_chars(annotation.entity_name.trim(), NAME_MAX),
        });
    }

    let mut mentions: Vec<MentionRow> = Vec::with_capacity(post.mentions.len());
    for mention in &post.mentions {
        let username = text::truncate_chars(&fold::username(&mention.username), USERNAME_MAX);
        if username.is_empty() || mentions.iter().any(|m| m.username == username) {
            continue;
        }
        mentions.push(MentionRow {
            username,
            // An unparsable mention id is not worth losing the post over.
            user_id: mention.id.as_deref().and_then(|v| v.parse().ok()),
        });
    }

    let urls = post
        .urls
        .iter()
        .enumerate()
        .take(usize::from(u16::MAX))
        .map(|(position, url)| {
            let target = url.expanded_url.as_deref().unwrap_or(&url.url);
            UrlRow {
                position: u16::try_from(position).unwrap_or(u16::MAX),
                url: text::truncate_chars(&url.url, URL_MAX),
                expanded_url: url
                    .expanded_url
                    .as_deref()
                    .map(|u| text::truncate_chars(u, EXPANDED_URL_MAX)),
                display_url: url
                    .display_url
                    .as_deref()
                    .map(|u| text::truncate_chars(u, URL_MAX)),
                domain: text::domain_of(target).map(|d| text::truncate_chars(&d, NAME_MAX)),
            }
        })
        .collect();

    let mut references: Vec<ReferenceRow> = Vec::with_capacity(post.referenced.len());
    for reference in &post.referenced {
        let row = ReferenceRow {
            kind: reference.kind,
            referenced_id: parse_id("referenced.id", &reference.id)?,
            referenced_author_id: reference.author_id.as_deref().and_then(|v| v.parse().ok()),
        };
        if !references
            .iter()
            .any(|r| r.kind == row.kind && r.referenced_id == row.referenced_id)
        {
            references.push(row);
        }
    }

    Ok(StoredPost {
        post: row,
        author,
        hashtags,
        mentions,
        urls,
        references,
        cashtags,
        context_annotations,
    })
}

/// Hashtag or cashtag rows: folded, the first spelling of each folded tag kept as its display
/// (without the leading `sigils`), empty tags dropped.
fn tag_rows(tags: &[Hashtag], sigils: &[char]) -> Vec<HashtagRow> {
    let mut rows: Vec<HashtagRow> = Vec::with_capacity(tags.len());
    for hashtag in tags {
        let bare = hashtag.tag.trim().trim_start_matches(sigils);
        let tag = text::truncate_chars(&fold::hashtag(bare), TAG_MAX);
        if tag.is_empty() || rows.iter().any(|h| h.tag == tag) {
            continue;
        }
        rows.push(HashtagRow {
            tag,
            display: text::truncate_chars(bare, TAG_MAX),
        });
    }
    rows
}

/// The post's kind. A retweet is only a retweet; a reply that quotes counts as a reply.
pub fn classify(post: &Post) -> PostKind {
    let has = |kind: ReferenceKind| post.referenced.iter().any(|r| r.kind == kind);
    if has(ReferenceKind::Retweeted) {
        PostKind::Retweet
    } else if has(ReferenceKind::RepliedTo) || post.in_reply_to_user_id.is_some() {
        PostKind::Reply
    } else if has(ReferenceKind::Quoted) {
        PostKind::Quote
    } else {
        PostKind::Original
    }
}

/// X's language tag, lower case; `und` (undetermined) when absent or unusable.
pub fn language(lang: Option<&str>) -> String {
    let lang = lang.map(str::trim).unwrap_or_default().to_ascii_lowercase();
    let usable = !lang.is_empty()
        && lang.len() <= LANG_MAX
        && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if usable { lang } else { "und".to_owned() }
}

fn user_row(user: &User, id: u64, observed_at: NaiveDateTime) -> Result<UserRow, TransformError> {
    Ok(UserRow {
        id,
        username: text::truncate_chars(&user.username, USERNAME_MAX),
        name: text::truncate_chars(&user.name, NAME_MAX),
        verified: user.verified,
        // A profile creation date MySQL cannot hold is dropped, not the post.
        created_at: user
            .created_at
            .and_then(|ms| datetime("author.created_at", ms).ok()),
        location: user
            .location
            .as_deref()
            .map(|l| text::truncate_chars(l, NAME_MAX)),
        followers_count: user.followers_count.map(non_negative),
        following_count: user.following_count.map(non_negative),
        tweet_count: user.tweet_count.map(non_negative),
        observed_at,
    })
}

fn parse_id(field: &'static str, value: &str) -> Result<u64, TransformError> {
    let valid = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| TransformError::BadId {
            field,
            value: text::truncate_chars(value, 40),
        })
}

fn optional_id(field: &'static str, value: Option<&str>) -> Result<Option<u64>, TransformError> {
    value.map(|v| parse_id(field, v)).transpose()
}

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Epoch milliseconds → UTC DATETIME(3); MySQL holds years 1000 to 9999.
fn datetime(field: &'static str, millis: i64) -> Result<NaiveDateTime, TransformError> {
    DateTime::from_timestamp_millis(millis)
        .map(|t| t.naive_utc())
        .filter(|t| {
            use chrono::Datelike;
            (1000..=9999).contains(&t.year())
        })
        .ok_or(TransformError::BadTime { field, millis })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tweetpipe_common::fixtures::untidy_post;
    use tweetpipe_common::post::ReferencedPost;

    #[test]
    fn full_post_becomes_rows() {
        let stored = transform(&untidy_post()).unwrap_or_else(|e| panic!("{e}"));
        let row = &stored.post;
        assert_eq!(row.id, 1_798_000_000_000_000_001);
        assert_eq!(
            row.text,
            "Fique em casa & bem! #Quarentena #QUARENTENA @Saude https://www.saude.gov.br/coronavirus"
        );
        assert_eq!(row.lang, "pt");
        assert_eq!(row.kind, PostKind::Original);
        assert_eq!(row.topic, "quarentena");
        assert_eq!(row.country_code.as_deref(), Some("BR"));
        assert_eq!(row.created_at.to_string(), "2024-11-22 01:46:40");
        assert_eq!(stored.hashtags.len(), 1, "case variants fold into one tag");
        assert_eq!(stored.hashtags[0].tag, "quarentena");
        assert_eq!(stored.hashtags[0].display, "Quarentena");
        assert_eq!(stored.mentions[0].username, "saude");
        assert_eq!(stored.mentions[0].user_id, Some(9));
        assert_eq!(stored.urls[0].domain.as_deref(), Some("saude.gov.br"));
        assert_eq!(
            stored.cashtags.len(),
            1,
            "case variants fold into one cashtag"
        );
        assert_eq!(stored.cashtags[0].tag, "pfe");
        assert_eq!(stored.cashtags[0].display, "PFE");
        // One row per (domain, entity); the same entity under two domains is two rows; ids
        // that are not decimal drop the annotation, not the post.
        assert_eq!(
            stored.context_annotations,
            vec![
                ContextAnnotationRow {
                    domain_id: 123,
                    entity_id: 1_220_701_888_179_359_745,
                    domain_name: "Ongoing News Story".into(),
                    entity_name: "COVID-19".into(),
                },
                ContextAnnotationRow {
                    domain_id: 131,
                    entity_id: 1_220_701_888_179_359_745,
                    domain_name: "Ongoing News Story".into(),
                    entity_name: "COVID-19".into(),
                },
            ]
        );
        let author = stored.author.unwrap_or_else(|| panic!("author expected"));
        assert_eq!(author.id, 42);
        assert_eq!(author.followers_count, Some(120));
    }

    #[test]
    fn the_domain_is_the_expanded_urls_host() {
        let mut p = untidy_post();
        p.urls[0].expanded_url = Some("https://WWW.Example.org/a?b=c".into());
        let stored = transform(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored.urls[0].domain.as_deref(), Some("example.org"));
        assert_eq!(stored.urls[0].url, "https://t.co/abc");
    }

    #[test]
    fn a_post_of_an_older_writer_has_no_cashtag_or_annotation_rows() {
        let mut p = untidy_post();
        p.cashtags.clear();
        p.context_annotations.clear();
        let stored = transform(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(stored.cashtags.is_empty() && stored.context_annotations.is_empty());
        assert_eq!(stored.hashtags.len(), 1);
    }

    #[test]
    fn classification_precedence() {
        let mut p = untidy_post();
        let reference = |kind| ReferencedPost {
            kind,
            id: "7".into(),
            author_id: None,
            text: None,
        };
        p.referenced = vec![reference(ReferenceKind::Quoted)];
        assert_eq!(classify(&p), PostKind::Quote);
        p.referenced.push(reference(ReferenceKind::RepliedTo));
        assert_eq!(classify(&p), PostKind::Reply);
        p.referenced = vec![reference(ReferenceKind::Retweeted)];
        assert_eq!(classify(&p), PostKind::Retweet);
        p.referenced.clear();
        p.in_reply_to_user_id = Some("5".into());
        assert_eq!(classify(&p), PostKind::Reply);
    }

    #[test]
    fn bad_ids_and_times_are_errors_naming_the_field() {
        let mut p = untidy_post();
        p.id = "12ab".into();
        assert!(matches!(
            transform(&p),
            Err(TransformError::BadId { field: "id", .. })
        ));
        let mut p = untidy_post();
        p.author_id = "99999999999999999999999".into();
        assert!(matches!(
            transform(&p),
            Err(TransformError::BadId {
                field: "author_id",
                ..
            })
        ));
        let mut p = untidy_post();
        p.created_at = i64::MAX;
        assert!(matches!(transform(&p), Err(TransformError::BadTime { .. })));
        let mut p = untidy_post();
        p.query_name = " ".into();
        assert_eq!(transform(&p).err(), Some(TransformError::NoQuery));
    }

    #[test]
    fn language_defaults_and_sanitises() {
        assert_eq!(language(None), "und");
        assert_eq!(language(Some("")), "und");
        assert_eq!(language(Some("PT-br")), "pt-br");
        assert_eq!(language(Some("x'; drop")), "und");
    }

    #[test]
    fn author_that_is_not_the_post_author_is_ignored() {
        let mut p = untidy_post();
        if let Some(a) = p.author.as_mut() {
            a.id = "43".into();
        }
        let stored = transform(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(stored.author.is_none());
    }
}
