//! Normalization for sketching, with an ASCII fast path. `crate::normalize::normalize`
//! distributes over ASCII whitespace: NFKC never composes across an ASCII whitespace
//! character (it is a starter that composes with nothing), and whitespace is a word
//! separator either way. So the text is cut at ASCII whitespace; ASCII pieces (where
//! NFKC is the identity and "alphanumeric" means [A-Za-z0-9]) take a byte loop, the
//! rest the full function, and the result is exactly `normalize(text)`.

use crate::normalize::normalize;

/// `crate::normalize::normalize(text)`, faster for mostly-ASCII text; writes into `out`.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        push_ascii(text.as_bytes(), out);
        return;
    }
    for piece in text.split(|c: char| c.is_ascii_whitespace()) {
        if piece.is_empty() {
            continue;
        }
        if piece.is_ascii() {
            push_ascii(piece.as_bytes(), out);
        } else {
            let n = normalize(piece);
            if !n.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&n);
            }
        }
    }
}

/// Append the normalized words of an ASCII piece, space-separated from what `out` holds.
fn push_ascii(bytes: &[u8], out: &mut String) {
    let mut buf = std::mem::take(out).into_bytes();
    buf.reserve(bytes.len() + 1);
    let mut pending_space = true;
    for &c in bytes {
        if c.is_ascii_alphanumeric() {
            if pending_space && !buf.is_empty() {
                buf.push(b' ');
            }
            pending_space = false;
            buf.push(c.to_ascii_lowercase());
        } else {
            pending_space = true;
        }
    }
    // `buf` was valid UTF-8 and only ASCII bytes were appended.
    *out = String::from_utf8(buf).unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_paths_match_normalize() {
        let mut out = String::new();
        for t in [
            "  Hello,   WORLD!\n\tIt's  x ",
            "",
            " -- ",
            "A_b c-D 12",
            "ＡＢＣ… déjà Vu",
            "x\u{0}y",
            "cafe\u{301} e\u{301}t\u{e9} < \u{338} <\u{338} =\u{338}x",
            "\u{301}lead ﬁne İstanbul ǅemal",
            "Copyright © 2020 “quoted” text—dash\u{a0}nbsp",
            "a\u{3000}b\u{2028}c",
        ] {
            normalize_into(t, &mut out);
            assert_eq!(out, normalize(t), "{t:?}");
        }
    }
}
