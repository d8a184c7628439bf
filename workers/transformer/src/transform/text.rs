//! Text normalisation: t.co links expanded, HTML entities decoded, whitespace collapsed.

use tweetpipe_common::post::Url;

/// The longest post X publishes: 25,000 characters (a Premium "long post", `note_tweet`).
pub const LONGEST_POST_CHARS: usize = 25_000;

/// The most bytes URL expansion may grow a text to: four times the longest post at four
/// UTF-8 bytes per character (400,000 bytes). A real post cannot come near it: its links are
/// 23-character t.co links, and even a 25,000-character post made only of links whose
/// expansions are four times longer than the link stays below it. Each `replace` can
/// multiply the text (a link text that occurs again inside an expansion), so without a bound a
/// crafted record grows without limit and takes the transformer down on every restart. One
/// text is expanded at a time and cut to the column size right after, so this is also the
/// most memory one record can take here.
pub const MAX_EXPANDED_BYTES: usize = 4 * LONGEST_POST_CHARS * 4;

/// Expansion would exceed [`MAX_EXPANDED_BYTES`]: the record becomes a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "URL expansion would grow the text to more than {MAX_EXPANDED_BYTES} bytes ({would_be} bytes after link {link} of {links}); no post X publishes comes near that"
)]
pub struct TextTooLong {
    pub would_be: usize,
    pub link: usize,
    pub links: usize,
}

/// Normalises a post's text for storage and scoring.
///
/// Order matters: links are expanded first because the entity URLs appear verbatim in the
/// raw text; entities are decoded next (X escapes `&`, `<`, `>` in `text`); whitespace last.
pub fn normalise(raw: &str, urls: &[Url]) -> Result<String, TextTooLong> {
    let expanded = expand_urls(raw, urls)?;
    let decoded = html_escape::decode_html_entities(&expanded);
    Ok(collapse_whitespace(&decoded))
}

/// Replaces each t.co link with its expanded form.
///
/// Matching is by the link's text rather than by the entity offsets: X counts offsets in code
/// points of the unescaped text while `text` itself is escaped, so offsets drift after any `&amp;`.
/// A link without an expanded form stays as it is. The size after each replacement is
/// computed before it is made, so an over-long result is never built.
pub fn expand_urls(raw: &str, urls: &[Url]) -> Result<String, TextTooLong> {
    let mut text = raw.to_owned();
    for (index, url) in urls.iter().enumerate() {
        let Some(expanded) = url.expanded_url.as_deref().filter(|e| !e.is_empty()) else {
            continue;
        };
        if url.url.is_empty() || url.url == expanded {
            continue;
        }
        let occurrences = text.matches(url.url.as_str()).count();
        if occurrences == 0 {
            continue;
        }
        let growth = expanded.len().saturating_sub(url.url.len());
        let would_be = text
            .len()
            .saturating_add(occurrences.saturating_mul(growth));
        if would_be > MAX_EXPANDED_BYTES {
            return Err(TextTooLong {
                would_be,
                link: index + 1,
                links: urls.len(),
            });
        }
        text = text.replace(url.url.as_str(), expanded);
    }
    Ok(text)
}

/// Collapses every run of Unicode whitespace (including newlines) to one space and trims.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Host of a URL, lower case, without a leading `www.`; `None` when it has no host.
pub fn domain_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if host_port.starts_with('[') {
        host_port
            .split(']')
            .next()
            .map(|h| h.trim_start_matches('['))?
    } else {
        host_port.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Cuts `text` to at most `max_chars` characters (MySQL `VARCHAR(n)` counts characters).
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((byte_index, _)) => text[..byte_index].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(short: &str, expanded: Option<&str>) -> Url {
        Url {
            url: short.into(),
            expanded_url: expanded.map(Into::into),
            display_url: None,
            start: 0,
            end: 0,
        }
    }

    #[test]
    fn decodes_entities_expands_links_and_collapses_whitespace() {
        let raw = "Stay home &amp; safe\n\n  &lt;3 https://t.co/abc\t#covid";
        let urls = [url(
            "https://t.co/abc",
            Some("https://who.int/covid?a=1&b=2"),
        )];
        assert_eq!(
            normalise(raw, &urls).expect("within the bound"),
            "Stay home & safe <3 https://who.int/covid?a=1&b=2 #covid"
        );
    }

    #[test]
    fn keeps_links_without_expansion_and_repeated_links_all_expand() {
        let urls = [
            url("https://t.co/x", None),
            url("https://t.co/y", Some("https://e.com/y")),
        ];
        assert_eq!(
            expand_urls("a https://t.co/x b https://t.co/y c https://t.co/y", &urls)
                .expect("within the bound"),
            "a https://t.co/x b https://e.com/y c https://e.com/y"
        );
    }

    #[test]
    fn decoding_happens_once() {
        // "&amp;lt;" is a literal "&lt;" typed by the user, not "<".
        assert_eq!(normalise("&amp;lt;", &[]).expect("no links"), "&lt;");
    }

    /// A crafted record: every link's text occurs twice in its own expansion, so each
    /// replacement doubles the text; 64 links would make it 2^64 times longer.
    #[test]
    fn self_multiplying_expansion_stops_at_the_bound() {
        let urls: Vec<Url> = (0..64).map(|_| url("ab", Some("abab"))).collect();
        let err = normalise(&"ab".repeat(100), &urls).expect_err("must not grow without bound");
        assert!(err.would_be > MAX_EXPANDED_BYTES, "{err:?}");
        assert!(err.link < 64, "stopped before the last link: {err:?}");
        assert!(err.to_string().contains("400000 bytes"), "{err}");

        // One link expanded past the bound in a single step.
        let long = format!("https://e.com/{}", "x".repeat(5_000));
        let err = normalise(
            &"https://t.co/a ".repeat(100),
            &[url("https://t.co/a", Some(&long))],
        )
        .expect_err("100 × 5 KB");
        assert_eq!(err.link, 1);
    }

    /// The longest real post, made only of links expanded to four times their length, fits.
    #[test]
    fn the_longest_real_post_fits_under_the_bound() {
        let link = "https://t.co/abcdefghij"; // 23 characters, X's t.co length
        let expanded = format!("https://example.org/{}", "p".repeat(4 * 23 - 20));
        let text = format!("{link} ").repeat(LONGEST_POST_CHARS / 24);
        let out = normalise(&text, &[url(link, Some(&expanded))]).expect("a real post fits");
        assert!(out.len() > text.len());
    }

    #[test]
    fn domains() {
        assert_eq!(
            domain_of("https://WWW.Who.int/x?y").as_deref(),
            Some("who.int")
        );
        assert_eq!(
            domain_of("http://user@host.com:8080/").as_deref(),
            Some("host.com")
        );
        assert_eq!(domain_of("https://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(domain_of("https:///path"), None);
        assert_eq!(domain_of("example.org/a").as_deref(), Some("example.org"));
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("ãõéíú", 3), "ãõé");
        assert_eq!(truncate_chars("ab", 3), "ab");
    }
}
