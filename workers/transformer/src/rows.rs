//! The rows stored for one post, as the transform produces them and the store writes them.

use chrono::NaiveDateTime;
use tweetpipe_common::post::ReferenceKind;

/// `posts.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostKind {
    Original,
    Retweet,
    Reply,
    Quote,
}

impl PostKind {
    pub fn as_sql(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Retweet => "retweet",
            Self::Reply => "reply",
            Self::Quote => "quote",
        }
    }
}

/// `post_references.kind`.
pub fn reference_kind_sql(kind: ReferenceKind) -> &'static str {
    match kind {
        ReferenceKind::Retweeted => "retweeted",
        ReferenceKind::Quoted => "quoted",
        ReferenceKind::RepliedTo => "replied_to",
        ReferenceKind::Unknown => "unknown",
    }
}

/// One `posts` row (less `load_id`, which the store assigns per batch).
#[derive(Debug, Clone, PartialEq)]
pub struct PostRow {
    pub id: u64,
    pub author_id: u64,
    pub created_at: NaiveDateTime,
    pub lang: String,
    pub kind: PostKind,
    pub text: String,
    pub sentiment: f32,
    pub query_name: String,
    pub topic: String,
    pub pipeline: String,
    pub conversation_id: Option<u64>,
    pub in_reply_to_user_id: Option<u64>,
    pub retweet_count: Option<u64>,
    pub reply_count: Option<u64>,
    pub like_count: Option<u64>,
    pub quote_count: Option<u64>,
    pub impression_count: Option<u64>,
    pub place_id: Option<String>,
    pub place_name: Option<String>,
    pub country_code: Option<String>,
    pub possibly_sensitive: Option<bool>,
    pub collected_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub verified: bool,
    pub created_at: Option<NaiveDateTime>,
    pub location: Option<String>,
    pub followers_count: Option<u64>,
    pub following_count: Option<u64>,
    pub tweet_count: Option<u64>,
    pub observed_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashtagRow {
    /// Folded aggregation key.
    pub tag: String,
    /// As first written.
    pub display: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionRow {
    /// Lower case.
    pub username: String,
    pub user_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRow {
    pub position: u16,
    pub url: String,
    pub expanded_url: Option<String>,
    pub display_url: Option<String>,
    pub domain: Option<String>,
}

/// One `post_context_annotations` row: X's topic classification of the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextAnnotationRow {
    pub domain_id: u64,
    pub entity_id: u64,
    pub domain_name: String,
    pub entity_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceRow {
    pub kind: ReferenceKind,
    pub referenced_id: u64,
    pub referenced_author_id: Option<u64>,
}

/// Everything stored for one post.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPost {
    pub post: PostRow,
    pub author: Option<UserRow>,
    pub hashtags: Vec<HashtagRow>,
    pub mentions: Vec<MentionRow>,
    pub urls: Vec<UrlRow>,
    pub references: Vec<ReferenceRow>,
    /// `post_cashtags`: folded like hashtags.
    pub cashtags: Vec<HashtagRow>,
    pub context_annotations: Vec<ContextAnnotationRow>,
}
