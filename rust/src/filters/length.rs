//! Length filter: whitespace-separated words and characters, each with a min and max.

use super::Verdict;
use crate::analysis::Analysis;
use crate::config::{Config, LengthConfig};
use crate::stage::{Attributes, Build, Phase, ScanStage, StageSpec};

pub const STAGE: StageSpec = StageSpec {
    name: "filter:length",
    phase: Phase::Scan,
    section: "filters.length",
    keys: &[
        ("enabled", "reject documents outside the bounds below"),
        ("min_words", "fewest whitespace-separated words"),
        ("max_words", "most whitespace-separated words"),
        ("min_chars", "fewest characters"),
        ("max_chars", "most characters"),
    ],
    enabled: |c| c.filters.length.enabled,
    plan: |c| {
        let l = &c.filters.length;
        Ok(format!(
            "words {}..={}, chars {}..={}",
            l.min_words, l.max_words, l.min_chars, l.max_chars
        ))
    },
    build: Build::Scan(|c: &Config| Ok(Box::new(LengthFilter::new(c.filters.length.clone())))),
    resume: "scan records (.state/scan-NNNNN.bin, one per input file)",
};

pub struct LengthFilter {
    c: LengthConfig,
}

impl LengthFilter {
    pub fn new(c: LengthConfig) -> Self {
        LengthFilter { c }
    }
}

impl ScanStage for LengthFilter {
    fn name(&self) -> &'static str {
        "length"
    }

    fn scan(&self, doc: &Analysis<'_>, _: &mut Attributes) -> Verdict {
        let c = &self.c;
        let words = doc.word_stats().words as u64;
        let reject = |detail: String| Verdict::Reject {
            reason: "length",
            detail,
        };
        if words < c.min_words {
            return reject(format!("words {words} < {}", c.min_words));
        }
        if words > c.max_words {
            return reject(format!("words {words} > {}", c.max_words));
        }
        if c.min_chars > 0 || c.max_chars < u64::MAX {
            let chars = doc.chars() as u64;
            if chars < c.min_chars {
                return reject(format!("chars {chars} < {}", c.min_chars));
            }
            if chars > c.max_chars {
                return reject(format!("chars {chars} > {}", c.max_chars));
            }
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: LengthConfig, text: &str) -> Verdict {
        LengthFilter::new(c).scan(&Analysis::new(text, 0), &mut Vec::new())
    }

    #[test]
    fn bounds_on_words_and_chars() {
        let c = LengthConfig {
            enabled: true,
            min_words: 3,
            max_words: 5,
            min_chars: 0,
            max_chars: 25,
        };
        assert_eq!(check(c.clone(), "one two three"), Verdict::Keep);
        assert_eq!(
            check(c.clone(), "one two"),
            Verdict::Reject {
                reason: "length",
                detail: "words 2 < 3".into()
            }
        );
        assert_eq!(
            check(c.clone(), "a b c d e f"),
            Verdict::Reject {
                reason: "length",
                detail: "words 6 > 5".into()
            }
        );
        assert_eq!(
            check(c, "twelve letters, quite long"),
            Verdict::Reject {
                reason: "length",
                detail: "chars 26 > 25".into()
            }
        );
        let c = LengthConfig {
            enabled: true,
            min_words: 0,
            max_words: 9,
            min_chars: 5,
            max_chars: u64::MAX,
        };
        assert_eq!(
            check(c, "héé"),
            Verdict::Reject {
                reason: "length",
                detail: "chars 3 < 5".into()
            }
        );
    }
}
