//! Normalization for dedup keys and shingles: Unicode NFKC, lowercase, and every
//! run of characters that is not a letter or digit (punctuation, symbols,
//! whitespace) folded into one space. Documents keep their original text; only
//! the keys are computed from this form.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The normalized form of `text`: words of lowercase letters and digits joined by single spaces.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        return fold_ascii(text);
    }
    // Most text is already in NFKC: skip the (costly) composition when a quick check says so.
    match is_nfkc_quick(text.chars()) {
        IsNormalized::Yes => fold(text.chars(), text.len()),
        _ => fold(text.nfkc(), text.len()),
    }
}

/// Lowercase alphanumeric runs joined by one space; everything else is a separator.
fn fold(chars: impl Iterator<Item = char>, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    let mut pending_space = false;
    for c in chars {
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

/// [`fold`] for ASCII text (its own NFKC form), byte by byte.
fn fold_ascii(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut pending_space = false;
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(b' ');
            }
            pending_space = false;
            out.push(b.to_ascii_lowercase());
        } else {
            pending_space = true;
        }
    }
    String::from_utf8(out).expect("ASCII in, ASCII out")
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
    fn fast_paths_agree_with_full_nfkc() {
        for text in [
            "Plain ASCII, with: punctuation!! and 123 numbers.",
            "Zürich café ﬁne ①②",
            "x\u{301}y É",
            "",
        ] {
            assert_eq!(normalize(text), fold(text.nfkc(), 0), "{text}");
        }
    }

    #[test]
    fn words_split_normalized_text() {
        assert_eq!(words("a bc d").collect::<Vec<_>>(), vec!["a", "bc", "d"]);
    }
}
