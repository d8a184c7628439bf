//! Answering a validated search: selecting the page and rendering it in the real API's shape.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::corpus::{Corpus, SimPost, format_time};
use crate::params::{Fields, SearchParams, WINDOW_MS, encode_token};

/// One page of results, newest first.
#[derive(Debug)]
pub struct Page {
    pub posts: Vec<Arc<SimPost>>,
    /// Exclusive upper index of the next page, when more results exist.
    pub next_cursor: Option<u64>,
}

/// Selects the page: posts visible now, inside the 7-day window and the time/id bounds,
/// below the pagination cursor, matching the query; newest first.
pub fn select(corpus: &Corpus, p: &SearchParams, now_ms: i64) -> Page {
    let visible = corpus.visible_count(now_ms);
    let first_at = |ms: i64| Corpus::partition_point(visible, |i| corpus.created_ms(i) >= ms);
    let mut lo = first_at(now_ms - WINDOW_MS);
    if let Some(start) = p.start_ms {
        lo = lo.max(first_at(start));
    }
    if let Some(since) = p.since_id {
        lo = lo.max(Corpus::partition_point(visible, |i| {
            corpus.id_of(i) > since
        }));
    }
    let mut hi = visible;
    if let Some(end) = p.end_ms {
        hi = hi.min(first_at(end));
    }
    if let Some(until) = p.until_id {
        hi = hi.min(Corpus::partition_point(visible, |i| {
            corpus.id_of(i) >= until
        }));
    }
    if let Some(cursor) = p.cursor {
        hi = hi.min(cursor);
    }
    let mut posts = Vec::with_capacity(p.max_results);
    let mut next_cursor = None;
    let mut i = hi;
    while i > lo {
        i -= 1;
        let post = corpus.post(i);
        if !p.query.matches(&post.facts) {
            continue;
        }
        if posts.len() == p.max_results {
            // Another match exists below the page: the next page starts under the last one.
            next_cursor = posts.last().map(|last: &Arc<SimPost>| last.index);
            break;
        }
        posts.push(post);
    }
    Page { posts, next_cursor }
}

fn wants(set: &BTreeSet<String>, field: &str) -> bool {
    set.contains(field)
}

/// One post in the API's shape, with the fields `p` asks for.
pub(crate) fn render_post(corpus: &Corpus, post: &SimPost, p: &Fields) -> Value {
    let f = &p.tweet_fields;
    let x = &p.expansions;
    let mut o = Map::new();
    o.insert("id".into(), json!(post.id.to_string()));
    o.insert("text".into(), json!(post.text));
    o.insert(
        "edit_history_tweet_ids".into(),
        json!([post.id.to_string()]),
    );
    if wants(f, "created_at") {
        o.insert("created_at".into(), json!(format_time(post.created_ms)));
    }
    if wants(f, "author_id") || wants(x, "author_id") {
        o.insert("author_id".into(), json!(corpus.users[post.author].id));
    }
    if wants(f, "conversation_id") {
        o.insert(
            "conversation_id".into(),
            json!(post.conversation_id.to_string()),
        );
    }
    if let Some(user) = post.in_reply_to_user
        && (wants(f, "in_reply_to_user_id") || wants(x, "in_reply_to_user_id"))
    {
        o.insert("in_reply_to_user_id".into(), json!(corpus.users[user].id));
    }
    if wants(f, "lang") {
        o.insert("lang".into(), json!(post.lang.code()));
    }
    if wants(f, "possibly_sensitive") {
        o.insert("possibly_sensitive".into(), json!(post.possibly_sensitive));
    }
    if wants(f, "source") {
        o.insert("source".into(), json!(post.source));
    }
    if wants(f, "reply_settings") {
        o.insert("reply_settings".into(), json!("everyone"));
    }
    if !post.referenced.is_empty()
        && (wants(f, "referenced_tweets")
            || wants(x, "referenced_tweets.id")
            || wants(x, "referenced_tweets.id.author_id"))
    {
        let refs: Vec<Value> = post
            .referenced
            .iter()
            .map(|(kind, index)| json!({"type": kind.api_name(), "id": corpus.id_of(*index).to_string()}))
            .collect();
        o.insert("referenced_tweets".into(), Value::Array(refs));
    }
    if let Some(place) = post.place
        && (wants(f, "geo") || wants(x, "geo.place_id"))
    {
        let mut geo = Map::new();
        geo.insert("place_id".into(), json!(corpus.places[place].1.id));
        if let Some((longitude, latitude)) = post.coordinates {
            geo.insert(
                "coordinates".into(),
                json!({"type": "Point", "coordinates": [longitude, latitude]}),
            );
        }
        o.insert("geo".into(), Value::Object(geo));
    }
    if let Some(media) = &post.media
        && (wants(f, "attachments") || wants(x, "attachments.media_keys"))
    {
        o.insert(
            "attachments".into(),
            json!({"media_keys": [media.media_key]}),
        );
    }
    if wants(f, "context_annotations") && !post.context.is_empty() {
        let list: Vec<Value> = post
            .context
            .iter()
            .map(|c| {
                json!({"domain": {"id": c.domain_id.to_string(), "name": c.domain_name},
                       "entity": {"id": c.entity_id.to_string(), "name": c.entity_name}})
            })
            .collect();
        o.insert("context_annotations".into(), Value::Array(list));
    }
    if wants(f, "public_metrics") {
        let [retweet, reply, like, quote, bookmark, impression] = post.metrics;
        o.insert(
            "public_metrics".into(),
            json!({"retweet_count": retweet, "reply_count": reply, "like_count": like,
                   "quote_count": quote, "bookmark_count": bookmark, "impression_count": impression}),
        );
    }
    if wants(f, "entities") {
        let mut entities = Map::new();
        if !post.hashtags.is_empty() {
            let tags: Vec<Value> = post
                .hashtags
                .iter()
                .map(|h| json!({"start": h.start, "end": h.end, "tag": h.tag}))
                .collect();
            entities.insert("hashtags".into(), Value::Array(tags));
        }
        if !post.mentions.is_empty() {
            let mentions: Vec<Value> = post
                .mentions
                .iter()
                .map(|m| {
                    let u = &corpus.users[m.user];
                    json!({"start": m.start, "end": m.end, "username": u.username, "id": u.id})
                })
                .collect();
            entities.insert("mentions".into(), Value::Array(mentions));
        }
        if !post.urls.is_empty() {
            let urls: Vec<Value> = post
                .urls
                .iter()
                .map(|u| {
                    json!({"start": u.start, "end": u.end, "url": u.url, "expanded_url": u.expanded_url,
                           "display_url": u.display_url})
                })
                .collect();
            entities.insert("urls".into(), Value::Array(urls));
        }
        if !post.cashtags.is_empty() {
            let tags: Vec<Value> = post
                .cashtags
                .iter()
                .map(|c| json!({"start": c.start, "end": c.end, "tag": c.tag}))
                .collect();
            entities.insert("cashtags".into(), Value::Array(tags));
        }
        if !post.annotations.is_empty() {
            let list: Vec<Value> = post
                .annotations
                .iter()
                .map(|a| {
                    json!({"start": a.start, "end": a.end, "probability": 0.9,
                           "type": a.kind, "normalized_text": a.normalized_text})
                })
                .collect();
            entities.insert("annotations".into(), Value::Array(list));
        }
        if !entities.is_empty() {
            o.insert("entities".into(), Value::Object(entities));
        }
    }
    Value::Object(o)
}

fn render_user(corpus: &Corpus, user: usize, p: &Fields) -> Value {
    let u = &corpus.users[user];
    let f = &p.user_fields;
    let mut o = Map::new();
    o.insert("id".into(), json!(u.id));
    o.insert("name".into(), json!(u.name));
    o.insert("username".into(), json!(u.username));
    if wants(f, "created_at") {
        o.insert("created_at".into(), json!(u.created_at));
    }
    if wants(f, "description") {
        o.insert("description".into(), json!(u.description));
    }
    if wants(f, "location") && !u.location.is_empty() {
        o.insert("location".into(), json!(u.location));
    }
    if wants(f, "verified") {
        o.insert("verified".into(), json!(u.verified));
    }
    if wants(f, "verified_type") {
        o.insert(
            "verified_type".into(),
            json!(if u.verified { "blue" } else { "none" }),
        );
    }
    if wants(f, "protected") {
        o.insert("protected".into(), json!(false));
    }
    if wants(f, "profile_image_url") {
        o.insert(
            "profile_image_url".into(),
            json!(format!(
                "https://pbs.twimg.com/profile_images/{}/avatar_normal.jpg",
                u.id
            )),
        );
    }
    if wants(f, "public_metrics") {
        o.insert(
            "public_metrics".into(),
            json!({"followers_count": u.followers_count, "following_count": u.following_count,
                   "tweet_count": u.tweet_count, "listed_count": u.listed_count}),
        );
    }
    Value::Object(o)
}

fn render_place(corpus: &Corpus, place: usize, p: &Fields) -> Value {
    let (_, pl) = &corpus.places[place];
    let f = &p.place_fields;
    let mut o = Map::new();
    o.insert("full_name".into(), json!(pl.full_name));
    o.insert("id".into(), json!(pl.id));
    if wants(f, "country") {
        o.insert("country".into(), json!(pl.country));
    }
    if wants(f, "country_code") {
        o.insert("country_code".into(), json!(pl.country_code));
    }
    if wants(f, "name") {
        o.insert("name".into(), json!(pl.name));
    }
    if wants(f, "place_type") {
        o.insert("place_type".into(), json!(pl.place_type));
    }
    if wants(f, "geo") {
        o.insert(
            "geo".into(),
            json!({"type": "Feature", "bbox": pl.bbox, "properties": {}}),
        );
    }
    Value::Object(o)
}

/// The response body of a page, in the real API's shape.
pub fn render(corpus: &Corpus, page: &Page, p: &SearchParams, token_key: u64) -> Value {
    let mut body = Map::new();
    if !page.posts.is_empty() {
        let data: Vec<Value> = page
            .posts
            .iter()
            .map(|post| render_post(corpus, post, &p.fields))
            .collect();
        body.insert("data".into(), Value::Array(data));
    }
    if let Some(includes) = render_includes(corpus, &page.posts, &p.fields) {
        body.insert("includes".into(), includes);
    }
    let mut meta = Map::new();
    if let (Some(newest), Some(oldest)) = (page.posts.first(), page.posts.last()) {
        meta.insert("newest_id".into(), json!(newest.id.to_string()));
        meta.insert("oldest_id".into(), json!(oldest.id.to_string()));
    }
    meta.insert("result_count".into(), json!(page.posts.len()));
    if let Some(cursor) = page.next_cursor {
        meta.insert("next_token".into(), json!(encode_token(cursor, token_key)));
    }
    body.insert("meta".into(), Value::Object(meta));
    Value::Object(body)
}

/// The `includes` object the expansions in `p` call for over `posts`, if any is non-empty.
pub(crate) fn render_includes(
    corpus: &Corpus,
    posts: &[Arc<SimPost>],
    p: &Fields,
) -> Option<Value> {
    let x = &p.expansions;
    let mut users: Vec<usize> = Vec::new();
    let mut add_user = |u: usize| {
        if !users.contains(&u) {
            users.push(u);
        }
    };
    let mut tweets: Vec<u64> = Vec::new();
    let mut places: Vec<usize> = Vec::new();
    let mut media: Vec<Value> = Vec::new();
    for post in posts {
        if wants(x, "attachments.media_keys")
            && let Some(m) = &post.media
        {
            media.push(json!({"media_key": m.media_key, "type": m.kind.api_name()}));
        }
        if wants(x, "author_id") {
            add_user(post.author);
        }
        if wants(x, "entities.mentions.username") {
            post.mentions.iter().for_each(|m| add_user(m.user));
        }
        if wants(x, "in_reply_to_user_id")
            && let Some(u) = post.in_reply_to_user
        {
            add_user(u);
        }
        if wants(x, "referenced_tweets.id") || wants(x, "referenced_tweets.id.author_id") {
            for (_, index) in &post.referenced {
                if wants(x, "referenced_tweets.id") && !tweets.contains(index) {
                    tweets.push(*index);
                }
                if wants(x, "referenced_tweets.id.author_id") {
                    add_user(corpus.post(*index).author);
                }
            }
        }
        if wants(x, "geo.place_id")
            && let Some(place) = post.place
            && !places.contains(&place)
        {
            places.push(place);
        }
    }
    let mut includes = Map::new();
    if !users.is_empty() {
        let list = users.iter().map(|u| render_user(corpus, *u, p)).collect();
        includes.insert("users".into(), Value::Array(list));
    }
    if !tweets.is_empty() {
        let list = tweets
            .iter()
            .map(|i| render_post(corpus, &corpus.post(*i), p))
            .collect();
        includes.insert("tweets".into(), Value::Array(list));
    }
    if !media.is_empty() {
        includes.insert("media".into(), Value::Array(media));
    }
    if !places.is_empty() {
        let list = places
            .iter()
            .map(|pl| render_place(corpus, *pl, p))
            .collect();
        includes.insert("places".into(), Value::Array(list));
    }
    (!includes.is_empty()).then_some(Value::Object(includes))
}
