//! The post as it travels through Kafka. Field names and types mirror the current schema,
//! `schema/post.v2.avsc`, exactly, so serde maps it straight onto the Avro schema.

use serde::{Deserialize, Serialize};

/// One X post as collected by an extractor (`io.tweetpipe.v1.Post`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// Post id, a decimal string as the X API returns it.
    pub id: String,
    /// Post text exactly as returned (HTML entities not decoded).
    pub text: String,
    /// Creation time, milliseconds since the Unix epoch (UTC).
    pub created_at: i64,
    /// BCP 47 language tag from X.
    pub lang: Option<String>,
    pub author_id: String,
    /// Expanded author; `None` when the API response did not include it.
    pub author: Option<User>,
    pub conversation_id: Option<String>,
    pub in_reply_to_user_id: Option<String>,
    pub referenced: Vec<ReferencedPost>,
    pub hashtags: Vec<Hashtag>,
    pub mentions: Vec<Mention>,
    pub urls: Vec<Url>,
    /// `entities.cashtags` (v2): the tag without its `$`.
    pub cashtags: Vec<Hashtag>,
    /// `context_annotations` (v2): empty in records of older writers.
    pub context_annotations: Vec<ContextAnnotation>,
    pub metrics: Option<PublicMetrics>,
    pub place: Option<Place>,
    pub possibly_sensitive: Option<bool>,
    /// `namespace/name` of the TweetPipeline that collected it.
    pub pipeline: String,
    /// Name of the pipeline query that matched it.
    pub query_name: String,
    /// When the extractor received it, milliseconds since the Unix epoch.
    pub collected_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub verified: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: Option<i64>,
    pub location: Option<String>,
    pub followers_count: Option<i64>,
    pub following_count: Option<i64>,
    pub tweet_count: Option<i64>,
}

/// How a post refers to another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReferenceKind {
    Retweeted,
    Quoted,
    RepliedTo,
    Unknown,
}

impl ReferenceKind {
    /// Maps the X API's `referenced_tweets[].type`.
    pub fn from_api(kind: &str) -> Self {
        match kind {
            "retweeted" => Self::Retweeted,
            "quoted" => Self::Quoted,
            "replied_to" => Self::RepliedTo,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferencedPost {
    pub kind: ReferenceKind,
    pub id: String,
    /// Known when the referenced post was expanded (`expansions=referenced_tweets.id`).
    pub author_id: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hashtag {
    pub tag: String,
    pub start: i32,
    pub end: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub username: String,
    pub id: Option<String>,
    pub start: i32,
    pub end: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Url {
    /// The t.co link in the text.
    pub url: String,
    pub expanded_url: Option<String>,
    pub display_url: Option<String>,
    pub start: i32,
    pub end: i32,
}

/// One of X's `context_annotations`: the domain (a topic category, e.g. `123` "Political
/// Race") and the entity within it X classified the post under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextAnnotation {
    pub domain_id: String,
    pub domain_name: String,
    pub domain_description: Option<String>,
    pub entity_id: String,
    pub entity_name: String,
    pub entity_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicMetrics {
    pub retweet_count: i64,
    pub reply_count: i64,
    pub like_count: i64,
    pub quote_count: i64,
    pub impression_count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub id: String,
    pub full_name: String,
    pub name: Option<String>,
    pub country_code: Option<String>,
    pub place_type: Option<String>,
}
