//! One analysis of a document, shared by every scan stage: its whitespace words, lines,
//! paragraphs, character count, normalized form and the normalized words' hashes and
//! lengths. Each view is computed at most once, on first use, so a stage that does not
//! need a view does not pay for it, and no two stages walk the text for the same thing.

use crate::dedup::shingle::word_hashes;
use crate::dedup::textprep::normalize_into;
use std::cell::{OnceCell, RefCell};

thread_local! {
    static MASK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The words of the normalized text: hash (the word-shingle hash, so near-dup sketching
/// reuses it) and length in characters, in order.
#[derive(Debug, Default)]
pub struct NormWords {
    pub hashes: Vec<u64>,
    pub chars: Vec<u32>,
    /// Sum of `chars`.
    pub total_chars: usize,
}

pub struct Analysis<'a> {
    text: &'a str,
    /// Seed of the word hashes (the near-dup stage's, so its sketch can reuse them).
    word_seed: u64,
    chars: OnceCell<usize>,
    words: OnceCell<Vec<&'a str>>,
    lines: OnceCell<Vec<&'a str>>,
    paragraphs: OnceCell<Vec<&'a str>>,
    normalized: OnceCell<String>,
    norm_words: OnceCell<NormWords>,
}

impl<'a> Analysis<'a> {
    pub fn new(text: &'a str, word_seed: u64) -> Self {
        Analysis {
            text,
            word_seed,
            chars: OnceCell::new(),
            words: OnceCell::new(),
            lines: OnceCell::new(),
            paragraphs: OnceCell::new(),
            normalized: OnceCell::new(),
            norm_words: OnceCell::new(),
        }
    }

    /// The original text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn word_seed(&self) -> u64 {
        self.word_seed
    }

    /// Characters (Unicode scalar values) of the text.
    pub fn chars(&self) -> usize {
        *self.chars.get_or_init(|| {
            if self.text.is_ascii() {
                self.text.len()
            } else {
                self.text.chars().count()
            }
        })
    }

    /// Whitespace-separated words of the original text (`str::split_whitespace`).
    pub fn words(&self) -> &[&'a str] {
        self.words.get_or_init(|| split_whitespace(self.text))
    }

    /// Lines (split at '\n'), trimmed, the empty ones left out.
    pub fn lines(&self) -> &[&'a str] {
        self.lines.get_or_init(|| {
            self.text
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        })
    }

    /// Paragraphs: runs of text separated by one or more blank lines, trimmed, non-empty.
    pub fn paragraphs(&self) -> &[&'a str] {
        self.paragraphs
            .get_or_init(|| paragraphs(self.text).collect())
    }

    /// The normalized form (`crate::normalize::normalize`): dedup keys and n-grams use it.
    /// Built piece by piece so the ASCII stretches of a mixed text take the byte loop.
    pub fn normalized(&self) -> &str {
        self.normalized.get_or_init(|| {
            let mut out = String::with_capacity(self.text.len());
            normalize_into(self.text, &mut out);
            out
        })
    }

    /// Hashes and character lengths of the normalized words.
    pub fn norm_words(&self) -> &NormWords {
        self.norm_words.get_or_init(|| {
            let text = self.normalized().as_bytes();
            let mut w = NormWords {
                hashes: Vec::with_capacity(text.len() / 5),
                chars: Vec::with_capacity(text.len() / 5),
                total_chars: 0,
            };
            let ascii = text.is_ascii();
            // The word-byte mask is scratch: one per thread, reused across documents.
            MASK.with_borrow_mut(|mask| {
                word_hashes(text, self.word_seed, mask, |start, end, h| {
                    // Characters = bytes that are not UTF-8 continuation bytes.
                    let n = if ascii {
                        end - start
                    } else {
                        text[start..end]
                            .iter()
                            .filter(|&&b| b & 0xC0 != 0x80)
                            .count()
                    };
                    w.hashes.push(h);
                    #[allow(clippy::cast_possible_truncation)]
                    // a word of over 4 G chars is not text
                    w.chars.push(n as u32);
                    w.total_chars += n;
                })
            });
            w
        })
    }
}

/// `str::split_whitespace` as a byte loop. ASCII bytes are tested directly (the ASCII
/// characters with Unicode White_Space are tab, LF, VT, FF, CR and space); a non-ASCII
/// character is decoded only when its lead byte can start a White_Space character
/// (0xC2: U+0085, U+00A0; 0xE1: U+1680; 0xE2: U+2000..U+205F; 0xE3: U+3000).
fn split_whitespace(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 5);
    let mut start = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (space, width) = match c {
            b' ' | b'\t'..=b'\r' => (true, 1),
            0xC2 | 0xE1 | 0xE2 | 0xE3 => {
                let ch = text[i..].chars().next().unwrap_or_default();
                (ch.is_whitespace(), ch.len_utf8())
            }
            // Other bytes (ASCII, lead or continuation bytes) never begin White_Space.
            _ => (false, 1),
        };
        match (space, start) {
            (true, Some(s)) => {
                out.push(&text[s..i]);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
        i += width;
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// Paragraphs: runs of text separated by one or more blank lines.
fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (para, tail) = split_at_blank_line(rest);
        rest = tail;
        let para = para.trim();
        if !para.is_empty() {
            return Some(para);
        }
    })
}

fn split_at_blank_line(s: &str) -> (&str, &str) {
    let mut start = 0;
    while let Some(i) = s[start..].find('\n') {
        let nl = start + i;
        let after = &s[nl + 1..];
        let line_end = after.find('\n').map(|j| nl + 1 + j);
        if let Some(end) = line_end {
            if s[nl + 1..end].trim().is_empty() {
                return (&s[..nl], &s[end..]);
            }
        }
        start = nl + 1;
    }
    (s, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{normalize, words};

    #[test]
    fn views_match_the_std_definitions() {
        for text in [
            "  Hello,\tworld!\r\n\n\nSecond\x0bpara  \x0c line\n \nthird ",
            "Zürich café\u{a0}ﬁne\u{2028}x  ①② end",
            "",
            "one",
        ] {
            let a = Analysis::new(text, 7);
            let ws: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(a.words(), ws.as_slice(), "{text:?}");
            assert_eq!(a.chars(), text.chars().count());
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(a.lines(), lines.as_slice(), "{text:?}");
            let n = normalize(text);
            assert_eq!(a.normalized(), n);
            let nw = a.norm_words();
            let lens: Vec<u32> = words(&n).map(|w| w.chars().count() as u32).collect();
            assert_eq!(nw.chars, lens, "{text:?}");
            assert_eq!(
                nw.total_chars,
                lens.iter().map(|&l| l as usize).sum::<usize>()
            );
            assert_eq!(nw.hashes.len(), lens.len());
        }
        assert_eq!(
            paragraphs("a\nb\n\n\nc\n  \nd").collect::<Vec<_>>(),
            ["a\nb", "c", "d"]
        );
    }

    #[test]
    fn whitespace_split_matches_std_on_every_white_space_character() {
        // Every White_Space character, and non-space ones sharing their lead bytes.
        let pieces = [
            " ", "\t", "\n", "\x0b", "\x0c", "\r", "\u{85}", "\u{a0}", "\u{1680}", "\u{2000}",
            "\u{200a}", "\u{200b}", "\u{2028}", "\u{2029}", "\u{202f}", "\u{205f}", "\u{3000}",
            "\u{a9}", "\u{1681}", "\u{2014}", "\u{3001}", "\x1c", "a", "bc", "é", "字", "😀",
        ];
        let mut rng = crate::fuzzing::Rng(11);
        for _ in 0..2000 {
            let text: String = (0..rng.below(12))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            let want: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(split_whitespace(&text), want, "{text:?}");
        }
    }

    #[test]
    fn equal_words_hash_equal_and_seed_matters() {
        let a = Analysis::new("the cat and THE dog", 1);
        let h = &a.norm_words().hashes;
        assert_eq!(h[0], h[3]);
        assert_ne!(h[0], h[1]);
        let b = Analysis::new("the", 2);
        assert_ne!(b.norm_words().hashes[0], h[0]);
    }
}
