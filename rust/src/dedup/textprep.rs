//! Normalization for sketching, with an ASCII fast path: for ASCII text NFKC is the
//! identity and "alphanumeric" means [A-Za-z0-9], so one byte loop gives exactly
//! `crate::normalize::normalize`; anything else goes through the full function.

use crate::normalize::normalize;

/// `crate::normalize::normalize(text)`, faster for ASCII text; writes into `out`.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if !text.is_ascii() {
        out.push_str(&normalize(text));
        return;
    }
    let mut buf = std::mem::take(out).into_bytes();
    buf.reserve(text.len());
    let mut pending_space = false;
    for &c in text.as_bytes() {
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
    // Only ASCII bytes were pushed, so this cannot fail.
    *out = String::from_utf8(buf).unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fast_path_matches_normalize() {
        let mut out = String::new();
        for t in ["  Hello,   WORLD!\n\tIt's  x ", "", " -- ", "A_b c-D 12", "ＡＢＣ… déjà Vu", "x\u{0}y"] {
            normalize_into(t, &mut out);
            assert_eq!(out, normalize(t), "{t:?}");
        }
    }
}
