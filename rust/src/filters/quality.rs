//! Gopher's quality heuristics on whitespace-separated words and lines: mean word
//! length, '#' and ellipsis to word ratios, bullet and ellipsis line fractions, and
//! the share of words with an alphabetic character.

use super::Verdict;
use crate::analysis::Analysis;
use crate::config::{Config, QualityConfig};
use crate::stage::{above, below, Attributes, Build, Phase, ScanStage, StageSpec};

pub const STAGE: StageSpec = StageSpec {
    name: "filter:quality",
    phase: Phase::Scan,
    section: "filters.quality",
    keys: &[
        ("enabled", "Gopher quality heuristics"),
        (
            "min_mean_word_len",
            "shortest mean word length (words with a letter or digit)",
        ),
        ("max_mean_word_len", "longest mean word length"),
        (
            "max_symbol_word_ratio",
            "most '#' and '...' occurrences per word",
        ),
        ("max_bullet_lines_frac", "most lines starting with a bullet"),
        (
            "max_ellipsis_lines_frac",
            "most lines ending with an ellipsis",
        ),
        (
            "min_alpha_words_frac",
            "fewest words with an alphabetic character",
        ),
    ],
    enabled: |c| c.filters.quality.enabled,
    plan: |c| {
        let q = &c.filters.quality;
        Ok(format!(
            "mean word length {}..={}, symbols/word <= {}, bullet lines <= {}, ellipsis lines <= {}, alphabetic words >= {}",
            q.min_mean_word_len,
            q.max_mean_word_len,
            q.max_symbol_word_ratio,
            q.max_bullet_lines_frac,
            q.max_ellipsis_lines_frac,
            q.min_alpha_words_frac
        ))
    },
    build: Build::Scan(|c: &Config| Ok(Box::new(QualityFilter::new(c.filters.quality.clone())))),
    resume: "scan records (.state/scan-NNNNN.bin, one per input file)",
};

pub struct QualityFilter {
    c: QualityConfig,
}

impl QualityFilter {
    pub fn new(c: QualityConfig) -> Self {
        QualityFilter { c }
    }
}

const Q: &str = "quality";
const BULLETS: &[char] = &['•', '‣', '◦', '⁃', '▪', '●', '-', '*', '–'];

fn ends_with_ellipsis(s: &str) -> bool {
    s.ends_with("...") || s.ends_with('…')
}

impl ScanStage for QualityFilter {
    fn name(&self) -> &'static str {
        Q
    }

    fn scan(&self, doc: &Analysis<'_>, _: &mut Attributes) -> Verdict {
        let c = &self.c;
        let text = doc.text();
        let words = doc.word_stats();
        if words.words == 0 {
            return Verdict::Reject {
                reason: Q,
                detail: "no words".into(),
            };
        }
        let n = words.words as f64;
        // Mean length over words that are not pure punctuation.
        let mean = if words.alnum_words == 0 {
            0.0
        } else {
            words.alnum_chars as f64 / words.alnum_words as f64
        };
        if let Some(v) = below(Q, "mean_word_len", mean, c.min_mean_word_len) {
            return v;
        }
        if let Some(v) = above(Q, "mean_word_len", mean, c.max_mean_word_len) {
            return v;
        }
        let hashes = memchr::memchr_iter(b'#', text.as_bytes()).count() as f64;
        if let Some(v) = above(Q, "hash_word_ratio", hashes / n, c.max_symbol_word_ratio) {
            return v;
        }
        // Non-overlapping matches, as `str::matches` counts them.
        let ellipses = (memchr::memmem::find_iter(text.as_bytes(), b"...").count()
            + memchr::memmem::find_iter(text.as_bytes(), "…".as_bytes()).count())
            as f64;
        if let Some(v) = above(
            Q,
            "ellipsis_word_ratio",
            ellipses / n,
            c.max_symbol_word_ratio,
        ) {
            return v;
        }
        let lines = doc.lines();
        if !lines.is_empty() {
            let nl = lines.len() as f64;
            let bullets = lines.iter().filter(|l| l.starts_with(BULLETS)).count() as f64;
            if let Some(v) = above(
                Q,
                "bullet_lines_frac",
                bullets / nl,
                c.max_bullet_lines_frac,
            ) {
                return v;
            }
            let ell = lines.iter().filter(|l| ends_with_ellipsis(l)).count() as f64;
            if let Some(v) = above(
                Q,
                "ellipsis_lines_frac",
                ell / nl,
                c.max_ellipsis_lines_frac,
            ) {
                return v;
            }
        }
        if let Some(v) = below(
            Q,
            "alpha_words_frac",
            words.alpha_words as f64 / n,
            c.min_alpha_words_frac,
        ) {
            return v;
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Verdict {
        QualityFilter::new(QualityConfig::default()).scan(&Analysis::new(text, 0), &mut Vec::new())
    }

    fn detail(text: &str) -> String {
        match check(text) {
            Verdict::Reject { reason, detail } => {
                assert_eq!(reason, "quality");
                detail
            }
            Verdict::Keep => "keep".into(),
        }
    }

    #[test]
    fn plain_prose_is_kept() {
        assert_eq!(
            check("The quick brown fox jumps over the lazy dog.\nIt was a sunny day."),
            Verdict::Keep
        );
    }

    #[test]
    fn mean_word_length_range() {
        assert_eq!(detail("a b c d e f"), "mean_word_len 1.00 < 3.00");
        assert_eq!(
            detail("internationalization extraordinarily"),
            "mean_word_len 17.50 > 10.00"
        );
    }

    #[test]
    fn symbol_ratios() {
        // 3 hashes over 10 words: 0.30 > 0.10.
        assert_eq!(
            detail("#tag #more #more words here that are plain ok fine"),
            "hash_word_ratio 0.30 > 0.10"
        );
        assert_eq!(
            detail("wait... what... really? these words are quite plain."),
            "ellipsis_word_ratio 0.25 > 0.10"
        );
        // Five dots are one ellipsis (matches do not overlap); '…' counts too: 2 in 10 words.
        assert_eq!(
            detail("wait..... what\u{2026} really these words are quite plain here now"),
            "ellipsis_word_ratio 0.20 > 0.10"
        );
    }

    #[test]
    fn bullet_and_ellipsis_lines() {
        let bullets = (0..10)
            .map(|i| format!("- item number {i} here"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(detail(&bullets), "bullet_lines_frac 1.00 > 0.90");
        let mut lines: Vec<String> = (0..6)
            .map(|i| format!("a sentence that ends well {i}"))
            .collect();
        lines.extend(
            (0..4).map(|i| format!("a sentence that trails off {i} and more words here too…")),
        );
        assert_eq!(detail(&lines.join("\n")), "ellipsis_lines_frac 0.40 > 0.30");
    }

    #[test]
    fn alphabetic_words_fraction() {
        assert_eq!(
            detail("1234 5678 9012 3456 hello world"),
            "alpha_words_frac 0.33 < 0.80"
        );
        assert_eq!(detail("   "), "no words");
    }
}
