//! Text normalisation: t.co links expanded, HTML entities decoded, whitespace collapsed.

use tweetpipe_common::post::Url;

/// Normalises a post's text for storage and scoring.
///
/// Order matters: links are expanded first because the entity URLs appear verbatim in the
/// raw text; entities are decoded next (X escapes `&`, `<`, `>` in `text`); whitespace last.
pub fn normalise(raw: &str, urls: &[Url]) -> String {
    let expanded = expand_urls(raw, urls);
    let decoded = html_escape::decode_html_entities(&expanded);
    collapse_whitespace(&decoded)
}

/// Replaces each t.co link with its expanded form.
///
/// Matching is by the link's text rather than by the entity offsets: X counts offsets in code
/// points of the unescaped text while `text` itself is escaped, so offsets drift after any `&amp;`.
/// A link without an expanded form stays as it is.
pub fn expand_urls(raw: &str, urls: &[Url]) -> String {
    let mut text = raw.to_owned();
    for url in urls {
        let Some(expanded) = url.expanded_url.as_deref().filter(|e| !e.is_empty()) else {
            continue;
        };
        if url.url.is_empty() || url.url == expanded {
            continue;
        }
        text = text.replace(url.url.as_str(), expanded);
    }
    text
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
            normalise(raw, &urls),
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
            expand_urls("a https://t.co/x b https://t.co/y c https://t.co/y", &urls),
            "a https://t.co/x b https://e.com/y c https://e.com/y"
        );
    }

    #[test]
    fn decoding_happens_once() {
        // "&amp;lt;" is a literal "&lt;" typed by the user, not "<".
        assert_eq!(normalise("&amp;lt;", &[]), "&lt;");
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
