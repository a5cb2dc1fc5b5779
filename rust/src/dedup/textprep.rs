//! Normalization for sketching, with an ASCII fast path. `crate::normalize::normalize`
//! distributes over ASCII whitespace: NFKC never composes across an ASCII whitespace
//! character (it is a starter that composes with nothing), and whitespace is a word
//! separator either way. So the text is cut at ASCII whitespace; ASCII pieces (where
//! NFKC is the identity and "alphanumeric" means [A-Za-z0-9]) take a byte loop, the
//! rest the full function, and the result is exactly `normalize(text)`.

use crate::normalize::normalize;

/// `crate::normalize::normalize(text)`, faster for mostly-ASCII text; writes into `out`.
pub fn normalize_into(text: &str, out: &mut String) {
    // Work on bytes and validate UTF-8 once at the end (one linear pass).
    let mut buf = std::mem::take(out).into_bytes();
    buf.clear();
    for_each_piece(text, |piece, ascii| {
        if ascii {
            push_ascii(piece.as_bytes(), &mut buf);
            return;
        }
        let n = normalize(piece);
        if !n.is_empty() {
            if !buf.is_empty() {
                buf.push(b' ');
            }
            buf.extend_from_slice(n.as_bytes());
        }
    });
    // Only ASCII bytes and whole UTF-8 strings were appended, so this always succeeds.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Text whose words (as `shingle::WordShingler` reads them) are those of `normalize(raw)`,
/// for raw text with non-ASCII bytes: the pieces (between ASCII whitespace) that hold
/// non-ASCII characters are normalized, ASCII stretches are copied as they are (the word
/// scanner folds their case and punctuation itself).
pub fn words_text_into(raw: &str, out: &mut String) {
    out.clear();
    for_each_piece(raw, |piece, ascii| {
        if ascii {
            out.push_str(piece);
        } else {
            out.push_str(&normalize(piece));
            out.push(' ');
        }
    });
}

/// Cut `text` into ASCII stretches (`each(stretch, true)`, possibly empty) and the pieces
/// between ASCII whitespace that hold a non-ASCII byte (`each(piece, false)`), in order.
fn for_each_piece(text: &str, mut each: impl FnMut(&str, bool)) {
    let bytes = text.as_bytes();
    let mut done = 0;
    while let Some(off) = bytes[done..].iter().position(|&b| b >= 0x80) {
        let high = done + off;
        let start = bytes[done..high]
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(done, |p| done + p + 1);
        let end = bytes[high..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(bytes.len(), |p| high + p);
        each(&text[done..start], true);
        each(&text[start..end], false);
        done = end;
    }
    each(&text[done..], true);
}

/// ASCII byte -> its lowercase form if alphanumeric, else 0 (a separator).
static FOLD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() {
            t[c] = b.to_ascii_lowercase();
        }
        c += 1;
    }
    t
};

/// Append the normalized words of an ASCII piece, space-separated from what `buf` holds.
/// Branch-free per byte (word/separator changes every few bytes, which a branch would
/// mispredict): each step writes a space and the folded byte at the cursor and advances
/// past what counts; the rest is overwritten or cut off.
fn push_ascii(bytes: &[u8], buf: &mut Vec<u8>) {
    let start = buf.len();
    // At most one separator per word byte plus the leading one, and one byte of slack.
    buf.resize(start + bytes.len() + 2, 0);
    let mut j = start;
    let mut pending_space = start > 0;
    for &c in bytes {
        let m = FOLD[usize::from(c)];
        let word = m != 0;
        buf[j] = b' ';
        j += usize::from(pending_space & word);
        buf[j] = m;
        j += usize::from(word);
        pending_space = !word && j > 0;
    }
    buf.truncate(j);
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

    #[test]
    fn random_mixed_text_normalizes_as_normalize_does() {
        let pieces = [
            " ", "  ", "\t", "\n", "\x0b", "a", "Bc", "9", "-", "_", "'", "é", "ﬁ", "Ａ", "\u{a0}",
            "\u{301}", "…", "字",
        ];
        let (mut rng, mut out) = (crate::fuzzing::Rng(5), String::new());
        for _ in 0..3000 {
            let t: String = (0..rng.below(16))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            normalize_into(&t, &mut out);
            assert_eq!(out, normalize(&t), "{t:?}");
        }
    }
}
