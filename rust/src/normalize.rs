//! Normalization for dedup keys and shingles: Unicode NFKC, lowercase, and every
//! run of characters that is not a letter or digit (punctuation, symbols,
//! whitespace) folded into one space. Documents keep their original text; only
//! the keys are computed from this form.

use unicode_normalization::UnicodeNormalization;

/// The normalized form of `text`: words of lowercase letters and digits joined by single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc() {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// The words of an already normalized text.
pub fn words(normalized: &str) -> impl Iterator<Item = &str> {
    normalized.split(' ').filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_punctuation_and_whitespace() {
        assert_eq!(
            normalize("  Hello,   WORLD!\n\tIt's  ＡＢＣ… "),
            "hello world it s abc"
        );
    }

    #[test]
    fn empty_and_symbol_only_texts_normalize_to_empty() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" -- !! "), "");
    }

    #[test]
    fn words_split_normalized_text() {
        assert_eq!(words("a bc d").collect::<Vec<_>>(), vec!["a", "bc", "d"]);
    }
}
