//! Gopher's repetition filters: the fraction of duplicate lines and paragraphs (by
//! count and by characters), the character share of the most frequent 2/3/4-gram, and
//! the character share covered by repeated 5..10-grams. Lines and paragraphs compare
//! trimmed original text; n-grams use the normalized words, whose characters are the
//! denominator of the n-gram fractions.
//!
//! The n-gram statistics refine classes of equal n-grams from n = 1 to 10: an n-gram
//! that occurs once cannot extend to an (n+1)-gram that occurs twice, so each size only
//! looks at the positions whose shorter n-gram repeats (few, past n = 3 in real text).

use super::Verdict;
use crate::analysis::Analysis;
use crate::config::{Config, RepetitionConfig};
use crate::stage::{above, Attributes, Build as BuildStage, Phase, ScanStage, StageSpec};
use std::cell::RefCell;
use std::collections::HashMap;
use xxhash_rust::xxh3::xxh3_64;

pub const STAGE: StageSpec = StageSpec {
    name: "filter:repetition",
    phase: Phase::Scan,
    section: "filters.repetition",
    keys: &[
        ("enabled", "Gopher repetition filters"),
        ("max_dup_line_frac", "most duplicate lines, by count"),
        ("max_dup_para_frac", "most duplicate paragraphs, by count"),
        (
            "max_dup_line_char_frac",
            "most characters in duplicate lines",
        ),
        (
            "max_dup_para_char_frac",
            "most characters in duplicate paragraphs",
        ),
        (
            "max_top_ngram_char_frac.2",
            "most characters in the top 2-gram",
        ),
        (
            "max_top_ngram_char_frac.3",
            "most characters in the top 3-gram",
        ),
        (
            "max_top_ngram_char_frac.4",
            "most characters in the top 4-gram",
        ),
        (
            "max_dup_ngram_char_frac.5",
            "most characters covered by repeated 5-grams",
        ),
        (
            "max_dup_ngram_char_frac.6",
            "most characters covered by repeated 6-grams",
        ),
        (
            "max_dup_ngram_char_frac.7",
            "most characters covered by repeated 7-grams",
        ),
        (
            "max_dup_ngram_char_frac.8",
            "most characters covered by repeated 8-grams",
        ),
        (
            "max_dup_ngram_char_frac.9",
            "most characters covered by repeated 9-grams",
        ),
        (
            "max_dup_ngram_char_frac.10",
            "most characters covered by repeated 10-grams",
        ),
    ],
    enabled: |c| c.filters.repetition.enabled,
    plan: |c| {
        let r = &c.filters.repetition;
        let top: Vec<String> = r
            .max_top_ngram_char_frac
            .by_n()
            .iter()
            .map(|(n, v)| format!("{n}:{v}"))
            .collect();
        let dup: Vec<String> = r
            .max_dup_ngram_char_frac
            .by_n()
            .iter()
            .map(|(n, v)| format!("{n}:{v}"))
            .collect();
        Ok(format!(
            "dup lines <= {} ({} of chars), dup paragraphs <= {} ({} of chars), top n-gram chars {{{}}}, dup n-gram chars {{{}}}",
            r.max_dup_line_frac,
            r.max_dup_line_char_frac,
            r.max_dup_para_frac,
            r.max_dup_para_char_frac,
            top.join(", "),
            dup.join(", ")
        ))
    },
    build: BuildStage::Scan(|c: &Config| {
        Ok(Box::new(RepetitionFilter::new(
            c.filters.repetition.clone(),
        )))
    }),
    resume: "scan records (.state/scan-NNNNN.bin, one per input file)",
};

pub struct RepetitionFilter {
    c: RepetitionConfig,
}

impl RepetitionFilter {
    pub fn new(c: RepetitionConfig) -> Self {
        RepetitionFilter { c }
    }
}

const R: &str = "repetition";

/// Largest n-gram size the filters look at.
const MAX_N: usize = 10;

/// (count, duplicate count, duplicate characters): every occurrence after the first
/// counts. Items are sorted by (hash, position) and compared only within equal hashes.
fn duplicates(items: &[&str], keys: &mut Vec<(u64, u32)>) -> (usize, usize, usize) {
    keys.clear();
    #[allow(clippy::cast_possible_truncation)] // documents have < 4 G lines
    keys.extend(
        items
            .iter()
            .enumerate()
            .map(|(i, s)| (xxh3_64(s.as_bytes()), i as u32)),
    );
    keys.sort_unstable();
    let (mut dup, mut dup_chars) = (0, 0);
    let mut run = 0;
    while run < keys.len() {
        let mut end = run + 1;
        while end < keys.len() && keys[end].0 == keys[run].0 {
            end += 1;
        }
        // Within a run (one hash, in input order): equal to an earlier item = a duplicate.
        for j in run + 1..end {
            let item = items[keys[j].1 as usize];
            if keys[run..j].iter().any(|&(_, k)| items[k as usize] == item) {
                dup += 1;
                dup_chars += if item.is_ascii() {
                    item.len()
                } else {
                    item.chars().count()
                };
            }
        }
        run = end;
    }
    (items.len(), dup, dup_chars)
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

/// Scratch buffers reused across documents (one set per thread).
#[derive(Default)]
struct Scratch {
    /// Positions whose n-gram may repeat, and the n-gram hash at each.
    active: Vec<u32>,
    grams: Vec<u64>,
    /// n-gram hash -> (occurrences, first position (its characters once it repeats), the
    /// first occurrence's index in `active`).
    counts: HashMap<u64, (u32, u32, u32), Build>,
    /// Per index in `active`: its n-gram occurs more than once (it survives to n + 1).
    repeats: Vec<bool>,
    covered: Vec<bool>,
    keys: Vec<(u64, u32)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The n-gram statistics, in the order the filter checks them: for each n, the top
/// n-gram's character share (n = 2..=4) or the repeated n-grams' coverage (n = 5..=10);
/// `check(n, frac)` returns a verdict to stop early.
fn ngram_fracs(
    hashes: &[u64],
    lens: &[u32],
    total: usize,
    s: &mut Scratch,
    mut check: impl FnMut(usize, f64) -> Option<Verdict>,
) -> Option<Verdict> {
    let len = hashes.len();
    s.active.clear();
    s.grams.clear();
    #[allow(clippy::cast_possible_truncation)] // documents have < 4 G words
    s.active.extend(0..len as u32);
    s.grams.extend_from_slice(hashes);
    let chars = |i: u32, n: usize| -> usize {
        let i = i as usize;
        lens[i..i + n].iter().map(|&l| l as usize).sum()
    };
    for n in 1..=MAX_N {
        if n > 1 {
            // Extend each surviving (n-1)-gram by one word. `active` is in increasing
            // order, so the positions too close to the end to extend are its tail.
            let fits = s.active.partition_point(|&i| i as usize + n <= len);
            s.active.truncate(fits);
            s.grams.truncate(fits);
            for (g, &i) in s.grams.iter_mut().zip(&s.active) {
                *g = mix(*g, hashes[i as usize + n - 1]);
            }
        }
        if s.active.is_empty() {
            // Nothing can repeat from here on: every remaining fraction is 0.
            return (n.max(2)..=MAX_N).find_map(|m| check(m, 0.0));
        }
        s.counts.clear();
        let dup = (5..=MAX_N).contains(&n);
        if dup {
            s.covered.clear();
            s.covered.resize(len, false);
        }
        s.repeats.clear();
        s.repeats.resize(s.active.len(), false);
        // The top repeated n-gram's characters x occurrences, kept as counts grow (a
        // count only grows, so the running maximum is the maximum over final counts).
        let mut best = 0usize;
        #[allow(clippy::cast_possible_truncation)] // documents have < 4 G words and chars
        for (j, (&i, &g)) in s.active.iter().zip(&s.grams).enumerate() {
            let e = s.counts.entry(g).or_insert((0, i, j as u32));
            e.0 += 1;
            if e.0 > 1 {
                if e.0 == 2 {
                    e.1 = chars(e.1, n) as u32;
                }
                best = best.max(e.0 as usize * e.1 as usize);
                // Marked here, so the survivors need no second lookup.
                s.repeats[j] = true;
                s.repeats[e.2 as usize] = true;
                if dup {
                    // Seen earlier in the document: its words are covered by a repeat.
                    s.covered[i as usize..i as usize + n]
                        .iter_mut()
                        .for_each(|c| *c = true);
                }
            }
        }
        if total > 0 && len >= n {
            if (2..=4).contains(&n) {
                if let Some(v) = check(n, best as f64 / total as f64) {
                    return Some(v);
                }
            } else if dup {
                let covered: usize = s
                    .covered
                    .iter()
                    .zip(lens)
                    .filter(|(c, _)| **c)
                    .map(|(_, &l)| l as usize)
                    .sum();
                if let Some(v) = check(n, covered as f64 / total as f64) {
                    return Some(v);
                }
            }
        } else if n >= 2 {
            // No n-grams (or no characters): every fraction is 0.
            if let Some(v) = check(n, 0.0) {
                return Some(v);
            }
        }
        // Only n-grams that occur more than once can extend to repeated (n+1)-grams.
        // Branch-free: every entry is copied down, the cursor moves past the repeats only.
        let mut k = 0;
        let (active, grams) = (&mut s.active[..], &mut s.grams[..]);
        for (j, &rep) in s.repeats.iter().enumerate() {
            active[k] = active[j];
            grams[k] = grams[j];
            k += usize::from(rep);
        }
        s.active.truncate(k);
        s.grams.truncate(k);
    }
    None
}

impl ScanStage for RepetitionFilter {
    fn name(&self) -> &'static str {
        R
    }

    fn scan(&self, doc: &Analysis<'_>, _: &mut Attributes) -> Verdict {
        SCRATCH.with(|cell| self.check(doc, &mut cell.borrow_mut()))
    }
}

impl RepetitionFilter {
    fn check(&self, doc: &Analysis<'_>, s: &mut Scratch) -> Verdict {
        let c = &self.c;
        let text_chars = doc.chars().max(1) as f64;
        let (n_lines, dup_lines, dup_line_chars) = duplicates(doc.lines(), &mut s.keys);
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
        let (n_paras, dup_paras, dup_para_chars) = duplicates(doc.paragraphs(), &mut s.keys);
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
        let w = doc.norm_words();
        let top = c.max_top_ngram_char_frac.by_n();
        let dup = c.max_dup_ngram_char_frac.by_n();
        let verdict = ngram_fracs(&w.hashes, &w.chars, w.total_chars, s, |n, frac| {
            if let Some(&(_, max)) = top.iter().find(|(m, _)| *m == n) {
                return above(R, &format!("top_{n}gram_char_frac"), frac, max);
            }
            let &(_, max) = dup.iter().find(|(m, _)| *m == n)?;
            above(R, &format!("dup_{n}gram_char_frac"), frac, max)
        });
        verdict.unwrap_or(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Verdict {
        RepetitionFilter::new(RepetitionConfig::default())
            .scan(&Analysis::new(text, 0), &mut Vec::new())
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
        let v = detail(filter.scan(&Analysis::new(&text, 0), &mut Vec::new()));
        assert!(v.starts_with("dup_5gram_char_frac") || v == "keep", "{v}");
    }

    /// Every n-gram fraction as the definition says, from a full table of n-gram hashes.
    fn reference(hashes: &[u64], lens: &[u32], total: usize) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        let mut grams: Vec<u64> = hashes.to_vec();
        for n in 1..=MAX_N {
            if n > 1 {
                grams.truncate(hashes.len().saturating_sub(n - 1));
                for (i, h) in grams.iter_mut().enumerate() {
                    *h = mix(*h, hashes[i + n - 1]);
                }
            }
            let chars = |i: usize| lens[i..i + n].iter().map(|&l| l as usize).sum::<usize>();
            if n == 1 {
                continue;
            }
            let frac = if grams.is_empty() || total == 0 {
                0.0
            } else if n <= 4 {
                let mut counts: HashMap<u64, (usize, usize)> = HashMap::new();
                for (i, &g) in grams.iter().enumerate() {
                    counts.entry(g).or_insert((0, chars(i))).0 += 1;
                }
                let best = counts.values().filter(|c| c.0 > 1).map(|c| c.0 * c.1).max();
                best.unwrap_or(0) as f64 / total as f64
            } else {
                let mut seen = std::collections::HashSet::new();
                let mut covered = vec![false; lens.len()];
                for (i, &g) in grams.iter().enumerate() {
                    if !seen.insert(g) {
                        covered[i..i + n].iter_mut().for_each(|c| *c = true);
                    }
                }
                let dup: usize = (0..lens.len())
                    .filter(|&i| covered[i])
                    .map(|i| lens[i] as usize)
                    .sum();
                dup as f64 / total as f64
            };
            out.push((n, frac));
        }
        out
    }

    #[test]
    fn refined_ngram_classes_match_the_full_tables() {
        // Small vocabularies make every kind of repeat; lengths vary per word.
        let mut x = 7u64;
        for case in 0..300 {
            let vocab = 2 + case % 9;
            let len = case % 70;
            let words: Vec<u64> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % vocab as u64 + 1000
                })
                .collect();
            let lens: Vec<u32> = words.iter().map(|w| (w % 5 + 1) as u32).collect();
            let total = lens.iter().map(|&l| l as usize).sum();
            let mut got = Vec::new();
            let mut s = Scratch::default();
            let stop = ngram_fracs(&words, &lens, total, &mut s, |n, f| {
                got.push((n, f));
                None
            });
            assert!(stop.is_none());
            assert_eq!(
                got,
                reference(&words, &lens, total),
                "case {case}: {words:?}"
            );
        }
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
        let a = Analysis::new(&text, 0);
        let w = a.norm_words();
        let passage_chars: usize = passage.split(' ').map(str::len).sum();
        let mut fracs = Vec::new();
        ngram_fracs(
            &w.hashes,
            &w.chars,
            w.total_chars,
            &mut Scratch::default(),
            |n, f| {
                fracs.push((n, f));
                None
            },
        );
        let want = passage_chars as f64 / w.total_chars as f64;
        for (n, f) in fracs.iter().filter(|(n, _)| *n >= 5) {
            assert!((f - want).abs() < 1e-9, "{n}: {f} vs {want}");
        }
        assert!(detail(check(&text)).starts_with("dup_5gram_char_frac"));
    }
}
