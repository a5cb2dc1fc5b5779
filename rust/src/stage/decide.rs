//! The decide phase's contract: a global stage over the compact scan records of the whole
//! job (ids, exact keys, sketches, attributes), never the texts. It reads the documents of
//! its [`Scope`], in input order, and returns the ones it rejects; the pipeline applies the
//! rejections and runs the next decide stage. Exact dedup, near-dup clustering and a
//! selection policy over attributes (top fraction, threshold, quota) are decide stages.
//!
//! A selection stage needs only [`DecideInput::len`] and [`DecideInput::attribute`]: it
//! ranks or thresholds the values and returns `(index, Rejection::new("select"))` pairs.

use crate::config::Config;
use crate::pipeline::state::{ScanFile, ScanRecord};
use crate::Result;
use std::path::Path;

/// A document's decision after the decide phase, applied by the write phase.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Keep,
    Reject(Rejection),
}

/// Why a document is rejected, as written beside it in `rejected/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The reject reason, counted in the report.
    pub reason: String,
    /// The rule that fired (`reject_detail`).
    pub detail: Option<String>,
    /// The kept document this one duplicates (`duplicate_of`).
    pub duplicate_of: Option<String>,
    /// The duplicate cluster (`cluster_id`).
    pub cluster_id: Option<u64>,
}

impl Rejection {
    /// A rejection with only a reason.
    pub fn new(reason: &str) -> Rejection {
        Rejection {
            reason: reason.to_string(),
            detail: None,
            duplicate_of: None,
            cluster_id: None,
        }
    }
}

/// The documents a decide stage reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every well-formed document, whether or not a scan stage rejected it; the stage's
    /// rejection replaces the scan's (exact dedup: a copy of a filtered document is a copy).
    Parsed,
    /// The documents still kept when the stage runs (near-dup, selection).
    Kept,
}

/// What a decide stage may know of where the job runs.
pub struct DecideEnv<'a> {
    /// Where a stage may spill (the job's `.state/`).
    pub spill_dir: &'a Path,
    /// No progress or plan lines on stderr.
    pub quiet: bool,
}

/// The documents of a decide stage's scope, in input order, by index `0..len()`.
pub struct DecideInput<'a> {
    scans: &'a mut [ScanFile],
    /// (file, record) of each document in scope.
    docs: &'a [(usize, usize)],
    /// Global input ordinal of each file's first record.
    offsets: &'a [u64],
    pub env: &'a DecideEnv<'a>,
}

impl<'a> DecideInput<'a> {
    pub fn new(
        scans: &'a mut [ScanFile],
        docs: &'a [(usize, usize)],
        offsets: &'a [u64],
        env: &'a DecideEnv<'a>,
    ) -> Self {
        DecideInput {
            scans,
            docs,
            offsets,
            env,
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The scan record of document `i`.
    pub fn record(&self, i: usize) -> &ScanRecord {
        let (f, r) = self.docs[i];
        &self.scans[f].records[r]
    }

    /// The scan record of document `i`, to take what no later phase needs (a sketch).
    pub fn record_mut(&mut self, i: usize) -> &mut ScanRecord {
        let (f, r) = self.docs[i];
        &mut self.scans[f].records[r]
    }

    /// The attribute `name` a scan stage gave document `i`, if any.
    pub fn attribute(&self, i: usize, name: &str) -> Option<f64> {
        self.record(i)
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }

    /// The document's position in the whole job's input (increasing with `i`).
    pub fn ordinal(&self, i: usize) -> u64 {
        let (f, r) = self.docs[i];
        self.offsets[f] + r as u64
    }

    /// The input file that holds document `i` (for error messages).
    pub fn file(&self, i: usize) -> usize {
        self.docs[i].0
    }
}

/// What a decide stage concluded.
#[derive(Debug, Default)]
pub struct DecideOutcome {
    /// Documents rejected, by index into the stage's input, in any order.
    pub rejected: Vec<(usize, Rejection)>,
    /// The stage's section of `report.json`: (key, value).
    pub report: Option<(&'static str, serde_json::Value)>,
    /// Its line in the summary on stderr.
    pub summary: Option<String>,
}

/// The global part of a decide stage.
pub trait DecideStage: Send + Sync {
    /// The stage's name (its timing's key in the report).
    fn name(&self) -> &'static str;
    fn scope(&self) -> Scope;
    /// Decide over the documents in scope (on the job's thread pool).
    fn decide(&self, input: &mut DecideInput<'_>) -> Result<DecideOutcome>;
}

/// Builds a decide stage from the config (checking it).
pub type BuildDecide = fn(&Config) -> Result<Box<dyn DecideStage>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::decide::fixtures::{filtered, rec, run};
    use crate::pipeline::state::ScanVerdict;

    /// A selection policy as a decide stage: keep the documents whose `score` reaches a
    /// threshold. It reads attributes only.
    struct Threshold(f64);

    impl DecideStage for Threshold {
        fn name(&self) -> &'static str {
            "select"
        }
        fn scope(&self) -> Scope {
            Scope::Kept
        }
        fn decide(&self, input: &mut DecideInput<'_>) -> Result<DecideOutcome> {
            let rejected = (0..input.len())
                .filter(|&i| input.attribute(i, "score").unwrap_or(0.0) < self.0)
                .map(|i| (i, Rejection::new("select")))
                .collect();
            Ok(DecideOutcome {
                rejected,
                ..DecideOutcome::default()
            })
        }
    }

    #[test]
    fn a_selection_policy_is_a_decide_stage_over_attributes() {
        let score = |s: f64| [("score", s)];
        let stages: Vec<Box<dyn DecideStage>> = vec![Box::new(Threshold(0.5))];
        let d = run(
            &stages,
            vec![
                vec![
                    rec("a", 0, &score(0.9), ScanVerdict::Keep),
                    rec("b", 0, &score(0.1), ScanVerdict::Keep),
                ],
                vec![
                    rec("c", 0, &score(0.9), filtered()),
                    rec("d", 0, &score(0.5), ScanVerdict::Keep),
                ],
            ],
        );
        let reason = |f: usize, r: usize| match &d.decisions[f][r] {
            Decision::Keep => "keep".to_string(),
            Decision::Reject(x) => x.reason.clone(),
        };
        assert_eq!(
            [reason(0, 0), reason(0, 1), reason(1, 0), reason(1, 1)],
            ["keep", "select", "length", "keep"]
        );
        assert_eq!(d.timings.len(), 1);
        assert_eq!(d.timings[0].0, "select");
    }
}
