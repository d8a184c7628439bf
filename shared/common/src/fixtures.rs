//! The one source of sample posts for tests and benchmarks (feature `fixtures`, which only
//! dev-dependencies turn on; this crate's own tests have it too): a deterministic stream with
//! every kind of child row spread over two days, and single posts for the codec, the transformer
//! and the extractor's bench.

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
            let hashtags: Vec<Hashtag> = tags
                .iter()
                .map(|tag| {
                    let (start, end) = append(&mut text, &format!("#{tag}"));
                    Hashtag {
                        tag: (*tag).to_owned(),
                        start,
                        end,
                    }
                })
                .collect();
            let mentions: Vec<Mention> = mentioned
                .iter()
                .map(|user| {
                    let (start, end) = append(&mut text, &format!("@{user}"));
                    Mention {
                        id: Some(format!("{}", 500 + user.len())),
                        username: (*user).to_owned(),
                        start,
                        end,
                    }
                })
                .collect();
            let mut urls = Vec::new();
            if i % 4 == 0 {
                let short = format!("https://t.co/x{i}");
                let (start, end) = append(&mut text, &short);
                urls.push(Url {
                    url: short,
                    expanded_url: Some(format!("https://www.example{}.org/a/{i}", i % 3)),
                    display_url: Some(format!("example{}.org/a/{i}", i % 3)),
                    start,
                    end,
                });
            }
            let mut cashtags = Vec::new();
            if i % 7 == 3 {
                let (start, end) = append(&mut text, "$PFE");
                cashtags.push(Hashtag {
                    tag: "PFE".into(),
                    start,
                    end,
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

/// A post that fills every field of the schema.
pub fn full_post() -> Post {
    Post {
        id: "1798000000000000001".into(),
        text: "Fique em casa! #quarentena @saude https://t.co/abc".into(),
        created_at: 1_732_240_000_000,
        lang: Some("pt".into()),
        author_id: "42".into(),
        author: Some(maria()),
        conversation_id: Some("1798000000000000000".into()),
        in_reply_to_user_id: Some("7".into()),
        referenced: vec![ReferencedPost {
            kind: ReferenceKind::RepliedTo,
            id: "1798000000000000000".into(),
            author_id: Some("7".into()),
            text: None,
        }],
        hashtags: vec![Hashtag {
            tag: "quarentena".into(),
            start: 14,
            end: 25,
        }],
        mentions: vec![Mention {
            username: "saude".into(),
            id: Some("9".into()),
            start: 26,
            end: 32,
        }],
        urls: vec![Url {
            url: "https://t.co/abc".into(),
            expanded_url: Some("https://saude.gov.br/coronavirus".into()),
            display_url: Some("saude.gov.br/coronavirus".into()),
            start: 33,
            end: 49,
        }],
        cashtags: vec![Hashtag {
            tag: "PFE".into(),
            start: 50,
            end: 54,
        }],
        context_annotations: vec![context_covid()],
        metrics: Some(modest_metrics()),
        place: Some(Place {
            id: "68e019afec7d0ba5".into(),
            full_name: "São Paulo, Brasil".into(),
            name: Some("São Paulo".into()),
            country_code: Some("BR".into()),
            place_type: Some("city".into()),
        }),
        possibly_sensitive: Some(false),
        pipeline: "default/covid".into(),
        query_name: "covid-pt".into(),
        collected_at: 1_732_240_001_000,
    }
}

/// The author of [`full_post`], with every field set.
fn maria() -> User {
    User {
        id: "42".into(),
        username: "maria_sp".into(),
        name: "Maria".into(),
        verified: true,
        created_at: Some(1_300_000_000_000),
        location: Some("São Paulo".into()),
        followers_count: Some(120),
        following_count: Some(80),
        tweet_count: Some(4000),
    }
}

/// The public counts of [`full_post`] and [`news_post`]: a few retweets, replies and likes.
fn modest_metrics() -> PublicMetrics {
    PublicMetrics {
        retweet_count: 3,
        reply_count: 1,
        like_count: 10,
        quote_count: 0,
        impression_count: Some(500),
    }
}

/// A post with every optional field empty.
pub fn minimal_post() -> Post {
    Post {
        id: "5".into(),
        text: "covid".into(),
        created_at: 0,
        lang: None,
        author_id: "1".into(),
        author: None,
        conversation_id: None,
        in_reply_to_user_id: None,
        referenced: vec![],
        hashtags: vec![],
        mentions: vec![],
        urls: vec![],
        cashtags: vec![],
        context_annotations: vec![],
        metrics: None,
        place: None,
        possibly_sensitive: None,
        pipeline: "ns/p".into(),
        query_name: "q".into(),
        collected_at: 1,
    }
}

/// [`full_post`] as X may send it and the transformer must tidy: an escaped `&amp;` and a line
/// break in the text, a tag and a cashtag in two cases, entities without offsets, a repeated
/// annotation, the same entity under a second domain and an id that is not a number, a
/// lower-case country code; an original post (nothing referenced).
pub fn untidy_post() -> Post {
    Post {
        text: "Fique em casa &amp; bem!\n#Quarentena #QUARENTENA @Saude https://t.co/abc".into(),
        in_reply_to_user_id: None,
        referenced: vec![],
        hashtags: vec![
            Hashtag {
                tag: "Quarentena".into(),
                start: 25,
                end: 36,
            },
            Hashtag {
                tag: "QUARENTENA".into(),
                start: 37,
                end: 48,
            },
        ],
        // No offsets on the mention, the link and the cashtags.
        mentions: vec![Mention {
            start: 0,
            end: 0,
            username: "Saude".into(),
            id: Some("9".into()),
        }],
        urls: vec![Url {
            start: 0,
            end: 0,
            url: "https://t.co/abc".into(),
            expanded_url: Some("https://www.saude.gov.br/coronavirus".into()),
            display_url: Some("saude.gov.br/coronavirus".into()),
        }],
        cashtags: ["PFE", "$pfe"]
            .map(|tag| Hashtag {
                tag: tag.into(),
                start: 0,
                end: 0,
            })
            .into(),
        context_annotations: vec![
            news_story("123", "1220701888179359745", "COVID-19"),
            news_story("123", "1220701888179359745", "COVID-19"),
            news_story("131", "1220701888179359745", " COVID-19 "),
            news_story("x", "1", "not an id"),
        ],
        place: Some(Place {
            id: "68e019afec7d0ba5".into(),
            full_name: "São Paulo, Brasil".into(),
            name: None,
            country_code: Some("br".into()),
            place_type: None,
        }),
        query_name: "quarentena-pt".into(),
        ..full_post()
    }
}

/// An annotation in domain `domain_id` named "Ongoing News Story", without descriptions.
fn news_story(domain_id: &str, entity_id: &str, entity_name: &str) -> ContextAnnotation {
    ContextAnnotation {
        domain_id: domain_id.into(),
        domain_name: "Ongoing News Story".into(),
        domain_description: None,
        entity_id: entity_id.into(),
        entity_name: entity_name.into(),
        entity_description: None,
    }
}

/// Post `i` of a stream of alike posts, as the extractor's bench encodes and produces them: the
/// same Portuguese text with two hashtags, a mention and a link of its own; 500 authors. Built
/// field by field (not from [`full_post`]): the bench builds them while it is timed.
pub fn news_post(i: u64) -> Post {
    let id = (1_900_000_000_000_000_000 + i).to_string();
    let author = (1000 + i % 500).to_string();
    let link = format!("https://t.co/a{i:08}");
    Post {
        id: id.clone(),
        text: format!(
            "Casos de covid voltam a subir em São Paulo, usem máscara #COVID19 #FiqueEmCasa @minsaude {link}"
        ),
        created_at: 1_764_000_000_000 + i as i64,
        lang: Some("pt".into()),
        author_id: author.clone(),
        author: Some(User {
            id: author,
            username: format!("user{}", i % 500),
            name: "Maria Silva".into(),
            verified: false,
            ..maria()
        }),
        conversation_id: Some(id),
        in_reply_to_user_id: None,
        referenced: vec![],
        hashtags: vec![
            Hashtag {
                tag: "COVID19".into(),
                start: 55,
                end: 63,
            },
            Hashtag {
                tag: "FiqueEmCasa".into(),
                start: 64,
                end: 76,
            },
        ],
        mentions: vec![Mention {
            username: "minsaude".into(),
            id: Some("9".into()),
            start: 77,
            end: 86,
        }],
        urls: vec![Url {
            url: link,
            expanded_url: Some("https://www.gov.br/saude/pt-br/coronavirus".into()),
            display_url: Some("gov.br/saude/pt-br/coron…".into()),
            start: 87,
            end: 110,
        }],
        cashtags: vec![],
        context_annotations: vec![],
        metrics: Some(modest_metrics()),
        place: None,
        possibly_sensitive: Some(false),
        pipeline: "bench/extractor".into(),
        query_name: "bench".into(),
        collected_at: 1_764_000_001_000,
    }
}

/// Appends ` {entity}` to `text`; returns where the entity stands, in characters as X counts.
fn append(text: &mut String, entity: &str) -> (i32, i32) {
    let start = text.chars().count() as i32 + 1;
    text.push(' ');
    text.push_str(entity);
    (start, text.chars().count() as i32)
}

/// X's "Ongoing News Story" domain, entity COVID-19.
pub fn context_covid() -> ContextAnnotation {
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
pub fn context_vaccines() -> ContextAnnotation {
    ContextAnnotation {
        domain_id: "131".into(),
        domain_name: "Unified Twitter Taxonomy".into(),
        domain_description: None,
        entity_id: "1301551223338668032".into(),
        entity_name: "Vaccines".into(),
        entity_description: None,
    }
}
