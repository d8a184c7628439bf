//! What the transformer stored, checked against the posts it was given: each post once, and
//! roll-ups that agree with the rows they summarise.

use std::collections::BTreeMap;

use crate::mysql::TestDb;

/// Exactly `posts` posts, each matched once, and both roll-ups equal to what they count.
pub async fn assert_each_post_once(db: &TestDb, posts: i64) {
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, posts);
    assert_eq!(db.count("SELECT COUNT(*) FROM post_queries").await, posts);
    assert_eq!(
        db.count("SELECT CAST(SUM(posts) AS SIGNED) FROM posts_hourly")
            .await,
        posts
    );
    let hashtags = db.count("SELECT COUNT(*) FROM post_hashtags").await;
    assert_eq!(
        db.count("SELECT CAST(SUM(posts) AS SIGNED) FROM hashtags_daily")
            .await,
        hashtags
    );
}

/// Every row of every table that matters, as text, for before/after comparisons.
pub async fn snapshot(db: &TestDb) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, sql) in [
        (
            "posts",
            "SELECT CONCAT_WS('|', id, kind, lang, text, sentiment, load_id, collected_at, like_count) FROM posts ORDER BY id",
        ),
        (
            "users",
            "SELECT CONCAT_WS('|', id, username, followers_count, observed_at) FROM users ORDER BY id",
        ),
        (
            "post_queries",
            "SELECT CONCAT_WS('|', post_id, query_name, load_id) FROM post_queries ORDER BY post_id, query_name",
        ),
        (
            "post_hashtags",
            "SELECT CONCAT_WS('|', post_id, tag) FROM post_hashtags ORDER BY post_id, tag",
        ),
        (
            "post_mentions",
            "SELECT CONCAT_WS('|', post_id, username) FROM post_mentions ORDER BY post_id, username",
        ),
        (
            "post_urls",
            "SELECT CONCAT_WS('|', post_id, position, domain) FROM post_urls ORDER BY post_id, position",
        ),
        (
            "post_references",
            "SELECT CONCAT_WS('|', post_id, kind, referenced_id) FROM post_references ORDER BY post_id, kind, referenced_id",
        ),
        (
            "post_cashtags",
            "SELECT CONCAT_WS('|', post_id, tag) FROM post_cashtags ORDER BY post_id, tag",
        ),
        (
            "post_context_annotations",
            "SELECT CONCAT_WS('|', post_id, domain_id, entity_id, entity_name) FROM post_context_annotations ORDER BY post_id, domain_id, entity_id",
        ),
        (
            "posts_hourly",
            "SELECT CONCAT_WS('|', hour, query_name, lang, posts, originals, retweets, replies, quotes, ROUND(sentiment_sum, 3), positive, negative) FROM posts_hourly ORDER BY hour, query_name, lang",
        ),
        (
            "hashtags_daily",
            "SELECT CONCAT_WS('|', day, tag, posts) FROM hashtags_daily ORDER BY day, tag",
        ),
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        out.insert(table, rows);
    }
    out
}
