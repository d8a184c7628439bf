//! The subset of the X search query language tweetpipe users need: terms, "quoted phrases",
//! `OR`, parentheses, negation (`-`), `#hashtag`, `@mention`, `from:`, `lang:`, `is:`, `has:`.
//! Adjacent clauses are ANDed; `OR` binds looser than AND, as on X. Whitespace is Unicode
//! whitespace throughout (a query of U+00A0 or U+3000 only is empty).

use std::fmt;

/// Self-serve plans' query length limit.
pub const MAX_QUERY_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A keyword, lowercased; matches a whole token of the text.
    Term(String),
    /// A quoted phrase, lowercased; matches a run of whole tokens.
    Phrase(Vec<String>),
    Hashtag(String),
    Mention(String),
    From(String),
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasOperator {
    Links,
    Hashtags,
    Mentions,
    Geo,
    Media,
}

/// What kind of mistake a refused query makes (for callers that explain it in their own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// Nothing but whitespace (any Unicode whitespace).
    Empty,
    /// Longer than [`MAX_QUERY_CHARS`] characters.
    TooLong {
        /// Length in characters (not bytes).
        length: usize,
    },
    /// A `(` without its `)` or a `)` without its `(`.
    UnbalancedParentheses,
    /// Only `lang:`/`is:`/`has:` operators and negations: X needs a positive standalone clause.
    NoStandaloneClause,
    /// Any other syntax error (unknown operator, bad value, dangling `OR` or `-`, …).
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

/// What a query can be evaluated against.
#[derive(Debug, Clone, Default)]
pub struct PostFacts {
    /// Lowercased tokens of the text (hashtag and mention tokens without `#`/`@`).
    pub tokens: Vec<String>,
    /// Lowercased hashtags without `#`.
    pub hashtags: Vec<String>,
    /// Lowercased mentioned usernames without `@`.
    pub mentions: Vec<String>,
    /// Lowercased author username.
    pub author: String,
    pub author_verified: bool,
    pub lang: String,
    pub is_retweet: bool,
    pub is_reply: bool,
    pub is_quote: bool,
    pub has_links: bool,
    pub has_geo: bool,
}

/// Splits text into lowercased word tokens (letters and digits, any script).
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Expr {
    pub fn matches(&self, post: &PostFacts) -> bool {
        match self {
            Expr::And(all) => all.iter().all(|e| e.matches(post)),
            Expr::Or(any) => any.iter().any(|e| e.matches(post)),
            Expr::Not(inner) => !inner.matches(post),
            Expr::Term(term) => post.tokens.iter().any(|t| t == term),
            Expr::Phrase(words) => {
                !words.is_empty()
                    && post
                        .tokens
                        .windows(words.len())
                        .any(|w| w == words.as_slice())
            }
            Expr::Hashtag(tag) => post.hashtags.iter().any(|h| h == tag),
            Expr::Mention(user) => post.mentions.iter().any(|m| m == user),
            Expr::From(user) => post.author == *user,
            Expr::Lang(lang) => post.lang == *lang,
            Expr::Is(IsOperator::Retweet) => post.is_retweet,
            Expr::Is(IsOperator::Reply) => post.is_reply,
            Expr::Is(IsOperator::Quote) => post.is_quote,
            Expr::Is(IsOperator::Verified) => post.author_verified,
            Expr::Has(HasOperator::Links) => post.has_links,
            Expr::Has(HasOperator::Hashtags) => !post.hashtags.is_empty(),
            Expr::Has(HasOperator::Mentions) => !post.mentions.is_empty(),
            Expr::Has(HasOperator::Geo) => post.has_geo,
            Expr::Has(HasOperator::Media) => false,
        }
    }

    /// True when the expression can match on its own: X refuses queries made only of
    /// conjunction-required operators (`lang:`, `is:`, `has:`) or negations.
    fn has_standalone_clause(&self) -> bool {
        match self {
            Expr::Term(_)
            | Expr::Phrase(_)
            | Expr::Hashtag(_)
            | Expr::Mention(_)
            | Expr::From(_) => true,
            Expr::Not(_) | Expr::Lang(_) | Expr::Is(_) | Expr::Has(_) => false,
            Expr::And(all) => all.iter().any(Expr::has_standalone_clause),
            Expr::Or(any) => any.iter().all(Expr::has_standalone_clause),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Or,
    /// A word or operator, with whether it was negated.
    Word {
        text: String,
        negated: bool,
    },
    Phrase {
        text: String,
        negated: bool,
    },
    /// `-(`: a negated group.
    NegatedOpen,
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
            }
            ')' => {
                tokens.push((Token::Close, start));
                i += 1;
            }
            _ => {
                let negated = c == '-';
                if negated {
                    i += 1;
                    match chars.get(i) {
                        None => return Err(error("Negation '-' must precede a clause", start)),
                        Some(c) if c.is_whitespace() || *c == ')' => {
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
                if chars[i] == '"' {
                    let close = chars[i + 1..]
                        .iter()
                        .position(|c| *c == '"')
                        .ok_or_else(|| error("Unterminated quoted phrase", start))?;
                    let text: String = chars[i + 1..i + 1 + close].iter().collect();
                    tokens.push((Token::Phrase { text, negated }, start));
                    i += close + 2;
                } else {
                    let end = chars[i..]
                        .iter()
                        .position(|c| c.is_whitespace() || *c == '(' || *c == ')' || *c == '"')
                        .map_or(chars.len(), |p| i + p);
                    let text: String = chars[i..end].iter().collect();
                    if text == "OR" && !negated {
                        tokens.push((Token::Or, start));
                    } else {
                        tokens.push((Token::Word { text, negated }, start));
                    }
                    i = end;
                }
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end: usize,
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
                        "Unbalanced parentheses: missing ')'",
                        at,
                    ));
                }
                self.pos += 1;
                Ok(if token == Token::NegatedOpen {
                    Expr::Not(Box::new(inner))
                } else {
                    inner
                })
            }
            Token::Phrase { text, negated } => {
                let words = tokenize(&text);
                if words.is_empty() {
                    return Err(error("Empty quoted phrase", at));
                }
                Ok(negate(Expr::Phrase(words), negated))
            }
            Token::Word { text, negated } => Ok(negate(word(&text, at)?, negated)),
            Token::Close | Token::Or => Err(error("Unexpected token", at)),
        }
    }
}

fn negate(expr: Expr, negated: bool) -> Expr {
    if negated {
        Expr::Not(Box::new(expr))
    } else {
        expr
    }
}

fn word(text: &str, at: usize) -> Result<Expr, QueryError> {
    let valid_name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if let Some(tag) = text.strip_prefix('#') {
        if !valid_name(tag) {
            return Err(error(format!("Invalid hashtag '{text}'"), at));
        }
        return Ok(Expr::Hashtag(tag.to_lowercase()));
    }
    if let Some(user) = text.strip_prefix('@') {
        if !valid_name(user) {
            return Err(error(format!("Invalid mention '{text}'"), at));
        }
        return Ok(Expr::Mention(user.to_lowercase()));
    }
    if let Some((operator, value)) = text.split_once(':') {
        // URL-looking terms (https://…) are searched as text, as on X.
        if value.starts_with("//") {
            return term(text, at);
        }
        return match operator {
            "from" if valid_name(value) => Ok(Expr::From(value.to_lowercase())),
            "from" => Err(error(
                format!("Invalid username '{value}' for operator 'from:'"),
                at,
            )),
            "lang" => {
                let ok =
                    (2..=3).contains(&value.len()) && value.chars().all(|c| c.is_ascii_lowercase());
                if ok {
                    Ok(Expr::Lang(value.to_string()))
                } else {
                    Err(error(
                        format!("Invalid value '{value}' for operator 'lang:'"),
                        at,
                    ))
                }
            }
            "is" => match value {
                "retweet" => Ok(Expr::Is(IsOperator::Retweet)),
                "reply" => Ok(Expr::Is(IsOperator::Reply)),
                "quote" => Ok(Expr::Is(IsOperator::Quote)),
                "verified" => Ok(Expr::Is(IsOperator::Verified)),
                _ => Err(error(
                    format!("Reference to invalid operator 'is:{value}'"),
                    at,
                )),
            },
            "has" => match value {
                "links" => Ok(Expr::Has(HasOperator::Links)),
                "hashtags" => Ok(Expr::Has(HasOperator::Hashtags)),
                "mentions" => Ok(Expr::Has(HasOperator::Mentions)),
                "geo" => Ok(Expr::Has(HasOperator::Geo)),
                "media" | "images" | "videos" => Ok(Expr::Has(HasOperator::Media)),
                _ => Err(error(
                    format!("Reference to invalid operator 'has:{value}'"),
                    at,
                )),
            },
            _ => Err(error(
                format!("Reference to invalid operator '{operator}:'"),
                at,
            )),
        };
    }
    term(text, at)
}

fn term(text: &str, at: usize) -> Result<Expr, QueryError> {
    let words = tokenize(text);
    match words.len() {
        0 => Err(error(format!("Invalid term '{text}'"), at)),
        1 => Ok(Expr::Term(words.into_iter().next().unwrap_or_default())),
        // "covid-19" is one term on X; it matches the same token run as the phrase would.
        _ => Ok(Expr::Phrase(words)),
    }
}

/// Checks a query as X would, without keeping the parsed expression.
pub fn validate(query: &str) -> Result<(), QueryError> {
    parse(query).map(|_| ())
}

/// Parses a query, enforcing the 512-character limit and X's standalone-clause rule.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
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
    if length > MAX_QUERY_CHARS {
        let detail =
            format!("Query length ({length}) exceeds the maximum of {MAX_QUERY_CHARS} characters");
        return Err(QueryError {
            kind: QueryErrorKind::TooLong { length },
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
    };
    let expr = parser.or_expr()?;
    if parser.pos < parser.tokens.len() {
        return Err(error_of(
            QueryErrorKind::UnbalancedParentheses,
            "Unbalanced parentheses: unexpected ')'",
            parser.position(),
        ));
    }
    if !expr.has_standalone_clause() {
        return Err(error_of(
            QueryErrorKind::NoStandaloneClause,
            "Query must contain at least one positive standalone clause; lang:, is: and has: operators and negations cannot stand alone",
            0,
        ));
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("covid)", "unexpected ')'"),
            ("covid OR", "after 'OR'"),
            ("OR covid", "before 'OR'"),
            ("\"stay home", "Unterminated"),
            ("covid - vaccine", "Negation"),
            ("covid foo:bar", "invalid operator 'foo:'"),
            ("covid is:famous", "is:famous"),
            ("covid lang:english", "lang:"),
            ("lang:en", "standalone"),
            ("-covid", "standalone"),
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
            ("covid foo:bar", QueryErrorKind::Syntax, Some(7)),
        ];
        for (q, kind, position) in cases {
            let err = parse(q).expect_err(q);
            assert_eq!((err.kind, err.position), (kind, position), "{q}: {err}");
            assert!(err.message.contains(&err.detail), "{q}: {err}");
        }
        let long = "covid ".repeat(100);
        let err = validate(&long).expect_err("too long");
        assert_eq!(err.kind, QueryErrorKind::TooLong { length: 600 });
        assert!(validate("covid\u{3000}lang:ja").is_ok());
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
