//! Lexicon sentiment in the manner of VADER, for English, Portuguese, Spanish, French, German
//! and Italian, plus emoji in every language.
//!
//! Why not a crate: the Rust ports of VADER are English-only and allocate heavily per post,
//! and the broad multilingual lexicons (Chen & Skiena's 81 languages) are GPL, which cannot
//! ship in an Apache-2.0 product. So the word lists are our own, in `lexicon/`, embedded at
//! build time. Scoring: each known word adds its valence (-4..4); a negator among the three
//! words before it flips and damps it (×-0.74), an intensifier just before it adds 0.293 in
//! its direction; the sum `s` is mapped into [-1, 1] by `s / sqrt(s² + 15)` (VADER's
//! normalisation). Unknown languages use the English list and the emoji.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

const NEGATION_SCALAR: f32 = -0.74;
const INTENSIFIER_BOOST: f32 = 0.293;
const NORMALISATION_ALPHA: f32 = 15.0;
const NEGATION_WINDOW: usize = 3;

/// A post counts as positive above this score and negative below its opposite (VADER's cut-off).
pub const POLARITY_THRESHOLD: f32 = 0.05;

const SOURCES: &[(&str, &str)] = &[
    ("en", include_str!("../../lexicon/en.tsv")),
    ("pt", include_str!("../../lexicon/pt.tsv")),
    ("es", include_str!("../../lexicon/es.tsv")),
    ("fr", include_str!("../../lexicon/fr.tsv")),
    ("de", include_str!("../../lexicon/de.tsv")),
    ("it", include_str!("../../lexicon/it.tsv")),
];
const EMOJI: &str = include_str!("../../lexicon/emoji.tsv");

/// One language's word list.
#[derive(Debug, Default)]
struct Lexicon {
    valence: HashMap<String, f32>,
    negators: Vec<String>,
    intensifiers: Vec<String>,
}

#[derive(Debug)]
struct Lexicons {
    by_language: HashMap<&'static str, Lexicon>,
    emoji: HashMap<char, f32>,
}

fn lexicons() -> &'static Lexicons {
    static LEXICONS: OnceLock<Lexicons> = OnceLock::new();
    LEXICONS.get_or_init(|| Lexicons {
        by_language: SOURCES
            .iter()
            .map(|(lang, text)| (*lang, parse_lexicon(text)))
            .collect(),
        emoji: parse_emoji(EMOJI),
    })
}

fn parse_lexicon(text: &str) -> Lexicon {
    let mut lexicon = Lexicon::default();
    for line in entries(text) {
        let Some((left, right)) = line.split_once('\t') else {
            continue;
        };
        match left {
            "!neg" => lexicon.negators.push(fold(right)),
            "!int" => lexicon.intensifiers.push(fold(right)),
            word => {
                if let Ok(valence) = right.trim().parse::<f32>() {
                    lexicon.valence.insert(fold(word), valence);
                }
            }
        }
    }
    lexicon
}

fn parse_emoji(text: &str) -> HashMap<char, f32> {
    entries(text)
        .filter_map(|line| {
            let (symbol, valence) = line.split_once('\t')?;
            let mut chars = symbol.chars();
            let first = chars.next()?;
            (chars.next().is_none()).then_some(())?;
            Some((first, valence.trim().parse().ok()?))
        })
        .collect()
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Lower case without accents, so "Não", "nao" and "NÃO" match one entry.
fn fold(word: &str) -> String {
    let lower = word.trim().to_lowercase();
    if lower.is_ascii() {
        return lower;
    }
    lower.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// Sentiment of `text` in [-1, 1], read with the lexicon of `lang`'s primary subtag.
pub fn score(text: &str, lang: &str) -> f32 {
    let lexicons = lexicons();
    let primary = lang.split(['-', '_']).next().unwrap_or(lang);
    let lexicon = lexicons
        .by_language
        .get(primary)
        .or_else(|| lexicons.by_language.get("en"));
    let Some(lexicon) = lexicon else {
        return 0.0;
    };

    let mut sum = 0.0_f32;
    let mut recent: Vec<String> = Vec::with_capacity(NEGATION_WINDOW);
    for token in tokens(text) {
        match token {
            Token::Emoji(c) => {
                if let Some(v) = lexicons.emoji.get(&c) {
                    sum += v;
                }
            }
            Token::Word(word) => {
                let word = fold(word);
                if let Some(&valence) = lexicon.valence.get(&word) {
                    let mut v = valence;
                    if recent
                        .last()
                        .is_some_and(|w| lexicon.intensifiers.contains(w))
                    {
                        v += INTENSIFIER_BOOST * v.signum();
                    }
                    if recent.iter().any(|w| lexicon.negators.contains(w)) {
                        v *= NEGATION_SCALAR;
                    }
                    sum += v;
                }
                if recent.len() == NEGATION_WINDOW {
                    recent.remove(0);
                }
                recent.push(word);
            }
        }
    }
    if sum == 0.0 {
        return 0.0;
    }
    (sum / (sum * sum + NORMALISATION_ALPHA).sqrt()).clamp(-1.0, 1.0)
}

enum Token<'a> {
    Word(&'a str),
    Emoji(char),
}

/// Words (letters, digits, apostrophes; a leading `#` dropped so hashtags count) and single
/// symbol characters. Links and @mentions are skipped: they carry names, not opinions.
fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    text.split_whitespace()
        .filter(|chunk| !chunk.starts_with('@') && !chunk.contains("://"))
        .flat_map(|chunk| {
            let mut out = Vec::new();
            let mut start: Option<usize> = None;
            for (i, c) in chunk.char_indices() {
                let is_word = c.is_alphanumeric() || c == '\'' || c == '’';
                if is_word {
                    start.get_or_insert(i);
                    continue;
                }
                if let Some(s) = start.take() {
                    out.push(Token::Word(&chunk[s..i]));
                }
                if !c.is_ascii() {
                    out.push(Token::Emoji(c));
                }
            }
            if let Some(s) = start {
                out.push(Token::Word(&chunk[s..]));
            }
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lexicon_parses_with_entries() {
        let lexicons = lexicons();
        for (lang, _) in SOURCES {
            let lexicon = &lexicons.by_language[lang];
            assert!(lexicon.valence.len() > 40, "{lang} has too few words");
            assert!(!lexicon.negators.is_empty(), "{lang} has no negators");
        }
        assert!(lexicons.emoji.len() > 20);
    }

    #[test]
    fn polarity_in_several_languages() {
        assert!(score("What a great and wonderful day", "en") > 0.5);
        assert!(score("This is terrible, so many deaths", "en") < -0.5);
        assert!(score("Que notícia ótima, estou muito feliz", "pt") > 0.5);
        assert!(score("Que tristeza, tantas mortes", "pt-BR") < -0.3);
        assert!(score("Estoy muy feliz, gracias", "es") > 0.5);
        assert!(score("C'est une catastrophe", "fr") < 0.0);
        assert!(score("Ich bin so glücklich", "de") > 0.0);
        assert!(score("Che paura", "it") < 0.0);
    }

    #[test]
    fn negation_flips_and_accents_do_not_matter() {
        assert!(score("I am not happy", "en") < 0.0);
        assert!(score("nao estou feliz", "pt") < 0.0);
        assert!(score("NÃO estou FELIZ", "pt") < 0.0);
    }

    #[test]
    fn intensifier_strengthens() {
        assert!(score("very good", "en") > score("good", "en"));
    }

    #[test]
    fn emoji_count_in_any_language_and_links_and_mentions_do_not() {
        assert!(score("vacina 😍😍", "ja") > 0.5);
        assert!(score("😡", "und") < 0.0);
        assert_eq!(score("@good https://great.example/love", "en"), 0.0);
        assert!(score("#happy", "en") > 0.0);
    }

    #[test]
    fn neutral_and_bounded() {
        assert_eq!(score("the cat sat on the mat", "en"), 0.0);
        assert_eq!(score("", "en"), 0.0);
        let very = "love ".repeat(200);
        let s = score(&very, "en");
        assert!(s > 0.99 && s <= 1.0);
    }
}
