//! Document filters with datatrove's small contract: a filter looks at one document
//! and returns keep, or reject with a reason (one per filter, counted in the report)
//! and a detail naming the rule that fired (e.g. `dup_line_frac 0.41 > 0.30`).
//! PII redaction is not a filter (it edits kept documents) but lives beside them.

pub mod length;
pub mod pii;
pub mod quality;
pub mod repetition;

use crate::config::FiltersConfig;

/// What a filter decides about one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Reject {
        reason: &'static str,
        detail: String,
    },
}

/// The views of a document that filters read: its original text and its normalized
/// form (see `normalize`), computed once per document by the caller.
pub struct Doc<'a> {
    pub text: &'a str,
    pub normalized: &'a str,
}

pub trait Filter: Send + Sync {
    /// The reject reason this filter reports.
    fn name(&self) -> &'static str;
    fn check(&self, doc: &Doc<'_>) -> Verdict;
}

/// The enabled filters in their fixed order (length, repetition, quality); the first
/// rejection wins.
pub struct FilterChain {
    filters: Vec<Box<dyn Filter>>,
}

impl FilterChain {
    pub fn from_config(c: &FiltersConfig) -> FilterChain {
        let mut filters: Vec<Box<dyn Filter>> = Vec::new();
        if c.length.enabled {
            filters.push(Box::new(length::LengthFilter::new(c.length.clone())));
        }
        if c.repetition.enabled {
            filters.push(Box::new(repetition::RepetitionFilter::new(
                c.repetition.clone(),
            )));
        }
        if c.quality.enabled {
            filters.push(Box::new(quality::QualityFilter::new(c.quality.clone())));
        }
        FilterChain { filters }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    pub fn check(&self, doc: &Doc<'_>) -> Verdict {
        for f in &self.filters {
            let v = f.check(doc);
            if v != Verdict::Keep {
                return v;
            }
        }
        Verdict::Keep
    }
}

/// `Reject` when `value > max`, with a detail like `dup_line_frac 0.41 > 0.30`.
pub(crate) fn above(reason: &'static str, name: &str, value: f64, max: f64) -> Option<Verdict> {
    (value > max).then(|| Verdict::Reject {
        reason,
        detail: format!("{name} {value:.2} > {max:.2}"),
    })
}

/// `Reject` when `value < min`.
pub(crate) fn below(reason: &'static str, name: &str, value: f64, min: f64) -> Option<Verdict> {
    (value < min).then(|| Verdict::Reject {
        reason,
        detail: format!("{name} {value:.2} < {min:.2}"),
    })
}
