//! The X API v2 recent-search query language, whole: keywords, emoji, "quoted phrases" (with
//! `\"` escapes), `#hashtags`, `@mentions`, `$cashtags`, every documented operator and alias,
//! `OR`, parentheses and negation. Adjacent clauses are ANDed; `OR` binds looser than AND, as on
//! X. Whitespace is Unicode whitespace throughout (a query of U+00A0 or U+3000 only is empty).
//!
//! Refusals carry X's own wording where X's answers are known (`Reference to invalid operator`,
//! `is/has/lang cannot be used as a standalone operator`, `Rules must contain at least one
//! positive, non-stopword clause`, `missing EOF at ')'`, `no viable alternative at ...`,
//! `Ambiguous use of and as a keyword ...`) and X's documented rules in words elsewhere.

use std::fmt;

use crate::access::AccessLevel;
use crate::geo::{BoundingBox, PointRadius, is_country_code};
use crate::text::{normalize, tokenize};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A keyword or emoji, normalized; matches a whole token of the text.
    Term(String),
    /// A quoted phrase (or a hyphenated keyword), normalized; matches a run of whole tokens.
    Phrase(Vec<String>),
    Hashtag(String),
    Mention(String),
    Cashtag(String),
    /// `from:` a username (lowercased) or numeric user id.
    From(String),
    /// `to:`: replies to a username or user id.
    To(String),
    /// `retweets_of:`: Retweets of a username's or user id's posts.
    RetweetsOf(String),
    /// `url:`: a token run of a link's `url` or `expanded_url`.
    Url(Vec<String>),
    InReplyToTweet(u64),
    RetweetsOfTweet(u64),
    QuotesOfTweet(u64),
    ConversationId(u64),
    /// `context:domain_id.entity_id`.
    Context {
        domain: u64,
        entity: u64,
    },
    /// `entity:"name"`, normalized.
    Entity(String),
    List(u64),
    /// `place:` a place name (normalized) or X place id.
    Place(String),
    /// `place_country:`, upper case.
    PlaceCountry(String),
    PointRadius(PointRadius),
    BoundingBox(BoundingBox),
    MinLikes(u64),
    MinReplies(u64),
    MinReposts(u64),
    /// `lang:`, lower case (`zh-cn`, `hi-latn`).
    Lang(String),
    Is(IsOperator),
    Has(HasOperator),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsOperator {
    Retweet,
    Reply,
    Quote,
    Verified,
    /// Only as `-is:nullcast`.
    Nullcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasOperator {
    Hashtags,
    Cashtags,
    Links,
    Mentions,
    /// Alias `has:media_link`.
    Media,
    Images,
    /// Alias `has:videos`.
    VideoLink,
    Geo,
}

/// What kind of mistake a refused query makes (for callers that explain it in their own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// Nothing but whitespace (any Unicode whitespace).
    Empty,
    /// Longer than the access level allows.
    TooLong {
        /// Length in characters (not bytes).
        length: usize,
        /// The access level's limit.
        limit: usize,
    },
    /// A `(` without its `)` or a `)` without its `(`.
    UnbalancedParentheses,
    /// Only conjunction-required operators (`lang:`, `is:`, `has:`) and negations.
    NoStandaloneClause,
    /// An operator X does not have in recent search (`sample:`, `filter:`, `since:`, ...).
    UnknownOperator,
    /// An advanced operator the access level does not include.
    OperatorNotInAccessLevel,
    /// An operator with nothing after its `:`.
    MissingValue,
    /// A value of the wrong shape (radius over 25 miles, bad country code, `context:` not
    /// `domain.entity`, ...).
    InvalidValue,
    /// `is:nullcast` without its `-`.
    NullcastNotNegated,
    /// Any other syntax error (dangling `OR` or `-`, stray characters, unterminated quote, ...).
    Syntax,
}

/// Why a query was refused; the message follows X's wording and names the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The class of mistake.
    pub kind: QueryErrorKind,
    /// What is wrong, without X's prefix or the position, e.g. `Missing clause after 'OR'`.
    pub detail: String,
    /// 1-based character position X reports, when the mistake has one.
    pub position: Option<usize>,
    /// X's full message, e.g. `There were errors processing your request: … (at position 7)`.
    pub message: String,
}

fn error(detail: impl fmt::Display, position: usize) -> QueryError {
    error_of(QueryErrorKind::Syntax, detail, position)
}

fn error_of(kind: QueryErrorKind, detail: impl fmt::Display, position: usize) -> QueryError {
    let detail = detail.to_string();
    QueryError {
        kind,
        message: format!(
            "There were errors processing your request: {detail} (at position {})",
            position + 1
        ),
        detail,
        position: Some(position + 1),
    }
}

/// A user as posts refer to them: lowercased username and numeric id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRef {
    pub username: String,
    pub id: String,
}

impl UserRef {
    fn is(&self, value: &str) -> bool {
        self.username == value || self.id == value
    }
}

/// A tagged place, as the geo and place operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceFacts {
    pub id: String,
    /// Normalized (lower case, accents folded).
    pub name: String,
    /// Normalized.
    pub full_name: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_code: String,
    pub bbox: BoundingBox,
}

/// What a query can be evaluated against.
#[derive(Debug, Clone, Default)]
pub struct PostFacts {
    /// Tokens of the text ([`tokenize`]).
    pub tokens: Vec<String>,
    /// Lowercased hashtags without `#`.
    pub hashtags: Vec<String>,
    /// Lowercased cashtags without `$`.
    pub cashtags: Vec<String>,
    /// Lowercased mentioned usernames without `@`.
    pub mentions: Vec<String>,
    /// Lowercased author username.
    pub author: String,
    pub author_id: String,
    pub author_verified: bool,
    /// Lists the author is a member of.
    pub author_lists: Vec<u64>,
    pub lang: String,
    pub is_retweet: bool,
    pub is_reply: bool,
    pub is_quote: bool,
    /// Created for promotion only (source "Twitter for Advertisers").
    pub is_nullcast: bool,
    /// The author of the retweeted post, for a Retweet.
    pub retweet_of_user: Option<UserRef>,
    /// The user replied to.
    pub in_reply_to_user: Option<UserRef>,
    pub in_reply_to_tweet: Option<u64>,
    pub retweet_of_tweet: Option<u64>,
    pub quote_of_tweet: Option<u64>,
    pub conversation_id: u64,
    /// Tokens of each link's `url` and `expanded_url`.
    pub url_tokens: Vec<Vec<String>>,
    /// Context annotations: (domain id, entity id).
    pub context: Vec<(u64, u64)>,
    /// Entity annotations' and context entities' names, normalized.
    pub entity_names: Vec<String>,
    pub place: Option<PlaceFacts>,
    /// Exact (longitude, latitude), when the author shared it.
    pub coordinates: Option<(f64, f64)>,
    pub has_links: bool,
    pub has_media: bool,
    pub has_images: bool,
    pub has_video: bool,
    pub like_count: u64,
    pub reply_count: u64,
    pub repost_count: u64,
}

fn is_run_of(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl Expr {
    pub fn matches(&self, post: &PostFacts) -> bool {
        match self {
            Expr::And(all) => all.iter().all(|e| e.matches(post)),
            Expr::Or(any) => any.iter().any(|e| e.matches(post)),
            Expr::Not(inner) => !inner.matches(post),
            Expr::Term(term) => post.tokens.iter().any(|t| t == term),
            Expr::Phrase(words) => is_run_of(&post.tokens, words),
            Expr::Hashtag(tag) => post.hashtags.iter().any(|h| h == tag),
            Expr::Mention(user) => post.mentions.iter().any(|m| m == user),
            Expr::Cashtag(tag) => post.cashtags.iter().any(|c| c == tag),
            Expr::From(user) => post.author == *user || post.author_id == *user,
            Expr::To(user) => post.in_reply_to_user.as_ref().is_some_and(|u| u.is(user)),
            Expr::RetweetsOf(user) => post.retweet_of_user.as_ref().is_some_and(|u| u.is(user)),
            Expr::Url(words) => post.url_tokens.iter().any(|url| is_run_of(url, words)),
            Expr::InReplyToTweet(id) => post.in_reply_to_tweet == Some(*id),
            Expr::RetweetsOfTweet(id) => post.retweet_of_tweet == Some(*id),
            Expr::QuotesOfTweet(id) => post.quote_of_tweet == Some(*id),
            Expr::ConversationId(id) => post.conversation_id == *id,
            Expr::Context { domain, entity } => post.context.contains(&(*domain, *entity)),
            Expr::Entity(name) => post.entity_names.iter().any(|n| n == name),
            Expr::List(list) => post.author_lists.contains(list),
            Expr::Place(place) => post
                .place
                .as_ref()
                .is_some_and(|p| p.id == *place || p.name == *place || p.full_name == *place),
            Expr::PlaceCountry(code) => {
                post.place.as_ref().is_some_and(|p| p.country_code == *code)
            }
            // X: the exact location when present, else a place polygon wholly inside the region.
            Expr::PointRadius(circle) => match (post.coordinates, &post.place) {
                (Some(point), _) => circle.contains(point),
                (None, Some(place)) => place.bbox.corners().iter().all(|c| circle.contains(*c)),
                (None, None) => false,
            },
            Expr::BoundingBox(area) => match (post.coordinates, &post.place) {
                (Some(point), _) => area.contains(point),
                (None, Some(place)) => area.contains_box(&place.bbox),
                (None, None) => false,
            },
            Expr::MinLikes(n) => post.like_count >= *n,
            Expr::MinReplies(n) => post.reply_count >= *n,
            Expr::MinReposts(n) => post.repost_count >= *n,
            Expr::Lang(lang) => post.lang.eq_ignore_ascii_case(lang),
            Expr::Is(IsOperator::Retweet) => post.is_retweet,
            Expr::Is(IsOperator::Reply) => post.is_reply,
            Expr::Is(IsOperator::Quote) => post.is_quote,
            Expr::Is(IsOperator::Verified) => post.author_verified,
            Expr::Is(IsOperator::Nullcast) => post.is_nullcast,
            Expr::Has(HasOperator::Hashtags) => !post.hashtags.is_empty(),
            Expr::Has(HasOperator::Cashtags) => !post.cashtags.is_empty(),
            // X: "links and media in the Post body".
            Expr::Has(HasOperator::Links) => post.has_links || post.has_media,
            Expr::Has(HasOperator::Mentions) => !post.mentions.is_empty(),
            Expr::Has(HasOperator::Media) => post.has_media,
            Expr::Has(HasOperator::Images) => post.has_images,
            Expr::Has(HasOperator::VideoLink) => post.has_video,
            Expr::Has(HasOperator::Geo) => post.place.is_some() || post.coordinates.is_some(),
        }
    }

    /// True when the expression can match on its own: X refuses queries made only of
    /// conjunction-required operators (`lang:`, `is:`, `has:`) or negations.
    fn has_standalone_clause(&self) -> bool {
        match self {
            Expr::Not(_) | Expr::Lang(_) | Expr::Is(_) | Expr::Has(_) => false,
            Expr::And(all) => all.iter().any(Expr::has_standalone_clause),
            Expr::Or(any) => any.iter().all(Expr::has_standalone_clause),
            _ => true,
        }
    }

    /// Whether a positive `is:`, `has:` or `lang:` clause occurs (it decides X's wording).
    fn has_positive_conjunction_operator(&self) -> bool {
        match self {
            Expr::Lang(_) | Expr::Is(_) | Expr::Has(_) => true,
            Expr::And(all) | Expr::Or(all) => {
                all.iter().any(Expr::has_positive_conjunction_operator)
            }
            _ => false,
        }
    }
}

/// An operator's value as written: bare, `"quoted"` or `[bracketed]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bare(String),
    Quoted(String),
    Bracketed(String),
}

impl Value {
    fn text(&self) -> &str {
        match self {
            Value::Bare(s) | Value::Quoted(s) | Value::Bracketed(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    Word(String),
    Phrase(String),
    Operator { name: String, value: Value },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Or,
    /// `-(`: a negated group.
    NegatedOpen,
    Clause {
        clause: Clause,
        negated: bool,
    },
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

/// Operator names are ASCII letters and `_`; anything else before a `:` is text (`https:`).
fn is_operator_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
}

/// Reads a `"..."` starting at `open`; `\"` and `\\` are escapes. Returns the text and the index
/// after the closing quote.
fn quoted(chars: &[char], open: usize, start: usize) -> Result<(String, usize), QueryError> {
    let mut text = String::new();
    let mut i = open + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                text.push(chars[i + 1]);
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            _ => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(error(
        "Unterminated quoted phrase: a '\"' needs its closing '\"'",
        start,
    ))
}

fn lex(query: &str) -> Result<Vec<(Token, usize)>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                tokens.push((Token::Open, start));
                i += 1;
                continue;
            }
            ')' => {
                tokens.push((Token::Close, start));
                i += 1;
                continue;
            }
            _ => {}
        }
        let negated = c == '-';
        if negated {
            i += 1;
            match chars.get(i) {
                None => return Err(error("Negation '-' must precede a clause", start)),
                Some(c) if c.is_whitespace() || *c == ')' || *c == '-' => {
                    return Err(error("Negation '-' must precede a clause", start));
                }
                Some('(') => {
                    tokens.push((Token::NegatedOpen, start));
                    i += 1;
                    continue;
                }
                Some(_) => {}
            }
        }
        match chars[i] {
            '"' => {
                let (text, next) = quoted(&chars, i, start)?;
                tokens.push((
                    Token::Clause {
                        clause: Clause::Phrase(text),
                        negated,
                    },
                    start,
                ));
                i = next;
                continue;
            }
            // X's lexer takes neither as the start of a clause: single quotes are not phrase
            // quotes, and brackets belong to point_radius:/bounding_box: values only.
            '\'' => return Err(error("no viable alternative at character '''", i)),
            '[' | ']' => {
                return Err(error(
                    format!("no viable alternative at input '{}'", chars[i]),
                    i,
                ));
            }
            _ => {}
        }
        let word_start = i;
        // Set when an operator with a quoted or bracketed value has been read whole.
        let mut operator_read = false;
        while i < chars.len() && !ends_word(chars[i]) {
            if chars[i] == ':' {
                let name: String = chars[word_start..i].iter().collect();
                if is_operator_name(&name) {
                    match chars.get(i + 1) {
                        Some('"') => {
                            let (text, next) = quoted(&chars, i + 1, start)?;
                            tokens.push((
                                Token::Clause {
                                    clause: Clause::Operator {
                                        name,
                                        value: Value::Quoted(text),
                                    },
                                    negated,
                                },
                                start,
                            ));
                            i = next;
                            operator_read = true;
                            break;
                        }
                        Some('[') => {
                            let close =
                                chars[i + 2..]
                                    .iter()
                                    .position(|c| *c == ']')
                                    .ok_or_else(|| {
                                        error(format!("missing ']' after '{name}:['"), start)
                                    })?;
                            let inside: String = chars[i + 2..i + 2 + close].iter().collect();
                            tokens.push((
                                Token::Clause {
                                    clause: Clause::Operator {
                                        name,
                                        value: Value::Bracketed(inside),
                                    },
                                    negated,
                                },
                                start,
                            ));
                            i += close + 3;
                            operator_read = true;
                            break;
                        }
                        _ => {}
                    }
                }
            }
            i += 1;
        }
        if operator_read {
            continue;
        }
        let text: String = chars[word_start..i].iter().collect();
        let token = match text.as_str() {
            "OR" if !negated => Token::Or,
            "AND" => {
                return Err(error(
                    "Ambiguous use of and as a keyword. Use a space to logically join two clauses, or \"and\" to find occurrences of and in text",
                    start,
                ));
            }
            _ => Token::Clause {
                clause: word_clause(text),
                negated,
            },
        };
        tokens.push((token, start));
    }
    Ok(tokens)
}

fn word_clause(text: String) -> Clause {
    if let Some((name, value)) = text.split_once(':') {
        // URL-looking words (https://…) are searched as text, as on X.
        if is_operator_name(name) && !value.starts_with("//") {
            return Clause::Operator {
                name: name.to_string(),
                value: Value::Bare(value.to_string()),
            };
        }
    }
    Clause::Word(text)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end: usize,
    level: AccessLevel,
    list_seen: bool,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(_, p)| *p)
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut branches = vec![self.and_expr()?];
        while self.peek() == Some(&Token::Or) {
            let at = self.position();
            self.pos += 1;
            if matches!(self.peek(), None | Some(Token::Close | Token::Or)) {
                return Err(error("Missing clause after 'OR'", at));
            }
            branches.push(self.and_expr()?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Expr::Or(branches)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut clauses = Vec::new();
        while let Some(token) = self.peek() {
            match token {
                Token::Or | Token::Close => break,
                _ => clauses.push(self.unary()?),
            }
        }
        match clauses.len() {
            0 => {
                let what = if self.peek() == Some(&Token::Or) {
                    "Missing clause before 'OR'"
                } else {
                    "Empty clause"
                };
                Err(error(what, self.position()))
            }
            1 => Ok(clauses.remove(0)),
            _ => Ok(Expr::And(clauses)),
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        let (token, at) = self.tokens[self.pos].clone();
        self.pos += 1;
        match token {
            Token::Open | Token::NegatedOpen => {
                let inner = self.or_expr()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(error_of(
                        QueryErrorKind::UnbalancedParentheses,
                        "missing ')' to close the '(' here",
                        at,
                    ));
                }
                self.pos += 1;
                Ok(negate(inner, token == Token::NegatedOpen))
            }
            Token::Clause { clause, negated } => {
                let expr = self.clause(clause, at)?;
                if expr == Expr::Is(IsOperator::Nullcast) && !negated {
                    return Err(error_of(
                        QueryErrorKind::NullcastNotNegated,
                        "is:nullcast must always be negated: use -is:nullcast",
                        at,
                    ));
                }
                Ok(negate(expr, negated))
            }
            Token::Close | Token::Or => Err(error("Unexpected token", at)),
        }
    }

    fn clause(&mut self, clause: Clause, at: usize) -> Result<Expr, QueryError> {
        match clause {
            Clause::Phrase(text) => {
                let words = tokenize(&text);
                match words.len() {
                    0 => Err(error("Empty quoted phrase", at)),
                    1 => Ok(Expr::Term(words.into_iter().next().unwrap_or_default())),
                    _ => Ok(Expr::Phrase(words)),
                }
            }
            Clause::Word(text) => word(&text, at, self.level),
            Clause::Operator { name, value } => self.operator(&name, &value, at),
        }
    }

    fn operator(&mut self, written: &str, value: &Value, at: usize) -> Result<Expr, QueryError> {
        let lowered = written.to_ascii_lowercase();
        let name = canonical_operator(&lowered);
        let Some(spec) = OPERATORS.iter().find(|o| o.name == name) else {
            return Err(error_of(
                QueryErrorKind::UnknownOperator,
                format!("Reference to invalid operator '{written}'"),
                at,
            ));
        };
        let text = value.text();
        if text.is_empty() && !matches!(value, Value::Quoted(_)) {
            return Err(error_of(
                QueryErrorKind::MissingValue,
                format!("Operator '{written}:' needs a value, e.g. {}", spec.example),
                at,
            ));
        }
        let invalid = |why: String| {
            error_of(
                QueryErrorKind::InvalidValue,
                format!("Invalid value for operator '{written}:': {why}"),
                at,
            )
        };
        if matches!(value, Value::Bracketed(_)) && !matches!(name, "point_radius" | "bounding_box")
        {
            return Err(invalid(format!(
                "only point_radius: and bounding_box: take [...]; use e.g. {}",
                spec.example
            )));
        }
        let expr = match name {
            "is" | "has" => flag(name, text).ok_or_else(|| {
                error_of(
                    QueryErrorKind::UnknownOperator,
                    format!("Reference to invalid operator '{name}:{text}'"),
                    at,
                )
            })?,
            "from" | "to" | "retweets_of" => {
                let user = user_value(text).ok_or_else(|| {
                    invalid(format!(
                        "'{text}' is neither a username (letters, digits, _) nor a numeric user id"
                    ))
                })?;
                match name {
                    "from" => Expr::From(user),
                    "to" => Expr::To(user),
                    _ => Expr::RetweetsOf(user),
                }
            }
            "url" => {
                let words = tokenize(text);
                if words.is_empty() {
                    return Err(invalid(format!(
                        "'{text}' has no letters or digits to match"
                    )));
                }
                Expr::Url(words)
            }
            "in_reply_to_tweet_id"
            | "retweets_of_tweet_id"
            | "quotes_of_tweet_id"
            | "conversation_id"
            | "list" => {
                let id = numeric_id(text)
                    .ok_or_else(|| invalid(format!("'{text}' is not a numeric id")))?;
                match name {
                    "in_reply_to_tweet_id" => Expr::InReplyToTweet(id),
                    "retweets_of_tweet_id" => Expr::RetweetsOfTweet(id),
                    "quotes_of_tweet_id" => Expr::QuotesOfTweet(id),
                    "conversation_id" => Expr::ConversationId(id),
                    _ => {
                        if std::mem::replace(&mut self.list_seen, true) {
                            return Err(invalid(
                                "X allows a single list: operator per query".into(),
                            ));
                        }
                        Expr::List(id)
                    }
                }
            }
            "context" => {
                let pair = text
                    .split_once('.')
                    .and_then(|(d, e)| Some((numeric_id(d)?, numeric_id(e)?)));
                let (domain, entity) = pair.ok_or_else(|| {
                    invalid(format!("'{text}' is not domain_id.entity_id, two numeric ids joined by '.', e.g. context:10.799022225751871488"))
                })?;
                Expr::Context { domain, entity }
            }
            "entity" => {
                let name = normalize(text.trim());
                if name.is_empty() {
                    return Err(invalid("the entity name is empty".into()));
                }
                Expr::Entity(name)
            }
            "place" => {
                let place = normalize(text.trim());
                if place.is_empty() {
                    return Err(invalid("the place name is empty".into()));
                }
                Expr::Place(place)
            }
            "place_country" => {
                if !is_country_code(text) {
                    return Err(invalid(format!(
                        "'{text}' is not an ISO 3166-1 alpha-2 country code (e.g. US, GB, BR)"
                    )));
                }
                Expr::PlaceCountry(text.to_ascii_uppercase())
            }
            "point_radius" | "bounding_box" => {
                let Value::Bracketed(inside) = value else {
                    return Err(invalid(format!(
                        "the value goes in brackets, e.g. {}",
                        spec.example
                    )));
                };
                if name == "point_radius" {
                    Expr::PointRadius(PointRadius::parse(inside).map_err(invalid)?)
                } else {
                    Expr::BoundingBox(BoundingBox::parse(inside).map_err(invalid)?)
                }
            }
            "min_likes" | "min_replies" | "min_reposts" => {
                let n = text
                    .parse::<u64>()
                    .ok()
                    .filter(|_| text.chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| {
                        invalid(format!("'{text}' is not a non-negative whole number"))
                    })?;
                match name {
                    "min_likes" => Expr::MinLikes(n),
                    "min_replies" => Expr::MinReplies(n),
                    _ => Expr::MinReposts(n),
                }
            }
            "lang" => {
                if !is_language_tag(text) {
                    return Err(invalid(format!(
                        "'{text}' is not a BCP 47 language identifier such as en, pt, zh-CN"
                    )));
                }
                Expr::Lang(text.to_ascii_lowercase())
            }
            _ => {
                return Err(error_of(
                    QueryErrorKind::UnknownOperator,
                    format!("Reference to invalid operator '{written}'"),
                    at,
                ));
            }
        };
        let advanced = spec.advanced
            || matches!(
                expr,
                Expr::Is(IsOperator::Nullcast)
                    | Expr::Has(HasOperator::Cashtags | HasOperator::Geo)
            );
        if advanced && !self.level.has_advanced_operators() {
            let shown = if matches!(name, "is" | "has") {
                format!("{name}:{text}")
            } else {
                name.to_string()
            };
            return Err(not_in_access_level(&shown, self.level, at));
        }
        Ok(expr)
    }
}

fn not_in_access_level(operator: &str, level: AccessLevel, at: usize) -> QueryError {
    error_of(
        QueryErrorKind::OperatorNotInAccessLevel,
        format!(
            "Reference to invalid operator '{operator}'. Operator is not available in current product or product packaging ({level} access)"
        ),
        at,
    )
}

fn negate(expr: Expr, negated: bool) -> Expr {
    if negated {
        Expr::Not(Box::new(expr))
    } else {
        expr
    }
}

/// One documented recent-search operator.
pub struct OperatorSpec {
    /// Name without the `:`.
    pub name: &'static str,
    /// Documented aliases.
    pub aliases: &'static [&'static str],
    /// Whether it can stand alone.
    pub standalone: bool,
    /// Advanced (formerly "Elevated"): not on Basic.
    pub advanced: bool,
    /// X's example.
    pub example: &'static str,
}

/// Every `name:` operator of recent search (`is:` and `has:` values are listed in [`IS_VALUES`]
/// and [`HAS_VALUES`]), as X documents them.
pub const OPERATORS: &[OperatorSpec] = &[
    OperatorSpec {
        name: "from",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "from:XDevelopers",
    },
    OperatorSpec {
        name: "to",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "to:XDevelopers",
    },
    OperatorSpec {
        name: "url",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "url:\"https://developer.twitter.com\"",
    },
    OperatorSpec {
        name: "retweets_of",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "retweets_of:twitterdev",
    },
    OperatorSpec {
        name: "in_reply_to_tweet_id",
        aliases: &["in_reply_to_status_id"],
        standalone: true,
        advanced: false,
        example: "in_reply_to_tweet_id:1539382664746020864",
    },
    OperatorSpec {
        name: "retweets_of_tweet_id",
        aliases: &["retweets_of_status_id"],
        standalone: true,
        advanced: false,
        example: "retweets_of_tweet_id:1539382664746020864",
    },
    OperatorSpec {
        name: "quotes_of_tweet_id",
        aliases: &["quotes_of_status_id"],
        standalone: true,
        advanced: false,
        example: "quotes_of_tweet_id:1539382664746020864",
    },
    OperatorSpec {
        name: "context",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "context:10.799022225751871488",
    },
    OperatorSpec {
        name: "entity",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "entity:\"Michael Jordan\"",
    },
    OperatorSpec {
        name: "conversation_id",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "conversation_id:1334987486343299072",
    },
    OperatorSpec {
        name: "list",
        aliases: &[],
        standalone: true,
        advanced: true,
        example: "list:123",
    },
    OperatorSpec {
        name: "place",
        aliases: &[],
        standalone: true,
        advanced: true,
        example: "place:\"new york city\"",
    },
    OperatorSpec {
        name: "place_country",
        aliases: &[],
        standalone: true,
        advanced: true,
        example: "place_country:US",
    },
    OperatorSpec {
        name: "point_radius",
        aliases: &[],
        standalone: true,
        advanced: true,
        example: "point_radius:[2.355128 48.861118 16km]",
    },
    OperatorSpec {
        name: "bounding_box",
        aliases: &["geo_bounding_box"],
        standalone: true,
        advanced: true,
        example: "bounding_box:[-105.301758 39.964069 -105.178505 40.09455]",
    },
    OperatorSpec {
        name: "min_likes",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "min_likes:100",
    },
    OperatorSpec {
        name: "min_replies",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "min_replies:10",
    },
    OperatorSpec {
        name: "min_reposts",
        aliases: &[],
        standalone: true,
        advanced: false,
        example: "min_reposts:50",
    },
    OperatorSpec {
        name: "is",
        aliases: &[],
        standalone: false,
        advanced: false,
        example: "is:reply",
    },
    OperatorSpec {
        name: "has",
        aliases: &[],
        standalone: false,
        advanced: false,
        example: "has:links",
    },
    OperatorSpec {
        name: "lang",
        aliases: &[],
        standalone: false,
        advanced: false,
        example: "lang:en",
    },
];

/// `is:` values (`nullcast` only negated; advanced).
pub const IS_VALUES: &[&str] = &["retweet", "reply", "quote", "verified", "nullcast"];
/// `has:` values and aliases (`cashtags` and `geo` advanced).
pub const HAS_VALUES: &[&str] = &[
    "hashtags",
    "cashtags",
    "links",
    "mentions",
    "media",
    "media_link",
    "images",
    "video_link",
    "videos",
    "geo",
];

fn canonical_operator(name: &str) -> &str {
    OPERATORS
        .iter()
        .find(|o| o.aliases.contains(&name))
        .map_or(name, |o| o.name)
}

fn flag(name: &str, value: &str) -> Option<Expr> {
    let value = value.to_ascii_lowercase();
    Some(match (name, value.as_str()) {
        ("is", "retweet") => Expr::Is(IsOperator::Retweet),
        ("is", "reply") => Expr::Is(IsOperator::Reply),
        ("is", "quote") => Expr::Is(IsOperator::Quote),
        ("is", "verified") => Expr::Is(IsOperator::Verified),
        ("is", "nullcast") => Expr::Is(IsOperator::Nullcast),
        ("has", "hashtags") => Expr::Has(HasOperator::Hashtags),
        ("has", "cashtags") => Expr::Has(HasOperator::Cashtags),
        ("has", "links") => Expr::Has(HasOperator::Links),
        ("has", "mentions") => Expr::Has(HasOperator::Mentions),
        ("has", "media" | "media_link") => Expr::Has(HasOperator::Media),
        ("has", "images") => Expr::Has(HasOperator::Images),
        ("has", "video_link" | "videos") => Expr::Has(HasOperator::VideoLink),
        ("has", "geo") => Expr::Has(HasOperator::Geo),
        _ => return None,
    })
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// A username (lowercased) or a numeric user id.
fn user_value(text: &str) -> Option<String> {
    is_name(text).then(|| text.to_lowercase())
}

/// Snowflake ids: 1 to 19 digits.
fn numeric_id(text: &str) -> Option<u64> {
    (!text.is_empty() && text.len() <= 19 && text.chars().all(|c| c.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// BCP 47 as X uses it: a 2–3 letter language, optional subtags (`zh-CN`, `hi-Latn`), any case.
fn is_language_tag(text: &str) -> bool {
    let mut parts = text.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    language_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn word(text: &str, at: usize, level: AccessLevel) -> Result<Expr, QueryError> {
    if let Some(tag) = text.strip_prefix('#') {
        if !is_name(tag) {
            return Err(error(format!("Invalid hashtag '{text}'"), at));
        }
        return Ok(Expr::Hashtag(tag.to_lowercase()));
    }
    if let Some(user) = text.strip_prefix('@') {
        if !is_name(user) {
            return Err(error(format!("Invalid mention '{text}'"), at));
        }
        return Ok(Expr::Mention(user.to_lowercase()));
    }
    // `$` before a name is a cashtag; `$5` is text, as on X.
    if let Some(tag) = text.strip_prefix('$')
        && tag.chars().next().is_some_and(char::is_alphabetic)
    {
        if !is_name(tag) {
            return Err(error(format!("Invalid cashtag '{text}'"), at));
        }
        if !level.has_advanced_operators() {
            return Err(not_in_access_level("cashtag", level, at));
        }
        return Ok(Expr::Cashtag(tag.to_lowercase()));
    }
    let words = tokenize(text);
    match words.len() {
        0 => Err(error(format!("Invalid term '{text}'"), at)),
        1 => Ok(Expr::Term(words.into_iter().next().unwrap_or_default())),
        // "covid-19" is one term on X; it matches the same token run as the phrase would.
        _ => Ok(Expr::Phrase(words)),
    }
}

/// Checks a query as X would at the default access level, without keeping the parsed expression.
pub fn validate(query: &str) -> Result<(), QueryError> {
    parse(query).map(|_| ())
}

/// Checks a query as X would at `level`.
pub fn validate_for(query: &str, level: AccessLevel) -> Result<(), QueryError> {
    parse_for(query, level).map(|_| ())
}

/// Parses a query at the default access level ([`AccessLevel::Pro`]).
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    parse_for(query, AccessLevel::default())
}

/// Parses a query, enforcing `level`'s length limit and operators and X's standalone rules.
pub fn parse_for(query: &str, level: AccessLevel) -> Result<Expr, QueryError> {
    let length = query.chars().count();
    // `trim` knows all Unicode whitespace (U+00A0, U+3000, …), not only ASCII.
    if query.trim().is_empty() {
        let detail = "The `query` parameter can not be empty".to_string();
        return Err(QueryError {
            kind: QueryErrorKind::Empty,
            message: detail.clone(),
            detail,
            position: None,
        });
    }
    let limit = level.max_query_chars();
    if length > limit {
        let detail = format!("Query length ({length}) exceeds the maximum of {limit} characters");
        return Err(QueryError {
            kind: QueryErrorKind::TooLong { length, limit },
            message: format!("There were errors processing your request: {detail}"),
            detail,
            position: None,
        });
    }
    let tokens = lex(query)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: length,
        level,
        list_seen: false,
    };
    let expr = parser.or_expr()?;
    if parser.pos < parser.tokens.len() {
        return Err(error_of(
            QueryErrorKind::UnbalancedParentheses,
            "missing EOF at ')'",
            parser.position(),
        ));
    }
    if !expr.has_standalone_clause() {
        let detail = if expr.has_positive_conjunction_operator() {
            "is/has/lang cannot be used as a standalone operator"
        } else {
            "Rules must contain at least one positive, non-stopword clause"
        };
        return Err(error_of(QueryErrorKind::NoStandaloneClause, detail, 0));
    }
    Ok(expr)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::MAX_QUERY_CHARS;

    fn facts(text: &str) -> PostFacts {
        PostFacts {
            tokens: tokenize(text),
            hashtags: text
                .split_whitespace()
                .filter_map(|w| w.strip_prefix('#'))
                .map(str::to_lowercase)
                .collect(),
            mentions: text
                .split_whitespace()
                .filter_map(|w| w.strip_prefix('@'))
                .map(str::to_lowercase)
                .collect(),
            author: "ana".into(),
            lang: "en".into(),
            ..PostFacts::default()
        }
    }

    #[test]
    fn parses_and_or_precedence() {
        let e = parse("covid vaccine OR quarantine").expect("parse");
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![
                    Expr::Term("covid".into()),
                    Expr::Term("vaccine".into())
                ]),
                Expr::Term("quarantine".into()),
            ])
        );
    }

    #[test]
    fn parses_groups_phrases_negation_and_operators() {
        let e =
            parse(r#"(covid OR "stay home") -is:retweet lang:en #COVID19 @WHO from:ana has:links"#)
                .expect("parse");
        let Expr::And(clauses) = e else {
            panic!("expected AND, got {e:?}")
        };
        assert_eq!(clauses.len(), 7);
        assert_eq!(
            clauses[0],
            Expr::Or(vec![
                Expr::Term("covid".into()),
                Expr::Phrase(vec!["stay".into(), "home".into()])
            ])
        );
        assert_eq!(
            clauses[1],
            Expr::Not(Box::new(Expr::Is(IsOperator::Retweet)))
        );
        assert_eq!(clauses[2], Expr::Lang("en".into()));
        assert_eq!(clauses[3], Expr::Hashtag("covid19".into()));
        assert_eq!(clauses[4], Expr::Mention("who".into()));
        assert_eq!(clauses[5], Expr::From("ana".into()));
        assert_eq!(clauses[6], Expr::Has(HasOperator::Links));
    }

    #[test]
    fn matching() {
        let post = facts("Stay home, covid is not over #COVID19 @WHO https://t.co/x");
        let yes = [
            "covid",
            "\"stay home\"",
            "#covid19",
            "@who",
            "from:ana",
            "covid lang:en",
            "flu OR covid",
            "covid -flu",
            "covid -(flu OR measles)",
        ];
        let no = [
            "flu",
            "\"home stay\"",
            "#flu",
            "covid lang:pt",
            "covid -#covid19",
            "covid is:retweet",
            "flu OR measles",
        ];
        for q in yes {
            assert!(parse(q).expect(q).matches(&post), "{q} should match");
        }
        for q in no {
            assert!(!parse(q).expect(q).matches(&post), "{q} should not match");
        }
    }

    #[test]
    fn refuses_invalid_queries_with_positions() {
        let cases = [
            ("covid (vaccine", "missing ')'"),
            ("covid)", "missing EOF at ')'"),
            ("covid OR", "after 'OR'"),
            ("OR covid", "before 'OR'"),
            ("\"stay home", "Unterminated"),
            ("covid - vaccine", "Negation"),
            ("covid foo:bar", "Reference to invalid operator 'foo'"),
            ("covid is:famous", "is:famous"),
            ("covid lang:english", "lang:"),
            (
                "lang:en",
                "is/has/lang cannot be used as a standalone operator",
            ),
            ("-covid", "at least one positive, non-stopword clause"),
            ("is:retweet OR covid", "standalone"),
            ("covid ()", "Empty clause"),
        ];
        for (q, needle) in cases {
            let err = parse(q).expect_err(q);
            assert!(err.message.contains(needle), "{q}: {}", err.message);
        }
        assert!(
            parse("covid foo:bar")
                .expect_err("x")
                .message
                .ends_with("(at position 7)")
        );
    }

    #[test]
    fn enforces_the_length_limit_in_characters() {
        let at_limit = format!("covid {}", "ç".repeat(MAX_QUERY_CHARS - 6));
        assert!(parse(&at_limit).is_ok());
        let over = format!("{at_limit}x");
        assert!(
            parse(&over)
                .expect_err("too long")
                .message
                .contains("(513) exceeds the maximum of 512")
        );
        assert!(
            parse("   ")
                .expect_err("empty")
                .message
                .contains("can not be empty")
        );
    }

    #[test]
    fn classifies_refusals_and_reports_positions() {
        let cases = [
            ("\u{a0}\u{3000} ", QueryErrorKind::Empty, None),
            (
                "covid (vaccine",
                QueryErrorKind::UnbalancedParentheses,
                Some(7),
            ),
            ("covid)", QueryErrorKind::UnbalancedParentheses, Some(6)),
            ("lang:en", QueryErrorKind::NoStandaloneClause, Some(1)),
            ("-covid -flu", QueryErrorKind::NoStandaloneClause, Some(1)),
            (
                "is:retweet has:links",
                QueryErrorKind::NoStandaloneClause,
                Some(1),
            ),
            ("covid foo:bar", QueryErrorKind::UnknownOperator, Some(7)),
        ];
        for (q, kind, position) in cases {
            let err = parse(q).expect_err(q);
            assert_eq!((err.kind, err.position), (kind, position), "{q}: {err}");
            assert!(err.message.contains(&err.detail), "{q}: {err}");
        }
        let long = "covid ".repeat(100);
        let err = validate(&long).expect_err("too long");
        assert_eq!(
            err.kind,
            QueryErrorKind::TooLong {
                length: 600,
                limit: 512
            }
        );
        assert!(validate("covid\u{3000}lang:ja").is_ok());
    }

    #[test]
    fn operators_values_aliases_and_escapes() {
        let parsed = |q: &str| parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(
            parsed(r#""he said \"stay\" home""#),
            Expr::Phrase(vec![
                "he".into(),
                "said".into(),
                "stay".into(),
                "home".into()
            ])
        );
        assert_eq!(parsed("$PFE"), Expr::Cashtag("pfe".into()));
        assert_eq!(
            parsed("$5 covid"),
            Expr::And(vec![Expr::Term("5".into()), Expr::Term("covid".into())])
        );
        assert_eq!(
            parsed("in_reply_to_status_id:42"),
            parsed("in_reply_to_tweet_id:42")
        );
        assert_eq!(parsed("covid has:videos"), parsed("covid has:video_link"));
        assert_eq!(parsed("covid has:media_link"), parsed("covid has:media"));
        assert_eq!(
            parsed("geo_bounding_box:[-105.301758 39.964069 -105.178505 40.09455]"),
            parsed("bounding_box:[-105.301758 39.964069 -105.178505 40.09455]")
        );
        assert_eq!(
            parsed("context:10.799022225751871488"),
            Expr::Context {
                domain: 10,
                entity: 799_022_225_751_871_488
            }
        );
        assert_eq!(
            parsed("entity:\"São Paulo\""),
            Expr::Entity("sao paulo".into())
        );
        assert_eq!(
            parsed("place:\"New York City\""),
            Expr::Place("new york city".into())
        );
        assert_eq!(parsed("place_country:br"), Expr::PlaceCountry("BR".into()));
        assert_eq!(
            parsed("covid lang:zh-CN"),
            Expr::And(vec![Expr::Term("covid".into()), Expr::Lang("zh-cn".into())])
        );
        assert_eq!(parsed("FROM:WHO"), Expr::From("who".into()));
        assert_eq!(
            parsed("covid -is:nullcast"),
            Expr::And(vec![
                Expr::Term("covid".into()),
                Expr::Not(Box::new(Expr::Is(IsOperator::Nullcast)))
            ])
        );
        assert_eq!(
            parsed("url:\"https://t.co\""),
            Expr::Url(vec!["https".into(), "t".into(), "co".into()])
        );
        assert_eq!(parsed("😷"), Expr::Term("😷".into()));
    }

    #[test]
    fn refusals_name_the_position_x_reports() {
        let cases = [
            (
                "covid AND vaccine",
                QueryErrorKind::Syntax,
                7,
                "Ambiguous use of and",
            ),
            (
                "(pepsi OR cola OR 'coca cola')",
                QueryErrorKind::Syntax,
                19,
                "no viable alternative at character '''",
            ),
            (
                "[covid]",
                QueryErrorKind::Syntax,
                1,
                "no viable alternative at input '['",
            ),
            (
                "covid from:",
                QueryErrorKind::MissingValue,
                7,
                "needs a value",
            ),
            (
                "covid is:nullcast",
                QueryErrorKind::NullcastNotNegated,
                7,
                "must always be negated",
            ),
            (
                "covid sample:10",
                QueryErrorKind::UnknownOperator,
                7,
                "Reference to invalid operator 'sample'",
            ),
            (
                "covid has:polls",
                QueryErrorKind::UnknownOperator,
                7,
                "Reference to invalid operator 'has:polls'",
            ),
            (
                "covid point_radius:[0 0 30mi]",
                QueryErrorKind::InvalidValue,
                7,
                "less than 25mi",
            ),
            (
                "covid place_country:UK",
                QueryErrorKind::InvalidValue,
                7,
                "ISO 3166-1",
            ),
            (
                "covid context:12",
                QueryErrorKind::InvalidValue,
                7,
                "domain_id.entity_id",
            ),
            (
                "covid point_radius:[0 0 1km",
                QueryErrorKind::Syntax,
                7,
                "missing ']'",
            ),
            (
                "covid from:[WHO]",
                QueryErrorKind::InvalidValue,
                7,
                "only point_radius: and bounding_box: take",
            ),
            (
                "list:1 OR list:2",
                QueryErrorKind::InvalidValue,
                11,
                "single list:",
            ),
            (
                "is:retweet has:links",
                QueryErrorKind::NoStandaloneClause,
                1,
                "is/has/lang",
            ),
            (
                "-is:retweet -covid",
                QueryErrorKind::NoStandaloneClause,
                1,
                "non-stopword",
            ),
        ];
        for (q, kind, position, needle) in cases {
            let err = parse(q).expect_err(q);
            assert_eq!(
                (err.kind, err.position),
                (kind, Some(position)),
                "{q}: {err}"
            );
            assert!(err.message.contains(needle), "{q}: {}", err.message);
            assert!(
                err.message
                    .starts_with("There were errors processing your request: ")
            );
        }
    }

    #[test]
    fn advanced_operators_need_more_than_basic() {
        for q in [
            "$PFE",
            "list:1",
            "place:x",
            "place_country:US",
            "point_radius:[0 0 1km]",
            "bounding_box:[0 0 0.1 0.1]",
            "covid -is:nullcast",
            "covid has:cashtags",
            "covid has:geo",
        ] {
            assert!(parse_for(q, AccessLevel::Pro).is_ok(), "{q}");
            let err = parse_for(q, AccessLevel::Basic).expect_err(q);
            assert_eq!(err.kind, QueryErrorKind::OperatorNotInAccessLevel, "{q}");
            assert!(
                err.message.contains("not available in current product"),
                "{q}"
            );
        }
        assert!(parse_for("covid url:x has:images is:verified", AccessLevel::Basic).is_ok());
    }

    #[test]
    fn geo_and_place_matching() {
        let place = PlaceFacts {
            id: "b6ff7a2b5b7b3f1d".into(),
            name: "lisboa".into(),
            full_name: "lisboa, portugal".into(),
            country_code: "PT".into(),
            bbox: crate::geo::BoundingBox {
                west: -9.23,
                south: 38.69,
                east: -9.09,
                north: 38.8,
            },
        };
        let mut post = facts("covid");
        post.place = Some(place);
        for q in [
            "place:Lisboa",
            "place:b6ff7a2b5b7b3f1d",
            "place:\"Lisboa, Portugal\"",
            "place_country:PT",
            "covid has:geo",
            "bounding_box:[-9.24 38.68 -9.08 38.81]",
            "point_radius:[-9.16 38.745 20km]",
        ] {
            assert!(parse(q).expect(q).matches(&post), "{q}");
        }
        // Without exact coordinates, a region must hold the whole place polygon.
        assert!(
            !parse("point_radius:[-9.16 38.745 5km]")
                .expect("pr")
                .matches(&post)
        );
        assert!(!parse("place_country:BR").expect("pc").matches(&post));
        post.coordinates = Some((-9.15, 38.72));
        assert!(
            parse("point_radius:[-9.16 38.745 5km]")
                .expect("pr")
                .matches(&post)
        );
        assert!(
            !parse("point_radius:[2.35 48.86 20km]")
                .expect("pr")
                .matches(&post)
        );
    }

    #[test]
    fn hyphenated_terms_and_urls() {
        let post = facts("covid-19 cases at https://who.int/covid");
        assert!(parse("covid-19").expect("parse").matches(&post));
        assert!(
            parse("https://who.int/covid")
                .expect("parse")
                .matches(&post)
        );
    }
}
