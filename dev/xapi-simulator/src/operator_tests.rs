//! Each recent-search operator matched on the corpus: for every post, the query's answer must be
//! what the post's own data says, and each query must match some posts and not all.

use crate::corpus::{
    Corpus, CorpusConfig, HEALTH_ORGS_LIST_ID, MediaKind, NULLCAST_SOURCE, RefKind, SimPost,
};
use crate::query::geo::distance_km;
use crate::query::parse;
use std::sync::Arc;

const POSTS: u64 = 4000;

fn corpus() -> Corpus {
    Corpus::new(
        &CorpusConfig {
            posts_per_second: 10.0,
            backfill_posts: POSTS,
            max_posts: None,
        },
        11,
        1_700_000_000_000,
    )
}

fn posts(c: &Corpus) -> Vec<Arc<SimPost>> {
    (0..POSTS).map(|i| c.post(i)).collect()
}

/// Asserts `query` matches exactly the posts `expected` picks, and that it picks some but not all.
fn check(posts: &[Arc<SimPost>], query: &str, expected: impl Fn(&SimPost) -> bool) {
    let expr = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let mut matched = 0;
    for post in posts {
        let want = expected(post);
        assert_eq!(
            expr.matches(&post.facts),
            want,
            "{query} on post {} {:?}",
            post.index,
            post.text
        );
        matched += usize::from(want);
    }
    assert!(matched > 0, "{query} matched nothing");
    assert!(matched < posts.len(), "{query} matched everything");
}

fn referenced(post: &SimPost, kind: RefKind) -> Option<u64> {
    post.referenced
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, i)| *i)
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_string)
        .collect()
}

#[test]
fn keywords_emoji_phrases_and_entities() {
    let c = corpus();
    let all = posts(&c);
    check(&all, "quarantine", |p| {
        words(&p.text).iter().any(|w| w == "quarantine")
    });
    check(&all, "😷", |p| p.text.contains('😷'));
    check(&all, "(😷 OR 🦠)", |p| {
        p.text.contains('😷') || p.text.contains('🦠')
    });
    check(&all, "\"❤️\"", |p| p.text.contains('❤'));
    check(&all, "\"stay home\"", |p| {
        p.text.to_lowercase().contains("stay home")
    });
    // Accents fold: "internações" is matched by "internacoes".
    check(&all, "internacoes", |p| p.text.contains("internações"));
    check(&all, "#StayHome", |p| {
        p.hashtags.iter().any(|h| h.tag == "StayHome")
    });
    check(&all, "@WHO", |p| p.mentions.iter().any(|m| m.user == 0));
    check(&all, "$PFE", |p| p.cashtags.iter().any(|t| t.tag == "PFE"));
    check(&all, "covid has:cashtags", |p| !p.cashtags.is_empty());
    check(&all, "covid has:hashtags", |p| !p.hashtags.is_empty());
    check(&all, "covid has:mentions", |p| !p.mentions.is_empty());
}

#[test]
fn users_lists_and_verification() {
    let c = corpus();
    let all = posts(&c);
    let busy = all[100].author;
    let name = c.users[busy].username.clone();
    check(&all, &format!("from:{name}"), |p| p.author == busy);
    check(&all, &format!("from:{}", c.users[busy].id), |p| {
        p.author == busy
    });
    let replied = all
        .iter()
        .find_map(|p| p.in_reply_to_user)
        .expect("a reply");
    check(&all, &format!("to:{}", c.users[replied].username), |p| {
        p.in_reply_to_user == Some(replied)
    });
    let retweeted = all
        .iter()
        .find_map(|p| referenced(p, RefKind::Retweeted))
        .map(|i| c.post(i).author)
        .expect("a retweet");
    check(
        &all,
        &format!("retweets_of:{}", c.users[retweeted].username),
        |p| referenced(p, RefKind::Retweeted).is_some_and(|i| c.post(i).author == retweeted),
    );
    check(&all, &format!("list:{HEALTH_ORGS_LIST_ID}"), |p| {
        p.author < 6
    });
    check(&all, "covid is:verified", |p| c.users[p.author].verified);
}

#[test]
fn post_references_and_conversations() {
    let c = corpus();
    let all = posts(&c);
    check(&all, "covid is:retweet", |p| {
        referenced(p, RefKind::Retweeted).is_some()
    });
    check(&all, "covid is:reply", |p| p.in_reply_to_user.is_some());
    check(&all, "covid is:quote", |p| {
        referenced(p, RefKind::Quoted).is_some()
    });
    for (kind, operator, alias) in [
        (
            RefKind::RepliedTo,
            "in_reply_to_tweet_id",
            "in_reply_to_status_id",
        ),
        (
            RefKind::Retweeted,
            "retweets_of_tweet_id",
            "retweets_of_status_id",
        ),
        (RefKind::Quoted, "quotes_of_tweet_id", "quotes_of_status_id"),
    ] {
        let target = all
            .iter()
            .find_map(|p| referenced(p, kind))
            .expect("a reference");
        let id = c.id_of(target);
        for name in [operator, alias] {
            check(&all, &format!("{name}:{id}"), |p| {
                referenced(p, kind) == Some(target)
            });
        }
    }
    let reply = all
        .iter()
        .find(|p| p.in_reply_to_user.is_some())
        .expect("a reply");
    let conversation = reply.conversation_id;
    check(&all, &format!("conversation_id:{conversation}"), |p| {
        p.conversation_id == conversation
    });
}

#[test]
fn urls_media_and_nullcast() {
    let c = corpus();
    let all = posts(&c);
    check(&all, "url:\"who.int\"", |p| {
        p.urls.iter().any(|u| u.expanded_url.contains("who.int"))
    });
    check(&all, "covid url:\"https://t.co\"", |p| !p.urls.is_empty());
    check(&all, "covid has:links", |p| !p.urls.is_empty());
    for query in ["covid has:media", "covid has:media_link"] {
        check(&all, query, |p| p.media.is_some());
    }
    check(&all, "covid has:images", |p| {
        p.media.as_ref().is_some_and(|m| m.kind == MediaKind::Photo)
    });
    for query in ["covid has:video_link", "covid has:videos"] {
        check(&all, query, |p| {
            p.media.as_ref().is_some_and(|m| m.kind == MediaKind::Video)
        });
    }
    check(&all, "covid -is:nullcast", |p| p.source != NULLCAST_SOURCE);
}

#[test]
fn annotations() {
    let c = corpus();
    let all = posts(&c);
    check(&all, "context:131.1301551223338668032", |p| {
        words(&p.text)
            .iter()
            .any(|w| ["vaccine", "vacina", "vacuna"].contains(&w.as_str()))
    });
    check(
        &all,
        "context:123.1220701888179359745 -context:131.1301551223338668032",
        |p| !p.context.iter().any(|a| a.entity_name == "Vaccines"),
    );
    check(&all, "entity:\"London\"", |p| p.text.contains("London"));
    check(&all, "entity:\"Sao Paulo\"", |p| {
        p.text.contains("São Paulo")
    });
}

#[test]
fn places_and_geo() {
    let c = corpus();
    let all = posts(&c);
    let london = 0;
    assert_eq!(c.places[london].1.name, "London");
    check(&all, "place:london", |p| p.place == Some(london));
    check(&all, "place:\"rio de janeiro\"", |p| {
        p.place
            .is_some_and(|i| c.places[i].1.name == "Rio de Janeiro")
    });
    check(&all, &format!("place:{}", c.places[london].1.id), |p| {
        p.place == Some(london)
    });
    check(&all, "place_country:BR", |p| {
        p.place.is_some_and(|i| c.places[i].1.country_code == "BR")
    });
    check(&all, "covid has:geo", |p| p.place.is_some());
    let centre = (-0.1276, 51.5072);
    check(&all, "point_radius:[-0.1276 51.5072 20km]", |p| {
        p.coordinates
            .is_some_and(|point| distance_km(centre, point) <= 20.0)
    });
    check(&all, "bounding_box:[-0.3 51.4 0.0 51.6]", |p| {
        p.coordinates
            .is_some_and(|(lon, lat)| (-0.3..=0.0).contains(&lon) && (51.4..=51.6).contains(&lat))
    });
    // A box around all of Lisboa's place polygon matches its posts without exact coordinates too.
    check(&all, "geo_bounding_box:[-9.24 38.68 -9.08 38.81]", |p| {
        p.place.is_some_and(|i| c.places[i].1.name == "Lisboa")
    });
}

#[test]
fn language_and_engagement() {
    let c = corpus();
    let all = posts(&c);
    check(&all, "covid lang:pt", |p| p.lang.code() == "pt");
    check(&all, "min_likes:100", |p| p.metrics[2] >= 100);
    check(&all, "min_replies:10", |p| p.metrics[1] >= 10);
    check(&all, "min_reposts:50", |p| p.metrics[0] >= 50);
}
