//! Gopher's repetition filter (Rae et al. 2021): duplicate lines and paragraphs (by
//! count and by characters), the character share of the most frequent 2/3/4-gram, and
//! the character share covered by repeated 5..10-grams. Lines and paragraphs compare
//! trimmed original text; n-grams use the normalized words, whose characters are the
//! denominator of the n-gram fractions.

use super::{above, Doc, Filter, Verdict};
use crate::config::RepetitionConfig;
use crate::normalize::words;
use std::collections::{HashMap, HashSet};
use xxhash_rust::xxh3::xxh3_64;

pub struct RepetitionFilter {
    c: RepetitionConfig,
}

impl RepetitionFilter {
    pub fn new(c: RepetitionConfig) -> Self {
        RepetitionFilter { c }
    }
}

const R: &str = "repetition";

/// (duplicate count, duplicate characters): every occurrence after the first counts.
fn duplicates<'a>(items: impl Iterator<Item = &'a str>) -> (usize, usize, usize) {
    let mut seen = HashSet::new();
    let (mut total, mut dup, mut dup_chars) = (0, 0, 0);
    for item in items {
        total += 1;
        if !seen.insert(item) {
            dup += 1;
            dup_chars += item.chars().count();
        }
    }
    (total, dup, dup_chars)
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

/// Hashes of every n-gram for n = 1..=MAX_N: `table[n][i]` is the n-gram starting at
/// word `i`, built incrementally so all sizes cost one pass per size.
const MAX_N: usize = 10;

fn ngram_hashes(words: &[u64]) -> Vec<Vec<u64>> {
    let mut table = vec![Vec::new(); MAX_N + 1];
    let mut current: Vec<u64> = words.to_vec();
    for (n, slot) in table.iter_mut().enumerate().skip(1) {
        if n > 1 {
            // Extend every (n-1)-gram at i by word i+n-1.
            current.truncate(words.len().saturating_sub(n - 1));
            for (i, h) in current.iter_mut().enumerate() {
                *h = mix(*h, words[i + n - 1]);
            }
        }
        *slot = current.clone();
    }
    table
}

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (h >> 29)
}

/// Keys are already hashes: pass them through instead of hashing again.
#[derive(Default, Clone, Copy)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Build = std::hash::BuildHasherDefault<PassThrough>;
/// Scratch tables reused across n-gram sizes (cleared, capacity kept).
type Counts = HashMap<u64, (u32, usize), Build>;
type Seen = HashSet<u64, Build>;

/// Character share of the most frequent n-gram that occurs more than once.
fn top_ngram_frac(
    grams: &[u64],
    lens: &[usize],
    n: usize,
    total: usize,
    counts: &mut Counts,
) -> f64 {
    if grams.is_empty() || total == 0 {
        return 0.0;
    }
    counts.clear();
    for (i, &g) in grams.iter().enumerate() {
        counts
            .entry(g)
            .or_insert_with(|| (0, lens[i..i + n].iter().sum()))
            .0 += 1;
    }
    let best = counts
        .values()
        .filter(|(c, _)| *c > 1)
        .map(|&(c, len)| c as usize * len)
        .max()
        .unwrap_or(0);
    best as f64 / total as f64
}

/// Character share of the words covered by n-grams seen earlier in the document.
fn dup_ngram_frac(grams: &[u64], lens: &[usize], n: usize, total: usize, seen: &mut Seen) -> f64 {
    if grams.is_empty() || total == 0 {
        return 0.0;
    }
    seen.clear();
    let mut covered = vec![false; lens.len()];
    for (i, &g) in grams.iter().enumerate() {
        if !seen.insert(g) {
            covered[i..i + n].iter_mut().for_each(|c| *c = true);
        }
    }
    let dup: usize = covered
        .iter()
        .zip(lens)
        .filter(|(c, _)| **c)
        .map(|(_, l)| l)
        .sum();
    dup as f64 / total as f64
}

impl Filter for RepetitionFilter {
    fn name(&self) -> &'static str {
        R
    }

    fn check(&self, doc: &Doc<'_>) -> Verdict {
        let c = &self.c;
        let text_chars = doc.text.chars().count().max(1) as f64;
        let lines = doc
            .text
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty());
        let (n_lines, dup_lines, dup_line_chars) = duplicates(lines);
        if n_lines > 0 {
            if let Some(v) = above(
                R,
                "dup_line_frac",
                dup_lines as f64 / n_lines as f64,
                c.max_dup_line_frac,
            ) {
                return v;
            }
        }
        let (n_paras, dup_paras, dup_para_chars) = duplicates(paragraphs(doc.text));
        if n_paras > 0 {
            if let Some(v) = above(
                R,
                "dup_para_frac",
                dup_paras as f64 / n_paras as f64,
                c.max_dup_para_frac,
            ) {
                return v;
            }
        }
        if let Some(v) = above(
            R,
            "dup_line_char_frac",
            dup_line_chars as f64 / text_chars,
            c.max_dup_line_char_frac,
        ) {
            return v;
        }
        if let Some(v) = above(
            R,
            "dup_para_char_frac",
            dup_para_chars as f64 / text_chars,
            c.max_dup_para_char_frac,
        ) {
            return v;
        }
        let ws: Vec<&str> = words(doc.normalized).collect();
        let hashes: Vec<u64> = ws.iter().map(|w| xxh3_64(w.as_bytes())).collect();
        let lens: Vec<usize> = ws.iter().map(|w| w.chars().count()).collect();
        let total: usize = lens.iter().sum();
        let table = ngram_hashes(&hashes);
        let mut counts = Counts::with_capacity_and_hasher(hashes.len(), Build::default());
        for (n, max) in c.max_top_ngram_char_frac.by_n() {
            let frac = top_ngram_frac(&table[n], &lens, n, total, &mut counts);
            if let Some(v) = above(R, &format!("top_{n}gram_char_frac"), frac, max) {
                return v;
            }
        }
        let mut seen = Seen::with_capacity_and_hasher(hashes.len(), Build::default());
        for (n, max) in c.max_dup_ngram_char_frac.by_n() {
            let frac = dup_ngram_frac(&table[n], &lens, n, total, &mut seen);
            if let Some(v) = above(R, &format!("dup_{n}gram_char_frac"), frac, max) {
                return v;
            }
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn check(text: &str) -> Verdict {
        let normalized = normalize(text);
        RepetitionFilter::new(RepetitionConfig::default()).check(&Doc {
            text,
            normalized: &normalized,
        })
    }

    fn detail(v: Verdict) -> String {
        match v {
            Verdict::Reject { reason, detail } => {
                assert_eq!(reason, "repetition");
                detail
            }
            Verdict::Keep => "keep".into(),
        }
    }

    /// Distinct words, so no n-gram repeats: w0 w1 w2 ...
    fn distinct(n: usize, offset: usize) -> String {
        (offset..offset + n)
            .map(|i| format!("w{i}x"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn varied_text_is_kept() {
        let lines: Vec<String> = (0..10).map(|i| distinct(12, i * 12)).collect();
        assert_eq!(check(&lines.join("\n")), Verdict::Keep);
    }

    #[test]
    fn duplicate_lines_fraction() {
        // 10 lines, 4 of them repeats of line 0: 0.40 > 0.30.
        let mut lines: Vec<String> = (0..6).map(|i| distinct(3, i * 3)).collect();
        lines.extend(std::iter::repeat_n(lines[0].clone(), 4));
        assert_eq!(
            detail(check(&lines.join("\n"))),
            "dup_line_frac 0.40 > 0.30"
        );
        // 10 lines, 3 repeats: 0.30 is not above 0.30, but the repeated characters are.
        let mut lines: Vec<String> = (0..7).map(|i| distinct(3, i * 3)).collect();
        lines.extend(std::iter::repeat_n(lines[0].clone(), 3));
        assert!(detail(check(&lines.join("\n"))).starts_with("dup_line_char_frac"));
    }

    #[test]
    fn duplicate_paragraphs_fraction() {
        let mut paras: Vec<String> = (0..3)
            .map(|i| format!("{}\n{}", distinct(20, i * 40), distinct(20, i * 40 + 20)))
            .collect();
        paras.push(paras[0].clone());
        paras.push(paras[1].clone());
        // Lines repeat too, but paragraphs are tested after lines: 4 of 10 lines repeat.
        assert_eq!(
            detail(check(&paras.join("\n\n"))),
            "dup_line_frac 0.40 > 0.30"
        );
        let paras = [distinct(30, 0), distinct(30, 100), distinct(30, 0)];
        let text = paras.join("\n \n");
        // 3 paragraphs = 3 lines; 1 repeat: 0.33 > 0.30 on lines first.
        assert_eq!(detail(check(&text)), "dup_line_frac 0.33 > 0.30");
        assert_eq!(
            paragraphs("a\nb\n\n\nc\n  \nd").collect::<Vec<_>>(),
            ["a\nb", "c", "d"]
        );
    }

    #[test]
    fn top_bigram_share() {
        // "aa bb" 10 times among 40 distinct words: 10 * 4 chars / (40 + 40*~3.5 chars).
        let mut words: Vec<String> = Vec::new();
        for i in 0..10 {
            words.push("aa bb".into());
            words.push(distinct(4, i * 4));
        }
        let text = words.join(" ");
        let v = detail(check(&text));
        assert!(v.starts_with("top_2gram_char_frac"), "{v}");
        let filter = RepetitionFilter::new(RepetitionConfig {
            max_top_ngram_char_frac: crate::config::TopNgramConfig {
                n2: 1.0,
                n3: 1.0,
                n4: 1.0,
            },
            ..RepetitionConfig::default()
        });
        let normalized = normalize(&text);
        let v = detail(filter.check(&Doc {
            text: &text,
            normalized: &normalized,
        }));
        assert!(v.starts_with("dup_5gram_char_frac") || v == "keep", "{v}");
    }

    #[test]
    fn repeated_long_ngrams_share() {
        // A 10-word passage written twice inside 60 distinct words: 20/80 words covered.
        let passage = distinct(10, 1000);
        let text = format!(
            "{} {passage} {} {passage}",
            distinct(30, 0),
            distinct(30, 30)
        );
        let normalized = normalize(&text);
        let ws: Vec<&str> = words(&normalized).collect();
        let hashes: Vec<u64> = ws.iter().map(|w| xxh3_64(w.as_bytes())).collect();
        let lens: Vec<usize> = ws.iter().map(|w| w.chars().count()).collect();
        let total = lens.iter().sum();
        let table = ngram_hashes(&hashes);
        let mut seen = Seen::default();
        let frac = dup_ngram_frac(&table[5], &lens, 5, total, &mut seen);
        let passage_chars: usize = passage.split(' ').map(str::len).sum();
        assert!((frac - passage_chars as f64 / total as f64).abs() < 1e-9);
        assert!(detail(check(&text)).starts_with("dup_5gram_char_frac"));
        assert!((dup_ngram_frac(&table[10], &lens, 10, total, &mut seen) - frac).abs() < 1e-12);
        assert!(ngram_hashes(&hashes[..3])[5].is_empty());
        assert_eq!(table[10].len(), hashes.len() - 9);
    }
}
