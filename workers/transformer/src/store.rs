//! The batch write path: one transaction per batch, multi-row idempotent upserts, roll-ups that
//! count only rows this transaction created.
//!
//! Every table that feeds a roll-up carries `load_id`, a random id drawn per transaction and
//! written only on insert (upserts never change it). After the upserts, the rows whose
//! `load_id` is ours are exactly the rows that did not exist before; one primary-key read
//! finds them, and the roll-up increments are computed here from those rows alone and upserted
//! in the same transaction: a batch delivered twice, or a post matched again by the same
//! query, adds nothing. Rows are written in primary-key order, table by table in one fixed
//! order, so two transformers lock in the same order and rarely deadlock (and a deadlock is
//! retried like any other transient error); the rows transformers share (authors, roll-up
//! buckets) are written last, so their locks are held briefly.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Timelike};
use sqlx::mysql::{MySqlDatabaseError, MySqlPool};
use sqlx::{MySql, QueryBuilder, Transaction};

use crate::rows::{StoredPost, UserRow, reference_kind_sql};
use crate::transform::sentiment::POLARITY_THRESHOLD;

/// At most this many rows per INSERT statement; keeps every statement far below MySQL's
/// 65,535 placeholders (posts have 23 columns).
const ROWS_PER_STATEMENT: usize = 1_000;

/// The columns of a `posts` row, in the order [`posts_insert`] binds them.
pub const POST_COLUMNS: &str = "id, author_id, created_at, lang, kind, text, sentiment, \
     query_name, topic, pipeline, conversation_id, in_reply_to_user_id, \
     retweet_count, reply_count, like_count, quote_count, impression_count, \
     place_id, place_name, country_code, possibly_sensitive, collected_at, load_id";

/// What [`posts_insert`] becomes in a batch: only the counters move on a re-collected post, and
/// only forwards; load_id, the text and the classification stay as first stored.
pub const POSTS_UPSERT: &str = " ON DUPLICATE KEY UPDATE \
     retweet_count = IF(VALUES(collected_at) > collected_at, VALUES(retweet_count), retweet_count), \
     reply_count = IF(VALUES(collected_at) > collected_at, VALUES(reply_count), reply_count), \
     like_count = IF(VALUES(collected_at) > collected_at, VALUES(like_count), like_count), \
     quote_count = IF(VALUES(collected_at) > collected_at, VALUES(quote_count), quote_count), \
     impression_count = IF(VALUES(collected_at) > collected_at, VALUES(impression_count), impression_count), \
     collected_at = GREATEST(collected_at, VALUES(collected_at))";

/// The multi-row `INSERT INTO posts` of the batch write, without [`POSTS_UPSERT`], every row
/// carrying `load_id`. Public so the benchmark's ceiling inserts rows exactly as stored.
pub fn posts_insert<'a>(
    posts: impl IntoIterator<Item = &'a StoredPost>,
    load_id: u64,
) -> QueryBuilder<MySql> {
    let mut q = QueryBuilder::<MySql>::new(format!("INSERT INTO posts ({POST_COLUMNS}) "));
    q.push_values(posts, |mut row, stored| {
        let p = &stored.post;
        row.push_bind(p.id)
            .push_bind(p.author_id)
            .push_bind(p.created_at)
            .push_bind(&p.lang)
            .push_bind(p.kind.as_sql())
            .push_bind(&p.text)
            .push_bind(p.sentiment)
            .push_bind(&p.query_name)
            .push_bind(&p.topic)
            .push_bind(&p.pipeline)
            .push_bind(p.conversation_id)
            .push_bind(p.in_reply_to_user_id)
            .push_bind(p.retweet_count)
            .push_bind(p.reply_count)
            .push_bind(p.like_count)
            .push_bind(p.quote_count)
            .push_bind(p.impression_count)
            .push_bind(&p.place_id)
            .push_bind(&p.place_name)
            .push_bind(&p.country_code)
            .push_bind(p.possibly_sensitive)
            .push_bind(p.collected_at)
            .push_bind(load_id);
    });
    q
}

/// How a batch write failed, which decides what the caller does.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot take writes now (down, restarting, lock timeout, deadlock, schema
    /// not applied yet, ...): retry the same batch later; nothing was committed.
    #[error("MySQL unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused the data itself: retrying the same rows fails the same way.
    #[error("MySQL rejected the rows: {0}")]
    Rejected(#[source] sqlx::Error),
}

impl StoreError {
    fn classify(error: sqlx::Error) -> Self {
        if is_data_error(&error) {
            Self::Rejected(error)
        } else {
            Self::Unavailable(error)
        }
    }
}

/// True for errors caused by the values themselves (SQLSTATE class 22 "data exception" and 23
/// "integrity constraint violation"). Everything else, including unknown errors, is treated
/// as transient: a wrongly retried batch only delays, a wrongly dead-lettered one is lost work.
fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let sqlstate = db.code().map(|c| c.to_string()).unwrap_or_default();
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(MySqlDatabaseError::number);
            // 1213 deadlock and 1205 lock wait timeout carry SQLSTATE 40001 / HY000: transient.
            sqlstate.starts_with("22")
                || (sqlstate.starts_with("23") && !matches!(number, Some(1213 | 1205)))
        }
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// What one batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Distinct posts in the batch.
    pub posts: u64,
    /// Posts that were not stored before.
    pub posts_inserted: u64,
    /// (post, query) matches that were not stored before; each added one to `posts_hourly`.
    pub matches_inserted: u64,
}

/// Writes batches of posts.
#[derive(Debug, Clone)]
pub struct Store {
    pool: MySqlPool,
}

impl Store {
    pub fn new(pool: MySqlPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Stores a batch in one transaction. On error nothing of the batch is committed.
    pub async fn write_batch(&self, batch: &[StoredPost]) -> Result<BatchOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let plan = Plan::new(batch);
        let load_id: u64 = rand::random();
        let mut tx = self.pool.begin().await.map_err(StoreError::Unavailable)?;
        let outcome = plan
            .write(&mut tx, load_id)
            .await
            .map_err(StoreError::classify)?;
        tx.commit().await.map_err(StoreError::Unavailable)?;
        Ok(outcome)
    }
}

/// A batch deduplicated and sorted by primary key.
struct Plan<'a> {
    /// One entry per post id: the newest copy (by collected_at).
    posts: Vec<&'a StoredPost>,
    /// Distinct (post id, query name) → the copy carrying that query.
    matches: Vec<(&'a StoredPost, &'a str)>,
    /// One profile per user: the newest.
    users: Vec<&'a UserRow>,
    ids: Vec<u64>,
}

impl<'a> Plan<'a> {
    fn new(batch: &'a [StoredPost]) -> Self {
        let mut posts: BTreeMap<u64, &StoredPost> = BTreeMap::new();
        let mut matches: BTreeMap<(u64, &str), &StoredPost> = BTreeMap::new();
        let mut users: BTreeMap<u64, &UserRow> = BTreeMap::new();
        for stored in batch {
            let post = &stored.post;
            posts
                .entry(post.id)
                .and_modify(|kept| {
                    if post.collected_at > kept.post.collected_at {
                        *kept = stored;
                    }
                })
                .or_insert(stored);
            matches
                .entry((post.id, post.query_name.as_str()))
                .or_insert(stored);
            if let Some(user) = &stored.author {
                users
                    .entry(user.id)
                    .and_modify(|kept| {
                        if user.observed_at > kept.observed_at {
                            *kept = user;
                        }
                    })
                    .or_insert(user);
            }
        }
        Self {
            ids: posts.keys().copied().collect(),
            posts: posts.into_values().collect(),
            matches: matches
                .into_iter()
                .map(|((_, query), stored)| (stored, query))
                .collect(),
            users: users.into_values().collect(),
        }
    }

    async fn write(
        &self,
        tx: &mut Transaction<'static, MySql>,
        load_id: u64,
    ) -> Result<BatchOutcome, sqlx::Error> {
        self.upsert_posts(tx, load_id).await?;
        self.insert_matches(tx, load_id).await?;
        self.insert_hashtags(tx).await?;
        self.insert_mentions(tx).await?;
        self.insert_urls(tx).await?;
        self.insert_references(tx).await?;
        self.insert_cashtags(tx).await?;
        self.insert_context_annotations(tx).await?;
        let created = self.created_rows(tx, load_id).await?;
        // Rows that other transformers write too (authors, roll-up buckets) come last, so
        // their locks are held only for the moments before the commit.
        self.upsert_users(tx).await?;
        self.roll_up(tx, &created).await?;
        Ok(BatchOutcome {
            posts: self.posts.len() as u64,
            posts_inserted: created.iter().filter(|(_, _, new)| *new).count() as u64,
            matches_inserted: created.len() as u64,
        })
    }

    async fn upsert_users(&self, tx: &mut Transaction<'static, MySql>) -> Result<(), sqlx::Error> {
        for chunk in self.users.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO users (id, username, name, verified, created_at, location, \
                 followers_count, following_count, tweet_count, observed_at) ",
            );
            q.push_values(chunk, |mut row, user| {
                row.push_bind(user.id)
                    .push_bind(&user.username)
                    .push_bind(&user.name)
                    .push_bind(user.verified)
                    .push_bind(user.created_at)
                    .push_bind(&user.location)
                    .push_bind(user.followers_count)
                    .push_bind(user.following_count)
                    .push_bind(user.tweet_count)
                    .push_bind(user.observed_at);
            });
            // A profile seen in an older post never overwrites a newer one; observed_at last,
            // because MySQL applies these assignments left to right.
            q.push(
                " ON DUPLICATE KEY UPDATE \
                 username = IF(VALUES(observed_at) >= observed_at, VALUES(username), username), \
                 name = IF(VALUES(observed_at) >= observed_at, VALUES(name), name), \
                 verified = IF(VALUES(observed_at) >= observed_at, VALUES(verified), verified), \
                 created_at = COALESCE(created_at, VALUES(created_at)), \
                 location = IF(VALUES(observed_at) >= observed_at, VALUES(location), location), \
                 followers_count = IF(VALUES(observed_at) >= observed_at, VALUES(followers_count), followers_count), \
                 following_count = IF(VALUES(observed_at) >= observed_at, VALUES(following_count), following_count), \
                 tweet_count = IF(VALUES(observed_at) >= observed_at, VALUES(tweet_count), tweet_count), \
                 observed_at = GREATEST(observed_at, VALUES(observed_at))",
            );
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn upsert_posts(
        &self,
        tx: &mut Transaction<'static, MySql>,
        load_id: u64,
    ) -> Result<(), sqlx::Error> {
        for chunk in self.posts.chunks(ROWS_PER_STATEMENT) {
            let mut q = posts_insert(chunk.iter().copied(), load_id);
            q.push(POSTS_UPSERT);
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_matches(
        &self,
        tx: &mut Transaction<'static, MySql>,
        load_id: u64,
    ) -> Result<(), sqlx::Error> {
        for chunk in self.matches.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_queries (post_id, query_name, topic, created_at, lang, load_id) ",
            );
            q.push_values(chunk, |mut row, (stored, query)| {
                let p = &stored.post;
                row.push_bind(p.id)
                    .push_bind(*query)
                    .push_bind(&p.topic)
                    .push_bind(p.created_at)
                    .push_bind(&p.lang)
                    .push_bind(load_id);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_hashtags(
        &self,
        tx: &mut Transaction<'static, MySql>,
    ) -> Result<(), sqlx::Error> {
        let rows = self.child_rows(|s| s.hashtags.iter().map(|h| (h.tag.as_str(), h)));
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_hashtags (post_id, tag, display, created_at) ",
            );
            q.push_values(chunk, |mut row, (post_id, created_at, h)| {
                row.push_bind(*post_id)
                    .push_bind(&h.tag)
                    .push_bind(&h.display)
                    .push_bind(*created_at);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_mentions(
        &self,
        tx: &mut Transaction<'static, MySql>,
    ) -> Result<(), sqlx::Error> {
        let rows = self.child_rows(|s| s.mentions.iter().map(|m| (m.username.as_str(), m)));
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_mentions (post_id, username, user_id, created_at) ",
            );
            q.push_values(chunk, |mut row, (post_id, created_at, m)| {
                row.push_bind(*post_id)
                    .push_bind(&m.username)
                    .push_bind(m.user_id)
                    .push_bind(*created_at);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_urls(&self, tx: &mut Transaction<'static, MySql>) -> Result<(), sqlx::Error> {
        let rows = self.child_rows(|s| s.urls.iter().map(|u| (u.position, u)));
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_urls (post_id, position, url, expanded_url, display_url, domain, created_at) ",
            );
            q.push_values(chunk, |mut row, (post_id, created_at, u)| {
                row.push_bind(*post_id)
                    .push_bind(u.position)
                    .push_bind(&u.url)
                    .push_bind(&u.expanded_url)
                    .push_bind(&u.display_url)
                    .push_bind(&u.domain)
                    .push_bind(*created_at);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_references(
        &self,
        tx: &mut Transaction<'static, MySql>,
    ) -> Result<(), sqlx::Error> {
        let rows = self.child_rows(|s| {
            s.references
                .iter()
                .map(|r| ((reference_kind_sql(r.kind), r.referenced_id), r))
        });
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_references (post_id, kind, referenced_id, referenced_author_id) ",
            );
            q.push_values(chunk, |mut row, (post_id, _, r)| {
                row.push_bind(*post_id)
                    .push_bind(reference_kind_sql(r.kind))
                    .push_bind(r.referenced_id)
                    .push_bind(r.referenced_author_id);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_cashtags(
        &self,
        tx: &mut Transaction<'static, MySql>,
    ) -> Result<(), sqlx::Error> {
        let rows = self.child_rows(|s| s.cashtags.iter().map(|c| (c.tag.as_str(), c)));
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_cashtags (post_id, tag, display, created_at) ",
            );
            q.push_values(chunk, |mut row, (post_id, created_at, c)| {
                row.push_bind(*post_id)
                    .push_bind(&c.tag)
                    .push_bind(&c.display)
                    .push_bind(*created_at);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_context_annotations(
        &self,
        tx: &mut Transaction<'static, MySql>,
    ) -> Result<(), sqlx::Error> {
        let rows = self.child_rows(|s| {
            s.context_annotations
                .iter()
                .map(|c| ((c.domain_id, c.entity_id), c))
        });
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_context_annotations \
                 (post_id, domain_id, entity_id, domain_name, entity_name, created_at) ",
            );
            q.push_values(chunk, |mut row, (post_id, created_at, c)| {
                row.push_bind(*post_id)
                    .push_bind(c.domain_id)
                    .push_bind(c.entity_id)
                    .push_bind(&c.domain_name)
                    .push_bind(&c.entity_name)
                    .push_bind(*created_at);
            });
            q.push(" ON DUPLICATE KEY UPDATE post_id = post_id");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Child rows of every post, sorted by (post id, child key) = their primary key order.
    fn child_rows<T, K, I, F>(&self, children: F) -> Vec<(u64, NaiveDateTime, &'a T)>
    where
        K: Ord,
        I: Iterator<Item = (K, &'a T)>,
        F: Fn(&'a StoredPost) -> I,
        T: 'a,
    {
        let mut rows = Vec::new();
        for stored in &self.posts {
            let mut own: Vec<(K, &'a T)> = children(stored).collect();
            own.sort_by(|a, b| a.0.cmp(&b.0));
            rows.extend(
                own.into_iter()
                    .map(|(_, child)| (stored.post.id, stored.post.created_at, child)),
            );
        }
        rows
    }

    /// What this transaction created: (post id, query) of every new match, and whether the
    /// post itself is new. A new post's matches are all new, so one read of `post_queries`
    /// (primary-key lookups) answers both.
    async fn created_rows(
        &self,
        tx: &mut Transaction<'static, MySql>,
        load_id: u64,
    ) -> Result<Vec<(u64, String, bool)>, sqlx::Error> {
        let mut q = QueryBuilder::<MySql>::new(
            "SELECT q.post_id, q.query_name, p.load_id = q.load_id \
             FROM post_queries q JOIN posts p ON p.id = q.post_id WHERE q.load_id = ",
        );
        q.push_bind(load_id).push(" AND q.post_id IN (");
        let mut ids = q.separated(", ");
        for id in &self.ids {
            ids.push_bind(*id);
        }
        q.push(")");
        let rows: Vec<(u64, String, i64)> = q.build_query_as().fetch_all(&mut **tx).await?;
        Ok(rows
            .into_iter()
            .map(|(id, query, post_is_new)| (id, query, post_is_new != 0))
            .collect())
    }

    /// Adds what this transaction created to the roll-ups, computed here from the batch.
    async fn roll_up(
        &self,
        tx: &mut Transaction<'static, MySql>,
        created: &[(u64, String, bool)],
    ) -> Result<(), sqlx::Error> {
        let by_id: BTreeMap<u64, &StoredPost> =
            self.posts.iter().map(|s| (s.post.id, *s)).collect();
        // A post matched by two queries in one batch arrives as two copies; each query's
        // roll-up takes its topic from the copy that carried that query, not the newest copy.
        let topic_of_match: BTreeMap<(u64, &str), &str> = self
            .matches
            .iter()
            .map(|(stored, query)| ((stored.post.id, *query), stored.post.topic.as_str()))
            .collect();
        let mut hourly: BTreeMap<(NaiveDateTime, &str, &str), HourlyIncrement<'_>> =
            BTreeMap::new();
        let mut daily: BTreeMap<(chrono::NaiveDate, &str), u64> = BTreeMap::new();
        // Hashtags count posts, not matches: a new post matched by two queries is one post.
        let mut hashtags_counted: std::collections::BTreeSet<u64> = Default::default();
        for (post_id, query, post_is_new) in created {
            let Some(stored) = by_id.get(post_id) else {
                continue;
            };
            let post = &stored.post;
            let query = query.as_str();
            let hour = post
                .created_at
                .date()
                .and_hms_opt(post.created_at.hour(), 0, 0)
                .unwrap_or(post.created_at);
            let topic = topic_of_match
                .get(&(*post_id, query))
                .copied()
                .unwrap_or(post.topic.as_str());
            let row = hourly
                .entry((hour, query, post.lang.as_str()))
                .or_insert_with(|| HourlyIncrement {
                    topic,
                    ..HourlyIncrement::default()
                });
            row.posts += 1;
            row.kinds[post.kind as usize] += 1;
            row.sentiment_sum += f64::from(post.sentiment);
            row.positive += u64::from(post.sentiment > POLARITY_THRESHOLD);
            row.negative += u64::from(post.sentiment < -POLARITY_THRESHOLD);
            if *post_is_new && hashtags_counted.insert(*post_id) {
                for tag in &stored.hashtags {
                    *daily
                        .entry((post.created_at.date(), tag.tag.as_str()))
                        .or_default() += 1;
                }
            }
        }
        let hourly: Vec<_> = hourly.into_iter().collect();
        for chunk in hourly.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO posts_hourly (hour, query_name, lang, topic, posts, originals, \
                 retweets, replies, quotes, sentiment_sum, positive, negative) ",
            );
            q.push_values(chunk, |mut row, ((hour, query, lang), inc)| {
                row.push_bind(*hour)
                    .push_bind(*query)
                    .push_bind(*lang)
                    .push_bind(inc.topic)
                    .push_bind(inc.posts)
                    .push_bind(inc.kinds[0])
                    .push_bind(inc.kinds[1])
                    .push_bind(inc.kinds[2])
                    .push_bind(inc.kinds[3])
                    .push_bind(inc.sentiment_sum)
                    .push_bind(inc.positive)
                    .push_bind(inc.negative);
            });
            q.push(
                " ON DUPLICATE KEY UPDATE \
                 posts = posts + VALUES(posts), \
                 originals = originals + VALUES(originals), \
                 retweets = retweets + VALUES(retweets), \
                 replies = replies + VALUES(replies), \
                 quotes = quotes + VALUES(quotes), \
                 sentiment_sum = sentiment_sum + VALUES(sentiment_sum), \
                 positive = positive + VALUES(positive), \
                 negative = negative + VALUES(negative)",
            );
            q.build().execute(&mut **tx).await?;
        }
        let daily: Vec<_> = daily.into_iter().collect();
        for chunk in daily.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new("INSERT INTO hashtags_daily (day, tag, posts) ");
            q.push_values(chunk, |mut row, ((day, tag), posts)| {
                row.push_bind(*day).push_bind(*tag).push_bind(*posts);
            });
            q.push(" ON DUPLICATE KEY UPDATE posts = posts + VALUES(posts)");
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// One `posts_hourly` row's increment. `kinds` follows [`crate::rows::PostKind`]'s order.
#[derive(Default)]
struct HourlyIncrement<'a> {
    topic: &'a str,
    posts: u64,
    kinds: [u64; 4],
    sentiment_sum: f64,
    positive: u64,
    negative: u64,
}

#[cfg(test)]
mod tests {
    use tweetpipe_common::fixtures::sample_posts;

    use super::*;
    use crate::transform::transform;

    #[test]
    fn posts_insert_binds_every_column_of_every_row() {
        let stored: Vec<StoredPost> = sample_posts(3, 1)
            .iter()
            .map(|p| transform(p).unwrap())
            .collect();
        let columns = POST_COLUMNS.split(", ").count();
        assert_eq!(columns, 23, "ROWS_PER_STATEMENT's placeholder budget");
        assert!(ROWS_PER_STATEMENT * columns <= usize::from(u16::MAX));
        let sql = posts_insert(&stored, 7).into_string();
        assert!(
            sql.starts_with(&format!("INSERT INTO posts ({POST_COLUMNS}) VALUES (")),
            "{sql}"
        );
        assert_eq!(sql.matches('?').count(), 3 * columns, "{sql}");
        assert_eq!(sql.matches("), (").count(), 2, "{sql}");
        assert!(
            !sql.contains("ON DUPLICATE"),
            "the upsert is the batch write's own"
        );
    }
}
