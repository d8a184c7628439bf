//! A deterministic corpus of Covid-19 and quarantine posts in English, Portuguese and Spanish.
//!
//! Post `i` is a pure function of `(seed, i)`: it arrives at `start + (i − backfill) / rate`
//! (posts before `backfill` already exist when the simulator starts), its id is a snowflake of
//! that time, so ids grow with `i` and with time, exactly as X's do. Generated posts are cached,
//! so every request sees the same posts.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::query::geo::BoundingBox;
use crate::query::{PlaceFacts, PostFacts, UserRef, normalize, tokenize};

/// X's snowflake epoch (2010-11-04T01:42:54.657Z).
pub const TWITTER_EPOCH_MS: i64 = 1_288_834_974_657;
const SEQUENCE_BITS: u32 = 22;
const USERS: usize = 600;
/// The X List whose members are the health-organisation accounts (users 0..6), for `list:`.
pub const HEALTH_ORGS_LIST_ID: u64 = 1_356_293_405_893_099_520;
/// The source of posts created for promotion only, which `-is:nullcast` removes.
pub const NULLCAST_SOURCE: &str = "Twitter for Advertisers";
/// Emoji posts end with; ❤️ carries a variation selector, as X's note on quoting emoji expects.
const EMOJI: [&str; 5] = ["😷", "🦠", "💉", "❤\u{FE0F}", "🏠"];
/// Cashtags of vaccine makers.
const CASHTAGS: [&str; 4] = ["PFE", "MRNA", "BNTX", "AZN"];
const SOURCES: [&str; 3] = [
    "Twitter for iPhone",
    "Twitter for Android",
    "Twitter Web App",
];

/// How posts arrive.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CorpusConfig {
    /// New posts per second (all languages together).
    pub posts_per_second: f64,
    /// Posts that already exist when the simulator starts (spaced at the same rate).
    pub backfill_posts: u64,
    /// Stop publishing after this many posts in total (backfill included).
    pub max_posts: Option<u64>,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            posts_per_second: 5.0,
            backfill_posts: 2000,
            max_posts: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Pt,
    Es,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pt => "pt",
            Lang::Es => "es",
        }
    }

    fn of_user(user: usize) -> Lang {
        [Lang::En, Lang::Pt, Lang::Es][user % 3]
    }

    fn slot(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Pt => 1,
            Lang::Es => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimUser {
    pub id: String,
    pub username: String,
    pub name: String,
    pub created_at: String,
    pub description: String,
    pub location: String,
    pub verified: bool,
    pub followers_count: u64,
    pub following_count: u64,
    pub tweet_count: u64,
    pub listed_count: u64,
}

#[derive(Debug, Clone)]
pub struct SimPlace {
    pub id: String,
    pub full_name: String,
    pub name: String,
    pub country: String,
    pub country_code: String,
    pub place_type: &'static str,
    pub bbox: [f64; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Retweeted,
    Quoted,
    RepliedTo,
}

impl RefKind {
    pub fn api_name(self) -> &'static str {
        match self {
            RefKind::Retweeted => "retweeted",
            RefKind::Quoted => "quoted",
            RefKind::RepliedTo => "replied_to",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HashtagEntity {
    pub start: usize,
    pub end: usize,
    pub tag: String,
}

#[derive(Debug, Clone)]
pub struct MentionEntity {
    pub start: usize,
    pub end: usize,
    pub user: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Video,
}

impl MediaKind {
    pub fn api_name(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
        }
    }
}

/// A photo or a native video attached to a post.
#[derive(Debug, Clone)]
pub struct SimMedia {
    pub media_key: String,
    pub kind: MediaKind,
}

/// A context annotation: X's topic classification of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextAnnotation {
    pub domain_id: u64,
    pub domain_name: &'static str,
    pub entity_id: u64,
    pub entity_name: &'static str,
}

/// Every post is about Covid-19 (X's "Ongoing News Story" domain).
pub const CONTEXT_COVID: ContextAnnotation = ContextAnnotation {
    domain_id: 123,
    domain_name: "Ongoing News Story",
    entity_id: 1_220_701_888_179_359_745,
    entity_name: "COVID-19",
};
/// Posts that mention a vaccine.
pub const CONTEXT_VACCINES: ContextAnnotation = ContextAnnotation {
    domain_id: 131,
    domain_name: "Unified Twitter Taxonomy",
    entity_id: 1_301_551_223_338_668_032,
    entity_name: "Vaccines",
};

/// An entity annotation (named-entity recognition) over a span of the text.
#[derive(Debug, Clone)]
pub struct EntityAnnotation {
    pub start: usize,
    pub end: usize,
    pub kind: &'static str,
    pub normalized_text: String,
}

#[derive(Debug, Clone)]
pub struct UrlEntity {
    pub start: usize,
    pub end: usize,
    pub url: String,
    pub expanded_url: String,
    pub display_url: String,
}

#[derive(Debug, Clone)]
pub struct SimPost {
    pub index: u64,
    pub id: u64,
    pub created_ms: i64,
    pub text: String,
    pub lang: Lang,
    pub author: usize,
    pub conversation_id: u64,
    pub in_reply_to_user: Option<usize>,
    pub referenced: Vec<(RefKind, u64)>,
    pub hashtags: Vec<HashtagEntity>,
    pub mentions: Vec<MentionEntity>,
    pub urls: Vec<UrlEntity>,
    pub cashtags: Vec<HashtagEntity>,
    pub annotations: Vec<EntityAnnotation>,
    pub context: Vec<ContextAnnotation>,
    pub media: Option<SimMedia>,
    pub place: Option<usize>,
    /// Exact (longitude, latitude) shared with the post, inside its place.
    pub coordinates: Option<(f64, f64)>,
    /// retweet, reply, like, quote, bookmark, impression.
    pub metrics: [u64; 6],
    pub possibly_sensitive: bool,
    pub source: &'static str,
    pub facts: PostFacts,
}

/// The corpus: users, places and posts arriving over time.
#[derive(Debug)]
pub struct Corpus {
    seed: u64,
    /// Creation time of post number `backfill`.
    start_ms: i64,
    interval_ms: f64,
    backfill: u64,
    max_posts: Option<u64>,
    pub users: Vec<SimUser>,
    pub places: Vec<(Lang, SimPlace)>,
    posts: RwLock<Vec<Arc<SimPost>>>,
}

pub fn format_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn mix(seed: u64, salt: u64, index: u64) -> u64 {
    // splitmix64 over (seed, salt, index): independent streams per post and purpose.
    let mut z =
        seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Corpus {
    pub fn new(config: &CorpusConfig, seed: u64, start_ms: i64) -> Self {
        let rate = if config.posts_per_second > 0.0 {
            config.posts_per_second
        } else {
            1e-9
        };
        Corpus {
            seed,
            start_ms,
            interval_ms: 1000.0 / rate,
            backfill: config.backfill_posts,
            max_posts: config.max_posts,
            users: (0..USERS).map(|u| make_user(seed, u)).collect(),
            places: make_places(),
            posts: RwLock::new(Vec::new()),
        }
    }

    /// Creation time of post `index`.
    pub fn created_ms(&self, index: u64) -> i64 {
        let offset = (index as f64 - self.backfill as f64) * self.interval_ms;
        self.start_ms + offset.floor() as i64
    }

    /// Snowflake id of post `index` (grows with the index).
    pub fn id_of(&self, index: u64) -> u64 {
        let ms = (self.created_ms(index) - TWITTER_EPOCH_MS).max(0) as u64;
        (ms << SEQUENCE_BITS) | (index & ((1 << SEQUENCE_BITS) - 1))
    }

    /// How many posts exist at `now_ms` (posts `0..n`).
    pub fn visible_count(&self, now_ms: i64) -> u64 {
        let elapsed = (now_ms - self.start_ms) as f64 / self.interval_ms;
        let count = if elapsed < -(self.backfill as f64) {
            0
        } else {
            (self.backfill as f64 + elapsed).floor() as u64 + 1
        };
        self.max_posts.map_or(count, |max| count.min(max))
    }

    /// Whether post `index` will ever be published (`max_posts` stops publication).
    pub fn will_publish(&self, index: u64) -> bool {
        self.max_posts.is_none_or(|max| index < max)
    }

    /// The first index in `0..upper` for which `pred` holds, `upper` if none (pred monotonic).
    pub fn partition_point(upper: u64, pred: impl Fn(u64) -> bool) -> u64 {
        let (mut lo, mut hi) = (0u64, upper);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(mid) { hi = mid } else { lo = mid + 1 }
        }
        lo
    }

    /// Post `index`, generated on first use.
    pub fn post(&self, index: u64) -> Arc<SimPost> {
        if let Some(post) = self
            .posts
            .read()
            .ok()
            .and_then(|p| p.get(index as usize).cloned())
        {
            return post;
        }
        let mut posts = match self.posts.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        while posts.len() as u64 <= index {
            let next = posts.len() as u64;
            posts.push(Arc::new(self.generate(next)));
        }
        posts[index as usize].clone()
    }

    fn generate(&self, index: u64) -> SimPost {
        let mut rng = StdRng::seed_from_u64(mix(self.seed, 2, index));
        let base = self.base(index);
        let id = self.id_of(index);
        let created_ms = self.created_ms(index);
        let earlier = |rng: &mut StdRng| index - 1 - rng.random_range(0..index.min(300));
        let roll: f64 = rng.random();
        let mut post = SimPost {
            index,
            id,
            created_ms,
            text: String::new(),
            lang: base.lang,
            author: base.author,
            conversation_id: id,
            in_reply_to_user: None,
            referenced: vec![],
            hashtags: vec![],
            mentions: vec![],
            urls: vec![],
            cashtags: vec![],
            annotations: vec![],
            context: vec![],
            media: base.media.clone(),
            place: base.place,
            coordinates: base.coordinates,
            metrics: [0; 6],
            possibly_sensitive: rng.random_bool(0.02),
            source: SOURCES[rng.random_range(0..SOURCES.len())],
            facts: PostFacts::default(),
        };
        let mut text = TextBuilder::default();
        if index > 0 && roll < 0.15 {
            // Retweet: "RT @author: original text", in the original's language.
            let original_index = earlier(&mut rng);
            let original = self.base(original_index);
            post.lang = original.lang;
            // A Retweet carries no place (X keeps it on the original) but shows its media.
            post.place = None;
            post.coordinates = None;
            post.media = original.media.clone();
            text.push("RT ");
            text.mention(original.author, &self.users);
            text.push(": ");
            text.append(&original.text);
            post.referenced.push((RefKind::Retweeted, original_index));
        } else if index > 0 && roll < 0.27 {
            let parent_index = earlier(&mut rng);
            let parent = self.base(parent_index);
            text.mention(parent.author, &self.users);
            text.push(" ");
            text.append(&base.text);
            post.conversation_id = self.id_of(parent_index);
            post.in_reply_to_user = Some(parent.author);
            post.referenced.push((RefKind::RepliedTo, parent_index));
        } else if index > 0 && roll < 0.35 {
            let quoted_index = earlier(&mut rng);
            text.append(&base.text);
            text.push(" ");
            let link = tco(&mut rng);
            let target = format!(
                "https://twitter.com/{}/status/{}",
                self.users[self.base(quoted_index).author].username,
                self.id_of(quoted_index)
            );
            text.url(link, target);
            post.referenced.push((RefKind::Quoted, quoted_index));
        } else {
            text.append(&base.text);
        }
        post.annotations = self.place_annotations(&text.text);
        post.context = context_of(&text.text);
        post.text = text.text;
        post.hashtags = text.hashtags;
        post.mentions = text.mentions;
        post.urls = text.urls;
        post.cashtags = text.cashtags;
        if mix(self.seed, 6, index).is_multiple_of(100) {
            post.source = NULLCAST_SOURCE;
        }
        let heavy = |rng: &mut StdRng, max: f64| (rng.random::<f64>().powi(4) * max) as u64;
        if !matches!(post.referenced.first(), Some((RefKind::Retweeted, _))) {
            post.metrics = [
                heavy(&mut rng, 400.0),
                heavy(&mut rng, 80.0),
                heavy(&mut rng, 2000.0),
                heavy(&mut rng, 40.0),
                heavy(&mut rng, 60.0),
                20 + heavy(&mut rng, 50_000.0),
            ];
        }
        post.facts = self.facts_of(&post);
        post
    }

    fn user_ref(&self, user: usize) -> UserRef {
        UserRef {
            username: self.users[user].username.to_lowercase(),
            id: self.users[user].id.clone(),
        }
    }

    /// What the query operators match on, from a generated post.
    fn facts_of(&self, post: &SimPost) -> PostFacts {
        let tokens = tokenize(&post.text);
        let context = &post.context;
        let referenced = |kind: RefKind| {
            post.referenced
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, index)| *index)
        };
        let retweeted = referenced(RefKind::Retweeted);
        let replied_to = referenced(RefKind::RepliedTo);
        let quoted = referenced(RefKind::Quoted);
        let entity_names = post
            .annotations
            .iter()
            .map(|a| normalize(&a.normalized_text))
            .chain(context.iter().map(|c| normalize(c.entity_name)))
            .collect();
        let [retweets, replies, likes, ..] = post.metrics;
        PostFacts {
            hashtags: post.hashtags.iter().map(|h| h.tag.to_lowercase()).collect(),
            cashtags: post.cashtags.iter().map(|c| c.tag.to_lowercase()).collect(),
            mentions: post
                .mentions
                .iter()
                .map(|m| self.users[m.user].username.to_lowercase())
                .collect(),
            author: self.users[post.author].username.to_lowercase(),
            author_id: self.users[post.author].id.clone(),
            author_verified: self.users[post.author].verified,
            author_lists: if post.author < 6 {
                vec![HEALTH_ORGS_LIST_ID]
            } else {
                vec![]
            },
            lang: post.lang.code().to_string(),
            is_retweet: retweeted.is_some(),
            is_reply: post.in_reply_to_user.is_some(),
            is_quote: quoted.is_some(),
            is_nullcast: post.source == NULLCAST_SOURCE,
            retweet_of_user: retweeted.map(|i| self.user_ref(self.base(i).author)),
            in_reply_to_user: post.in_reply_to_user.map(|u| self.user_ref(u)),
            in_reply_to_tweet: replied_to.map(|i| self.id_of(i)),
            retweet_of_tweet: retweeted.map(|i| self.id_of(i)),
            quote_of_tweet: quoted.map(|i| self.id_of(i)),
            conversation_id: post.conversation_id,
            url_tokens: post
                .urls
                .iter()
                .flat_map(|u| [tokenize(&u.url), tokenize(&u.expanded_url)])
                .collect(),
            context: context.iter().map(|c| (c.domain_id, c.entity_id)).collect(),
            entity_names,
            place: post.place.map(|p| {
                let place = &self.places[p].1;
                let [west, south, east, north] = place.bbox;
                PlaceFacts {
                    id: place.id.clone(),
                    name: normalize(&place.name),
                    full_name: normalize(&place.full_name),
                    country_code: place.country_code.clone(),
                    bbox: BoundingBox {
                        west,
                        south,
                        east,
                        north,
                    },
                }
            }),
            coordinates: post.coordinates,
            has_links: !post.urls.is_empty(),
            has_media: post.media.is_some(),
            has_images: post
                .media
                .as_ref()
                .is_some_and(|m| m.kind == MediaKind::Photo),
            has_video: post
                .media
                .as_ref()
                .is_some_and(|m| m.kind == MediaKind::Video),
            like_count: likes,
            reply_count: replies,
            repost_count: retweets,
            tokens,
        }
    }

    /// Entity annotations for the city names the text mentions.
    fn place_annotations(&self, text: &str) -> Vec<EntityAnnotation> {
        self.places
            .iter()
            .filter_map(|(_, place)| {
                let byte = text.find(&place.name)?;
                let start = text[..byte].chars().count();
                Some(EntityAnnotation {
                    start,
                    end: start + place.name.chars().count() - 1,
                    kind: "Place",
                    normalized_text: place.name.clone(),
                })
            })
            .collect()
    }

    /// The original content of post `index` (what a retweet of it copies).
    fn base(&self, index: u64) -> Base {
        let mut rng = StdRng::seed_from_u64(mix(self.seed, 1, index));
        let roll: f64 = rng.random();
        let lang = if roll < 0.5 {
            Lang::En
        } else if roll < 0.8 {
            Lang::Pt
        } else {
            Lang::Es
        };
        let author = lang.slot() + 3 * rng.random_range(0..USERS / 3);
        let content = content_for(lang);
        let cities: Vec<usize> = self
            .places
            .iter()
            .enumerate()
            .filter(|(_, (l, _))| *l == lang)
            .map(|(i, _)| i)
            .collect();
        let city = *cities.choose(&mut rng).unwrap_or(&0);
        let sentence = content
            .sentences
            .choose(&mut rng)
            .copied()
            .unwrap_or("covid");
        let sentence = sentence
            .replace("{city}", &self.places[city].1.name)
            .replace("{n}", &rng.random_range(2..120).to_string());
        let mut text = TextBuilder::default();
        if rng.random_bool(0.15) {
            let org = content.orgs.choose(&mut rng).copied().unwrap_or(0);
            text.mention(org, &self.users);
            text.push(" ");
        }
        text.push(&sentence);
        let tags = rng.random_range(0..=3usize);
        let mut chosen: Vec<&str> = content
            .hashtags
            .choose_multiple(&mut rng, tags)
            .copied()
            .collect();
        chosen.sort_unstable();
        for tag in chosen {
            text.push(" ");
            text.hashtag(tag);
        }
        // A separate stream, so the draws above (and the posts they made) stay as they were.
        let mut extra = StdRng::seed_from_u64(mix(self.seed, 5, index));
        if extra.random_bool(0.05) {
            let tag = CASHTAGS.choose(&mut extra).copied().unwrap_or("PFE");
            text.push(" ");
            text.cashtag(tag);
        }
        if extra.random_bool(0.2) {
            let emoji = EMOJI.choose(&mut extra).copied().unwrap_or("😷");
            text.push(" ");
            text.push(emoji);
        }
        if rng.random_bool(0.3) {
            let (expanded, display) = content.links.choose(&mut rng).copied().unwrap_or(("", ""));
            text.push(" ");
            let link = tco(&mut rng);
            text.url_with_display(link, expanded.to_string(), display.to_string());
        }
        let place = rng.random_bool(0.1).then_some(city);
        let media = extra.random_bool(0.12).then(|| {
            let kind = if extra.random_bool(0.35) {
                MediaKind::Video
            } else {
                MediaKind::Photo
            };
            let link = tco(&mut extra);
            let target = format!(
                "https://twitter.com/{}/status/{}/{}/1",
                self.users[author].username,
                self.id_of(index),
                kind.api_name()
            );
            let display = format!("pic.twitter.com/{}", &link["https://t.co/".len()..]);
            text.push(" ");
            text.url_with_display(link, target, display);
            SimMedia {
                media_key: format!(
                    "{}_{}",
                    if kind == MediaKind::Photo { 3 } else { 7 },
                    self.id_of(index)
                ),
                kind,
            }
        });
        // Half the geo-tagged posts share an exact point inside their place.
        let coordinates = place.filter(|_| extra.random_bool(0.5)).map(|p| {
            let [west, south, east, north] = self.places[p].1.bbox;
            (
                west + (east - west) * extra.random::<f64>(),
                south + (north - south) * extra.random::<f64>(),
            )
        });
        Base {
            lang,
            author,
            text,
            place,
            media,
            coordinates,
        }
    }

    /// Every visible post index whose post matches `pred`, newest first.
    pub fn indexes_matching(
        &self,
        lo: u64,
        hi: u64,
        mut pred: impl FnMut(&SimPost) -> bool,
    ) -> Vec<u64> {
        (lo..hi).rev().filter(|i| pred(&self.post(*i))).collect()
    }
}

/// X's topic classification, from the words of the text.
fn context_of(text: &str) -> Vec<ContextAnnotation> {
    let mut context = vec![CONTEXT_COVID];
    if tokenize(text)
        .iter()
        .any(|t| matches!(t.as_str(), "vaccine" | "vacina" | "vacuna"))
    {
        context.push(CONTEXT_VACCINES);
    }
    context
}

struct Base {
    lang: Lang,
    author: usize,
    text: TextBuilder,
    place: Option<usize>,
    media: Option<SimMedia>,
    coordinates: Option<(f64, f64)>,
}

fn tco(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let code: String = (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("https://t.co/{code}")
}

/// Builds text while recording entity offsets in characters, as X counts them.
#[derive(Debug, Clone, Default)]
struct TextBuilder {
    text: String,
    chars: usize,
    hashtags: Vec<HashtagEntity>,
    mentions: Vec<MentionEntity>,
    urls: Vec<UrlEntity>,
    cashtags: Vec<HashtagEntity>,
}

impl TextBuilder {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }

    fn hashtag(&mut self, tag: &str) {
        let start = self.chars;
        self.push("#");
        self.push(tag);
        self.hashtags.push(HashtagEntity {
            start,
            end: self.chars,
            tag: tag.to_string(),
        });
    }

    fn cashtag(&mut self, tag: &str) {
        let start = self.chars;
        self.push("$");
        self.push(tag);
        self.cashtags.push(HashtagEntity {
            start,
            end: self.chars,
            tag: tag.to_string(),
        });
    }

    fn mention(&mut self, user: usize, users: &[SimUser]) {
        let start = self.chars;
        self.push("@");
        self.push(&users[user].username);
        self.mentions.push(MentionEntity {
            start,
            end: self.chars,
            user,
        });
    }

    fn url(&mut self, link: String, expanded: String) {
        let display = expanded
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .chars()
            .take(26)
            .collect::<String>();
        self.url_with_display(link, expanded, display);
    }

    fn url_with_display(&mut self, link: String, expanded_url: String, display_url: String) {
        let start = self.chars;
        self.push(&link);
        self.urls.push(UrlEntity {
            start,
            end: self.chars,
            url: link,
            expanded_url,
            display_url,
        });
    }

    /// Appends another builder's text, shifting its entities.
    fn append(&mut self, other: &TextBuilder) {
        let shift = self.chars;
        self.push(&other.text);
        self.hashtags
            .extend(other.hashtags.iter().map(|h| HashtagEntity {
                start: h.start + shift,
                end: h.end + shift,
                tag: h.tag.clone(),
            }));
        self.mentions
            .extend(other.mentions.iter().map(|m| MentionEntity {
                start: m.start + shift,
                end: m.end + shift,
                user: m.user,
            }));
        self.urls.extend(other.urls.iter().map(|u| UrlEntity {
            start: u.start + shift,
            end: u.end + shift,
            ..u.clone()
        }));
        self.cashtags
            .extend(other.cashtags.iter().map(|c| HashtagEntity {
                start: c.start + shift,
                end: c.end + shift,
                tag: c.tag.clone(),
            }));
    }
}

struct Content {
    sentences: &'static [&'static str],
    hashtags: &'static [&'static str],
    /// Indexes of the health-organisation accounts (users 0..6, by language slot).
    orgs: &'static [usize],
    links: &'static [(&'static str, &'static str)],
}

fn content_for(lang: Lang) -> &'static Content {
    static EN: Content = Content {
        sentences: &[
            "New covid cases are rising again in {city}, please keep wearing masks",
            "Day {n} of quarantine and covid still dominates every conversation",
            "The covid vaccine rollout in {city} starts next week for people over 60",
            "Stay home if you can. Covid is not over yet",
            "Covid lockdown extended for two more weeks, schools in {city} stay closed",
            "Hospitals in {city} report fewer covid admissions this week",
            "Working from home during the covid quarantine is harder than I thought",
            "Got my second covid vaccine dose today, arm is sore but worth it",
            "Quarantine baking update: day {n}, covid sourdough number three",
            "Covid testing sites in {city} open late this weekend",
        ],
        hashtags: &[
            "COVID19",
            "StayHome",
            "Quarantine",
            "Lockdown",
            "CovidVaccine",
            "coronavirus",
        ],
        orgs: &[0, 3],
        links: &[
            (
                "https://www.who.int/emergencies/diseases/novel-coronavirus-2019",
                "who.int/emergencies/dis…",
            ),
            (
                "https://www.cdc.gov/coronavirus/2019-ncov/index.html",
                "cdc.gov/coronavirus/201…",
            ),
            (
                "https://www.nhs.uk/conditions/covid-19/",
                "nhs.uk/conditions/covid…",
            ),
        ],
    };
    static PT: Content = Content {
        sentences: &[
            "Mais um dia de quarentena por aqui, a covid não acabou, fiquem em casa",
            "Casos de covid voltam a subir em {city}, usem máscara",
            "A vacina contra a covid chega a {city} na semana que vem para os idosos",
            "Dia {n} de quarentena e a covid continua sendo o assunto do grupo da família",
            "O isolamento social por causa da covid continua em {city} até o fim do mês",
            "Tomei a segunda dose da vacina da covid hoje!",
            "Hospitais de {city} registram menos internações por covid nesta semana",
            "Home office na quarentena da covid: dia {n} e eu ainda de pijama",
        ],
        hashtags: &[
            "COVID19",
            "FiqueEmCasa",
            "quarentena",
            "Coronavirus",
            "vacina",
        ],
        orgs: &[1, 4],
        links: &[
            (
                "https://www.gov.br/saude/pt-br/coronavirus",
                "gov.br/saude/pt-br/coron…",
            ),
            (
                "https://www.sns24.gov.pt/tema/doencas-infecciosas/covid-19/",
                "sns24.gov.pt/tema/doenc…",
            ),
        ],
    };
    static ES: Content = Content {
        sentences: &[
            "Otro día de cuarentena por el covid, quédate en casa",
            "Suben de nuevo los casos de covid en {city}, usa mascarilla",
            "La vacuna contra el covid llega a {city} la próxima semana para mayores de 60",
            "Día {n} de cuarentena y el covid sigue siendo el tema en casa",
            "Se extiende el confinamiento por covid en {city} dos semanas más",
            "Hoy me pusieron la segunda dosis de la vacuna contra el covid",
            "Los hospitales de {city} reportan menos ingresos por covid esta semana",
        ],
        hashtags: &[
            "COVID19",
            "QuedateEnCasa",
            "cuarentena",
            "coronavirus",
            "vacuna",
        ],
        orgs: &[2, 5],
        links: &[
            (
                "https://www.sanidad.gob.es/areas/alertasEmergenciasSanitarias/",
                "sanidad.gob.es/areas/ale…",
            ),
            (
                "https://www.paho.org/es/temas/coronavirus",
                "paho.org/es/temas/coron…",
            ),
        ],
    };
    match lang {
        Lang::En => &EN,
        Lang::Pt => &PT,
        Lang::Es => &ES,
    }
}

fn make_user(seed: u64, index: usize) -> SimUser {
    // Users 0..6 are health organisations (two per language slot).
    const ORGS: [(&str, &str, &str); 6] = [
        (
            "WHO",
            "World Health Organization (WHO)",
            "Geneva, Switzerland",
        ),
        ("minsaude", "Ministério da Saúde", "Brasília, Brasil"),
        ("sanidadgob", "Ministerio de Sanidad", "Madrid, España"),
        ("CDCgov", "CDC", "Atlanta, GA"),
        ("opas_oms", "OPAS/OMS Brasil", "Brasília, Brasil"),
        ("opsoms", "OPS/OMS", "Washington, DC"),
    ];
    let mut rng = StdRng::seed_from_u64(mix(seed, 3, index as u64));
    let created_ms = 1_199_145_600_000 + rng.random_range(0..400_000_000_000i64);
    let id = 10_000_000 + mix(seed, 4, index as u64) % 1_500_000_000_000_000_000;
    if let Some((username, name, location)) = ORGS.get(index) {
        return SimUser {
            id: id.to_string(),
            username: (*username).to_string(),
            name: (*name).to_string(),
            created_at: format_time(created_ms),
            description: "Official public health information.".into(),
            location: (*location).to_string(),
            verified: true,
            followers_count: 1_000_000 + rng.random_range(0..9_000_000),
            following_count: rng.random_range(100..2000),
            tweet_count: rng.random_range(10_000..80_000),
            listed_count: rng.random_range(1000..50_000),
        };
    }
    let (first, last, towns): (&[&str], &[&str], &[&str]) = match Lang::of_user(index) {
        Lang::En => (
            &[
                "James", "Emily", "Olivia", "Liam", "Noah", "Ava", "Sophie", "Jack", "Grace",
                "Ethan",
            ],
            &[
                "Smith", "Brown", "Taylor", "Wilson", "Clarke", "Walker", "Hughes", "Baker",
            ],
            &[
                "London",
                "Manchester",
                "New York",
                "Toronto",
                "Sydney",
                "Chicago",
            ],
        ),
        Lang::Pt => (
            &[
                "Maria", "João", "Ana", "Pedro", "Beatriz", "Lucas", "Júlia", "Gabriel", "Larissa",
            ],
            &[
                "Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Almeida", "Ferreira",
            ],
            &[
                "São Paulo",
                "Rio de Janeiro",
                "Belo Horizonte",
                "Lisboa",
                "Porto",
                "Recife",
            ],
        ),
        Lang::Es => (
            &[
                "Lucía",
                "Mateo",
                "Sofía",
                "Diego",
                "Valentina",
                "Javier",
                "Camila",
                "Pablo",
            ],
            &[
                "García",
                "Martínez",
                "López",
                "Sánchez",
                "Pérez",
                "Gómez",
                "Fernández",
                "Ruiz",
            ],
            &[
                "Madrid",
                "Barcelona",
                "Buenos Aires",
                "Ciudad de México",
                "Bogotá",
                "Lima",
            ],
        ),
    };
    let first = first.choose(&mut rng).copied().unwrap_or("Alex");
    let last = last.choose(&mut rng).copied().unwrap_or("Doe");
    let ascii: String = format!("{first}{last}")
        .chars()
        .filter_map(|c| match c {
            'á' | 'ã' | 'â' => Some('a'),
            'é' | 'ê' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ô' => Some('o'),
            'ú' => Some('u'),
            'ç' => Some('c'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    SimUser {
        id: id.to_string(),
        username: format!("{ascii}{index}"),
        name: format!("{first} {last}"),
        created_at: format_time(created_ms),
        description: String::new(),
        location: towns.choose(&mut rng).copied().unwrap_or("").to_string(),
        verified: rng.random_bool(0.03),
        followers_count: (rng.random::<f64>().powi(3) * 50_000.0) as u64,
        following_count: rng.random_range(0..3000),
        tweet_count: rng.random_range(10..60_000),
        listed_count: rng.random_range(0..200),
    }
}

fn make_places() -> Vec<(Lang, SimPlace)> {
    let place =
        |id: &str, name: &str, full: &str, country: &str, code: &str, bbox: [f64; 4]| SimPlace {
            id: id.to_string(),
            full_name: full.to_string(),
            name: name.to_string(),
            country: country.to_string(),
            country_code: code.to_string(),
            place_type: "city",
            bbox,
        };
    vec![
        (
            Lang::En,
            place(
                "3eb2c704fe8a50cb",
                "London",
                "London, England",
                "United Kingdom",
                "GB",
                [-0.51, 51.28, 0.33, 51.69],
            ),
        ),
        (
            Lang::En,
            place(
                "01a9a39529b27f36",
                "New York",
                "Manhattan, NY",
                "United States",
                "US",
                [-74.03, 40.68, -73.91, 40.88],
            ),
        ),
        (
            Lang::En,
            place(
                "3797791ff9c0e4c6",
                "Toronto",
                "Toronto, Ontario",
                "Canada",
                "CA",
                [-79.64, 43.58, -79.12, 43.86],
            ),
        ),
        (
            Lang::En,
            place(
                "0073b76548e5984f",
                "Sydney",
                "Sydney, New South Wales",
                "Australia",
                "AU",
                [150.52, -34.12, 151.34, -33.58],
            ),
        ),
        (
            Lang::Pt,
            place(
                "68e019afec7d0ba5",
                "São Paulo",
                "São Paulo, Brasil",
                "Brasil",
                "BR",
                [-46.83, -24.01, -46.36, -23.36],
            ),
        ),
        (
            Lang::Pt,
            place(
                "97bcdfca1a2dca59",
                "Rio de Janeiro",
                "Rio de Janeiro, Brasil",
                "Brasil",
                "BR",
                [-43.8, -23.08, -43.1, -22.75],
            ),
        ),
        (
            Lang::Pt,
            place(
                "b6ff7a2b5b7b3f1d",
                "Lisboa",
                "Lisboa, Portugal",
                "Portugal",
                "PT",
                [-9.23, 38.69, -9.09, 38.8],
            ),
        ),
        (
            Lang::Pt,
            place(
                "d9d978b087a92583",
                "Belo Horizonte",
                "Belo Horizonte, Brasil",
                "Brasil",
                "BR",
                [-44.06, -20.06, -43.86, -19.78],
            ),
        ),
        (
            Lang::Es,
            place(
                "206e932cc0e89fa2",
                "Madrid",
                "Madrid, España",
                "España",
                "ES",
                [-3.89, 40.31, -3.52, 40.64],
            ),
        ),
        (
            Lang::Es,
            place(
                "018f1cde6bad9747",
                "Buenos Aires",
                "Buenos Aires, Argentina",
                "Argentina",
                "AR",
                [-58.53, -34.71, -58.33, -34.53],
            ),
        ),
        (
            Lang::Es,
            place(
                "25530ba03b7d90c6",
                "Ciudad de México",
                "Ciudad de México, México",
                "México",
                "MX",
                [-99.36, 19.05, -98.94, 19.59],
            ),
        ),
        (
            Lang::Es,
            place(
                "0b7ed8a7b1e0d2c4",
                "Bogotá",
                "Bogotá, Colombia",
                "Colombia",
                "CO",
                [-74.22, 4.47, -73.99, 4.84],
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Corpus {
        Corpus::new(
            &CorpusConfig {
                posts_per_second: 10.0,
                backfill_posts: 100,
                max_posts: None,
            },
            7,
            1_700_000_000_000,
        )
    }

    #[test]
    fn deterministic_from_the_seed() {
        let (a, b) = (corpus(), corpus());
        for i in [0, 1, 50, 99, 150] {
            assert_eq!(a.post(i).text, b.post(i).text);
            assert_eq!(a.post(i).id, b.post(i).id);
        }
        let other = Corpus::new(&CorpusConfig::default(), 8, 1_700_000_000_000);
        assert_ne!(
            (0..20).map(|i| a.post(i).text.clone()).collect::<Vec<_>>(),
            (0..20)
                .map(|i| other.post(i).text.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn ids_and_times_grow_with_the_index_and_arrive_over_time() {
        let c = corpus();
        for i in 1..500 {
            assert!(c.id_of(i) > c.id_of(i - 1));
            assert!(c.created_ms(i) >= c.created_ms(i - 1));
        }
        assert_eq!(c.visible_count(1_700_000_000_000), 101);
        assert_eq!(c.visible_count(1_700_000_001_000), 111);
        assert_eq!(c.visible_count(1_600_000_000_000), 0);
        let capped = Corpus::new(
            &CorpusConfig {
                posts_per_second: 10.0,
                backfill_posts: 100,
                max_posts: Some(120),
            },
            7,
            1_700_000_000_000,
        );
        assert_eq!(capped.visible_count(1_800_000_000_000), 120);
    }

    /// The freshness benchmark measures from this instant: post `i` is served (search's
    /// `visible_count`, the stream's next post) from its `created_ms` on, never before, and its
    /// `created_at` (milliseconds) and its id's snowflake time both say that millisecond.
    #[test]
    fn a_post_is_published_at_its_created_at_to_the_millisecond() {
        // 7 posts/s: a fractional interval, so creation times are rounded down.
        let c = Corpus::new(
            &CorpusConfig {
                posts_per_second: 7.0,
                backfill_posts: 10,
                max_posts: None,
            },
            3,
            1_700_000_000_123,
        );
        for i in 0..200 {
            let post = c.post(i);
            assert!(
                c.visible_count(post.created_ms - 1) <= i,
                "post {i} before its time"
            );
            assert!(
                c.visible_count(post.created_ms + 1) > i,
                "post {i} after its time"
            );
            assert_eq!(crate::params::snowflake_ms(post.id), post.created_ms);
            let created_at = DateTime::parse_from_rfc3339(&format_time(post.created_ms))
                .map(|t| t.timestamp_millis());
            assert_eq!(created_at, Ok(post.created_ms));
        }
    }

    #[test]
    fn realistic_mix_with_consistent_entities() {
        let c = corpus();
        let posts: Vec<_> = (0..2000).map(|i| c.post(i)).collect();
        let count = |f: &dyn Fn(&SimPost) -> bool| posts.iter().filter(|p| f(p)).count();
        for lang in [Lang::En, Lang::Pt, Lang::Es] {
            assert!(count(&|p| p.lang == lang) > 200, "{lang:?}");
        }
        assert!(count(&|p| p.facts.is_retweet) > 100);
        assert!(count(&|p| p.facts.is_reply) > 100);
        assert!(count(&|p| p.facts.is_quote) > 50);
        assert!(count(&|p| p.place.is_some()) > 50);
        assert!(count(&|p| !p.urls.is_empty()) > 200);
        assert!(count(&|p| !p.hashtags.is_empty()) > 500);
        assert_eq!(
            count(&|p| p.facts.tokens.iter().any(|t| t == "covid")),
            posts.len(),
            "every post is about covid"
        );
        for p in &posts {
            let chars: Vec<char> = p.text.chars().collect();
            for h in &p.hashtags {
                let s: String = chars[h.start..h.end].iter().collect();
                assert_eq!(s, format!("#{}", h.tag), "{}", p.text);
            }
            for m in &p.mentions {
                let s: String = chars[m.start..m.end].iter().collect();
                assert_eq!(s, format!("@{}", c.users[m.user].username));
            }
            for u in &p.urls {
                let s: String = chars[u.start..u.end].iter().collect();
                assert_eq!(s, u.url);
            }
            for (_, r) in &p.referenced {
                assert!(*r < p.index);
            }
        }
    }
}
