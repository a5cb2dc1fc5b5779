//! One analysis of a document, shared by every scan stage: its whitespace-word counts, lines,
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
    word_stats: OnceCell<WordStats>,
    blocks: OnceCell<Blocks<'a>>,
    normalized: OnceCell<String>,
    norm_words: OnceCell<NormWords>,
}

impl<'a> Analysis<'a> {
    pub fn new(text: &'a str, word_seed: u64) -> Self {
        Analysis {
            text,
            word_seed,
            chars: OnceCell::new(),
            word_stats: OnceCell::new(),
            blocks: OnceCell::new(),
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

    /// Counts over the whitespace-separated words of the original text
    /// (`str::split_whitespace`), gathered in one pass over its bytes.
    pub fn word_stats(&self) -> WordStats {
        *self.word_stats.get_or_init(|| word_stats(self.text))
    }

    /// Lines (split at '\n'), trimmed, the empty ones left out.
    pub fn lines(&self) -> &[&'a str] {
        &self.blocks.get_or_init(|| blocks(self.text)).lines
    }

    /// Paragraphs: runs of text separated by one or more blank lines, trimmed, non-empty.
    pub fn paragraphs(&self) -> &[&'a str] {
        &self.blocks.get_or_init(|| blocks(self.text)).paragraphs
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

/// What the length and quality filters need of the whitespace-separated words.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WordStats {
    pub words: usize,
    /// Words with a letter or digit (`char::is_alphanumeric`), and their characters.
    pub alnum_words: usize,
    pub alnum_chars: usize,
    /// Words with a letter (`char::is_alphabetic`).
    pub alpha_words: usize,
}

const DIGIT: u8 = 1;
const LETTER: u8 = 2;
const NON_ASCII: u8 = 4;

/// Byte -> its class bits: an ASCII word's counts come from the OR of its bytes' classes.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b >= 0x80 {
            NON_ASCII
        } else if b.is_ascii_digit() {
            DIGIT
        } else if b.is_ascii_alphabetic() {
            LETTER
        } else {
            0
        };
        c += 1;
    }
    t
};

impl WordStats {
    #[inline(always)]
    fn add(&mut self, word: &str, class: u8) {
        self.words += 1;
        let (alnum, chars, alpha) = if class & NON_ASCII == 0 {
            (class != 0, word.len(), class & LETTER != 0)
        } else {
            non_ascii_word(word)
        };
        if alnum {
            self.alnum_words += 1;
            self.alnum_chars += chars;
        }
        self.alpha_words += usize::from(alpha);
    }
}

/// (has a letter or digit, characters, has a letter) of a word with non-ASCII characters.
fn non_ascii_word(word: &str) -> (bool, usize, bool) {
    (
        word.chars().any(char::is_alphanumeric),
        word.chars().count(),
        word.chars().any(char::is_alphabetic),
    )
}

/// [`WordStats`] of the words `str::split_whitespace` gives, as one byte loop (no list of
/// words is built). ASCII bytes are tested directly (the ASCII characters with Unicode
/// White_Space are tab, LF, VT, FF, CR and space); a non-ASCII character is decoded only
/// when its lead byte can start a White_Space character (0xC2: U+0085, U+00A0; 0xE1:
/// U+1680; 0xE2: U+2000..U+205F; 0xE3: U+3000).
fn word_stats(text: &str) -> WordStats {
    let b = text.as_bytes();
    let mut stats = WordStats::default();
    let mut start = None;
    let mut class = 0u8;
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
                stats.add(&text[s..i], class);
                start = None;
            }
            (false, None) => {
                start = Some(i);
                class = 0;
            }
            _ => {}
        }
        class |= CLASS[usize::from(c)];
        i += width;
    }
    if let Some(s) = start {
        stats.add(&text[s..], class);
    }
    stats
}

/// The trimmed non-empty lines and the paragraphs of a text (the repetition filter needs
/// both), from one pass over its line breaks.
struct Blocks<'a> {
    lines: Vec<&'a str>,
    paragraphs: Vec<&'a str>,
}

/// A paragraph is a run of lines between blank ones (lines that trim to nothing), from the
/// start of its first line's trimmed text to the end of its last one's: the run, trimmed.
fn blocks(text: &str) -> Blocks<'_> {
    let mut b = Blocks {
        lines: Vec::new(),
        paragraphs: Vec::new(),
    };
    // Byte range of the paragraph being read.
    let mut para: Option<(usize, usize)> = None;
    for line in text.split('\n') {
        let t = line.trim();
        if t.is_empty() {
            if let Some((start, end)) = para.take() {
                b.paragraphs.push(&text[start..end]);
            }
            continue;
        }
        let start = t.as_ptr() as usize - text.as_ptr() as usize;
        para = Some((para.map_or(start, |(s, _)| s), start + t.len()));
        b.lines.push(t);
    }
    if let Some((start, end)) = para {
        b.paragraphs.push(&text[start..end]);
    }
    b
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
            assert_eq!(a.word_stats(), reference_stats(text), "{text:?}");
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
            Analysis::new("a\nb\n\n\nc\n  \nd", 0).paragraphs(),
            ["a\nb", "c", "d"]
        );
    }

    /// The counts as defined, over `str::split_whitespace` and `char` predicates.
    fn reference_stats(text: &str) -> WordStats {
        let mut st = WordStats::default();
        for w in text.split_whitespace() {
            st.words += 1;
            if w.chars().any(char::is_alphanumeric) {
                st.alnum_words += 1;
                st.alnum_chars += w.chars().count();
            }
            st.alpha_words += usize::from(w.chars().any(char::is_alphabetic));
        }
        st
    }

    #[test]
    fn word_stats_match_the_definition_on_every_white_space_character() {
        // Every White_Space character, and non-space ones sharing their lead bytes.
        let pieces = [
            " ", "\t", "\n", "\x0b", "\x0c", "\r", "\u{85}", "\u{a0}", "\u{1680}", "\u{2000}",
            "\u{200a}", "\u{200b}", "\u{2028}", "\u{2029}", "\u{202f}", "\u{205f}", "\u{3000}",
            "\u{a9}", "\u{1681}", "\u{2014}", "\u{3001}", "\x1c", "a", "bc", "é", "字", "😀", "7",
            "-", "#", "Zz9", "\u{2160}", "\u{660}",
        ];
        let mut rng = crate::fuzzing::Rng(11);
        for _ in 0..2000 {
            let text: String = (0..rng.below(12))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            assert_eq!(word_stats(&text), reference_stats(&text), "{text:?}");
        }
    }

    /// Paragraphs as first defined: cut the text at each line break followed by a blank
    /// line that ends in a line break, trim the pieces, drop the empty ones.
    fn reference_paragraphs(text: &str) -> Vec<&str> {
        let (mut out, mut rest) = (Vec::new(), text);
        while !rest.is_empty() {
            let (mut para, mut tail) = (rest, "");
            let mut start = 0;
            while let Some(i) = rest[start..].find('\n') {
                let nl = start + i;
                if let Some(j) = rest[nl + 1..].find('\n') {
                    if rest[nl + 1..nl + 1 + j].trim().is_empty() {
                        (para, tail) = (&rest[..nl], &rest[nl + 1 + j..]);
                        break;
                    }
                }
                start = nl + 1;
            }
            rest = tail;
            if !para.trim().is_empty() {
                out.push(para.trim());
            }
        }
        out
    }

    #[test]
    fn lines_and_paragraphs_match_their_definitions() {
        let pieces = [
            "\n", "\n", "\n", " ", "\t", "\r", "\u{a0}", "\u{2028}", "a", "bc", "é", "- x", "字",
        ];
        let mut rng = crate::fuzzing::Rng(17);
        for _ in 0..3000 {
            let text: String = (0..rng.below(14))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            let a = Analysis::new(&text, 0);
            let lines: Vec<&str> = text
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(a.lines(), lines.as_slice(), "{text:?}");
            assert_eq!(
                a.paragraphs(),
                reference_paragraphs(&text).as_slice(),
                "{text:?}"
            );
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
