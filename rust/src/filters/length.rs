//! Length filter: whitespace-separated words and characters, each with a min and max.

use super::{Doc, Filter, Verdict};
use crate::config::LengthConfig;

pub struct LengthFilter {
    c: LengthConfig,
}

impl LengthFilter {
    pub fn new(c: LengthConfig) -> Self {
        LengthFilter { c }
    }
}

impl Filter for LengthFilter {
    fn name(&self) -> &'static str {
        "length"
    }

    fn check(&self, doc: &Doc<'_>) -> Verdict {
        let c = &self.c;
        let words = doc.text.split_whitespace().count() as u64;
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
            let chars = doc.text.chars().count() as u64;
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
        LengthFilter::new(c).check(&Doc {
            text,
            normalized: "",
        })
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
