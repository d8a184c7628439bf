//! Tokenizing post text the way recent search matches it: words split on punctuation, symbols
//! and separators; every emoji its own token; lower case; accents folded (search matches
//! `Diacrítica` and `Diacritica` alike).

/// Splits text into lowercased, accent-folded tokens: runs of letters, digits and `_` (any
/// script), and single emoji (with their modifiers, joined sequences and flags).
pub fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_word_char(c) {
            for folded in c.to_lowercase() {
                word.push(fold(folded));
            }
            i += 1;
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if is_emoji_start(c) {
            let end = emoji_end(&chars, i);
            let emoji: String = chars[i..end]
                .iter()
                .filter(|c| !is_variation_selector(**c))
                .collect();
            tokens.push(emoji);
            i = end;
            continue;
        }
        i += 1;
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Lower case and accents folded, for comparing names (places, entities) as search does.
pub fn normalize(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(fold)
        .collect()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_combining_mark(c)
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE0E}' | '\u{FE0F}')
}

/// Characters that begin an emoji. Approximate (no Unicode data tables in a pure crate), but it
/// covers the pictographic blocks, the dingbats and the symbols X renders as emoji.
pub(crate) fn is_emoji_start(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}'
        | '\u{2600}'..='\u{27BF}'
        | '\u{2300}'..='\u{23FF}'
        | '\u{2B00}'..='\u{2BFF}'
        | '\u{2190}'..='\u{21FF}'
        | '\u{2900}'..='\u{297F}'
        | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}'
        | '\u{00A9}' | '\u{00AE}' | '\u{203C}' | '\u{2049}' | '\u{2122}' | '\u{2139}')
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c, '\u{1F1E6}'..='\u{1F1FF}')
}

/// The end (exclusive) of the emoji sequence starting at `start`: variation selectors, skin
/// tones, keycaps, tags, zero-width-joined pictographs and regional-indicator pairs belong to it.
fn emoji_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    if is_regional_indicator(chars[start]) {
        if chars.get(i).copied().is_some_and(is_regional_indicator) {
            i += 1;
        }
        return i;
    }
    while let Some(&c) = chars.get(i) {
        match c {
            '\u{FE0E}'
            | '\u{FE0F}'
            | '\u{20E3}'
            | '\u{1F3FB}'..='\u{1F3FF}'
            | '\u{E0020}'..='\u{E007F}' => i += 1,
            '\u{200D}' if chars.get(i + 1).copied().is_some_and(is_emoji_start) => i += 2,
            _ => break,
        }
    }
    i
}

/// Folds the accented Latin letters search treats as their base letter.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ř' => 'r',
        'ś' | 'ş' | 'š' => 's',
        'ţ' | 'ť' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_punctuation_and_fold_case_and_accents() {
        assert_eq!(tokenize("I like Coca-Cola!"), ["i", "like", "coca", "cola"]);
        assert_eq!(tokenize("Não, QUARENTENA"), ["nao", "quarentena"]);
        assert_eq!(tokenize("#COVID19 @WHO_int"), ["covid19", "who_int"]);
        assert_eq!(normalize("São Paulo"), "sao paulo");
    }

    #[test]
    fn each_emoji_is_a_token_with_its_modifiers() {
        assert_eq!(tokenize("masks😷on🦠"), ["masks", "😷", "on", "🦠"]);
        // The variation selector is dropped, so ❤ and ❤️ match each other.
        assert_eq!(tokenize("❤️ ❤"), ["❤", "❤"]);
        assert_eq!(tokenize("👍🏽"), ["👍🏽"]);
        assert_eq!(tokenize("🇧🇷🇵🇹"), ["🇧🇷", "🇵🇹"]);
        assert_eq!(tokenize("👩‍⚕️ ok"), ["👩‍⚕", "ok"]);
    }
}
