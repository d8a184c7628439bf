//! Folding names into aggregation keys: hashtags, user names, and the topic of a query.

use unicode_normalization::UnicodeNormalization;

/// ISO 639-1 language codes, the suffixes a query name may carry ("covid-en", "covid-pt").
const ISO_639_1: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce \
ch co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha \
he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku \
kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv \
ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st \
su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu";

/// A hashtag's aggregation key: without `#`, NFKC-normalised and lower case, so `#COVID19`,
/// `#Covid19` and the full-width `＃ＣＯＶＩＤ19` count as one. Accents are kept: X treats
/// `#café` and `#cafe` as different tags.
pub fn hashtag(tag: &str) -> String {
    tag.trim()
        .trim_start_matches(['#', '＃'])
        .nfkc()
        .flat_map(char::to_lowercase)
        .collect()
}

/// A user name's key: X user names are ASCII and case-insensitive.
pub fn username(name: &str) -> String {
    name.trim().trim_start_matches('@').to_ascii_lowercase()
}

/// The topic of a query: its name, lower case, less trailing language (and region) codes,
/// so "covid-en" and "covid-pt-br" are both "covid", while "covid-19" stays "covid-19".
pub fn topic(query_name: &str) -> String {
    let lower = query_name.trim().to_lowercase();
    let mut topic = lower.as_str();
    for _ in 0..2 {
        let Some((head, last)) = topic.rsplit_once(['-', '_', '.']) else {
            break;
        };
        if head.is_empty() || !is_language_or_region(last) {
            break;
        }
        topic = head;
    }
    topic.to_owned()
}

fn is_language_or_region(segment: &str) -> bool {
    segment.len() == 2
        && segment.bytes().all(|b| b.is_ascii_lowercase())
        && ISO_639_1
            .split_ascii_whitespace()
            .any(|code| code == segment)
        || matches!(segment, "br" | "us" | "gb" | "pt" | "mx" | "ar" | "ca")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_fold_case_width_and_hash() {
        assert_eq!(hashtag("#COVID19"), "covid19");
        assert_eq!(hashtag("Covid19"), "covid19");
        assert_eq!(hashtag("＃ＣＯＶＩＤ19"), "covid19");
        assert_eq!(hashtag("Quarentena"), "quarentena");
        assert_eq!(hashtag("FiqueEmCasa"), "fiqueemcasa");
        assert_ne!(hashtag("café"), hashtag("cafe"));
        assert_eq!(hashtag("İstanbul"), "i̇stanbul");
    }

    #[test]
    fn usernames_fold_case() {
        assert_eq!(username("@WHO"), "who");
        assert_eq!(username("Maria_SP"), "maria_sp");
    }

    #[test]
    fn topics_drop_language_and_region_suffixes_only() {
        assert_eq!(topic("covid-en"), "covid");
        assert_eq!(topic("Covid-PT-BR"), "covid");
        assert_eq!(topic("quarantine_es"), "quarantine");
        assert_eq!(topic("covid-19"), "covid-19");
        assert_eq!(topic("covid-19-en"), "covid-19");
        assert_eq!(topic("stay-home"), "stay-home");
        assert_eq!(topic("en"), "en");
        assert_eq!(topic("vaccines"), "vaccines");
    }
}
