//! Document filters, scan stages of the stage contract (`crate::stage`): each looks at
//! one document's shared analysis and returns keep, or reject with a reason (its name,
//! counted in the report) and a detail naming the rule that fired (e.g.
//! `dup_line_frac 0.41 > 0.30`). PII redaction is a write stage (it edits kept
//! documents) but lives beside them.

pub mod length;
pub mod pii;
pub mod quality;
pub mod redact;
pub mod repetition;

pub use crate::stage::Verdict;
