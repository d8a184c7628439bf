//! Deterministic sample posts shared by tests and benchmarks (feature `fixtures`, which only
//! dev-dependencies turn on): every kind of child row, spread over two days.

use crate::post::{
    ContextAnnotation, Hashtag, Mention, Place, Post, PublicMetrics, ReferenceKind, ReferencedPost,
    Url, User,
};

const LANGS: [&str; 5] = ["en", "pt", "es", "und", "pt"];
/// The query names the sample posts cycle through.
pub const QUERIES: [&str; 3] = ["covid-en", "covid-pt", "quarentena-pt"];
const TAGS: [&str; 8] = [
    "COVID19",
    "covid19",
    "Quarentena",
    "FiqueEmCasa",
    "vacina",
    "StayHome",
    "lockdown",
    "SUS",
];
const USERS: [&str; 6] = ["WHO", "minsaude", "cdcgov", "Maria_SP", "joao", "opas_oms"];
const WORDS: [&str; 10] = [
    "great", "terrible", "feliz", "triste", "news", "hoje", "vacuna", "muertes", "love", "&amp;",
];

/// `n` deterministic posts with every kind of child row, spread over two days. Ids start at
/// `first_id`; authors repeat so that user upserts collide.
pub fn sample_posts(n: usize, first_id: u64) -> Vec<Post> {
    let base_ms: i64 = 1_732_233_600_000; // 2024-11-22T00:00:00Z
    (0..n)
        .map(|i| {
            let id = first_id + i as u64;
            let lang = LANGS[i % LANGS.len()];
            let author = 1_000 + (i % 37) as u64;
            let tags: Vec<&str> = (0..(i % 3))
                .map(|k| TAGS[(i + k * 3) % TAGS.len()])
                .collect();
            let mentioned: Vec<&str> = (0..(i % 2 + (i % 5 == 0) as usize))
                .map(|k| USERS[(i + k) % USERS.len()])
                .collect();
            let mut text = format!(
                "{} {} post {i}",
                WORDS[i % WORDS.len()],
                WORDS[(i * 7) % WORDS.len()]
            );
            let mut hashtags = Vec::new();
            for tag in &tags {
                let start = text.chars().count() as i32 + 1;
                text.push_str(&format!(" #{tag}"));
                hashtags.push(Hashtag {
                    tag: (*tag).to_owned(),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            let mut mentions = Vec::new();
            for user in &mentioned {
                let start = text.chars().count() as i32 + 1;
                text.push_str(&format!(" @{user}"));
                mentions.push(Mention {
                    username: (*user).to_owned(),
                    id: Some(format!("{}", 500 + user.len())),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            let mut urls = Vec::new();
            if i % 4 == 0 {
                let short = format!("https://t.co/x{i}");
                let start = text.chars().count() as i32 + 1;
                text.push_str(&format!(" {short}"));
                urls.push(Url {
                    url: short,
                    expanded_url: Some(format!("https://www.example{}.org/a/{i}", i % 3)),
                    display_url: Some(format!("example{}.org/a/{i}", i % 3)),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            let mut cashtags = Vec::new();
            if i % 7 == 3 {
                let start = text.chars().count() as i32 + 1;
                text.push_str(" $PFE");
                cashtags.push(Hashtag {
                    tag: "PFE".into(),
                    start,
                    end: text.chars().count() as i32,
                });
            }
            // X's shapes: one domain/entity pair on most posts, a second on some, none on others.
            let context_annotations: Vec<ContextAnnotation> = match i % 4 {
                0 | 1 => vec![context_covid()],
                2 => vec![context_covid(), context_vaccines()],
                _ => vec![],
            };
            let referenced = match i % 6 {
                1 => vec![ReferencedPost {
                    kind: ReferenceKind::Retweeted,
                    id: format!("{}", 9_000_000 + i),
                    author_id: Some("77".into()),
                    text: None,
                }],
                2 => vec![ReferencedPost {
                    kind: ReferenceKind::RepliedTo,
                    id: format!("{}", 9_000_000 + i),
                    author_id: None,
                    text: None,
                }],
                3 => vec![ReferencedPost {
                    kind: ReferenceKind::Quoted,
                    id: format!("{}", 9_000_000 + i),
                    author_id: None,
                    text: Some("quoted".into()),
                }],
                _ => vec![],
            };
            Post {
                id: id.to_string(),
                text,
                created_at: base_ms + (i as i64 * 97_000) % (48 * 3_600_000),
                lang: (lang != "und").then(|| lang.to_owned()),
                author_id: author.to_string(),
                author: Some(User {
                    id: author.to_string(),
                    username: format!("user{author}"),
                    name: format!("User {author}"),
                    verified: author.is_multiple_of(2),
                    created_at: Some(1_300_000_000_000),
                    location: author.is_multiple_of(3).then(|| "São Paulo".to_owned()),
                    followers_count: Some(i as i64),
                    following_count: Some(10),
                    tweet_count: Some(100),
                }),
                conversation_id: Some(id.to_string()),
                in_reply_to_user_id: None,
                referenced,
                hashtags,
                mentions,
                urls,
                cashtags,
                context_annotations,
                metrics: Some(PublicMetrics {
                    retweet_count: (i % 11) as i64,
                    reply_count: 0,
                    like_count: (i % 13) as i64,
                    quote_count: 0,
                    impression_count: None,
                }),
                place: (i % 10 == 0).then(|| Place {
                    id: "68e019afec7d0ba5".into(),
                    full_name: "São Paulo, Brasil".into(),
                    name: None,
                    country_code: Some("BR".into()),
                    place_type: Some("city".into()),
                }),
                possibly_sensitive: Some(false),
                pipeline: "test/pipeline".into(),
                query_name: QUERIES[i % QUERIES.len()].into(),
                collected_at: base_ms + 48 * 3_600_000 + i as i64,
            }
        })
        .collect()
}

/// X's "Ongoing News Story" domain, entity COVID-19.
fn context_covid() -> ContextAnnotation {
    ContextAnnotation {
        domain_id: "123".into(),
        domain_name: "Ongoing News Story".into(),
        domain_description: Some("Ongoing News Stories like 'Brexit'".into()),
        entity_id: "1220701888179359745".into(),
        entity_name: "COVID-19".into(),
        entity_description: None,
    }
}

/// X's "Unified Twitter Taxonomy" domain, entity Vaccines.
fn context_vaccines() -> ContextAnnotation {
    ContextAnnotation {
        domain_id: "131".into(),
        domain_name: "Unified Twitter Taxonomy".into(),
        domain_description: None,
        entity_id: "1301551223338668032".into(),
        entity_name: "Vaccines".into(),
        entity_description: None,
    }
}
