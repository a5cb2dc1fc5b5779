//! The stage contract (datatrove's small contract, in Rust). A stage joins one phase of
//! a job (scan, decide or write) and says, in its [`StageSpec`]:
//! - its config section, whose keys and defaults (from the section's `Default`, the one
//!   place defaults live) `--help` lists;
//! - its `--dry-run` plan line, and whether the config enables it;
//! - for a scan stage, how to build its per-document [`ScanStage`]: keep, or drop with a
//!   reason and a detail, plus optional attributes (scores) kept in the scan records;
//! - its resume unit.
//!
//! The plan, the `--help` key list and the report's `stages` section are generated from
//! [`STAGES`]. Adding a scan stage is one file (a `ScanStage` and a `StageSpec`) plus one
//! line in `STAGES`. A scan stage sees one document at a time and knows nothing of
//! threads, files or executors: the pipeline decides where it runs.

use crate::analysis::Analysis;
use crate::config::Config;
use crate::Result;
use serde::Serialize;

/// The phase a stage joins (see DESIGN.md section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Per document, from the document alone; parallel, any order.
    Scan,
    /// Global, over the scan records only (never the texts).
    Decide,
    /// Per input file: apply decisions, edit and write documents.
    Write,
}

/// What a scan stage decides about one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Reject {
        /// The reject reason (counted in the report): the stage's name.
        reason: &'static str,
        /// The rule that fired, e.g. `dup_line_frac 0.41 > 0.30`.
        detail: String,
    },
}

/// Per-document values a scan stage computed (a language, a score), by name; kept in the
/// scan records so a decide stage can read them without the text.
pub type Attributes = Vec<(String, f64)>;

/// The per-document part of a scan stage.
pub trait ScanStage: Send + Sync {
    /// The stage's name, also its reject reason.
    fn name(&self) -> &'static str;
    /// Keep or reject the document; `attrs` takes any attributes the stage computes.
    fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict;
}

/// A registered stage: everything the pipeline, `--help`, `--dry-run` and the report
/// need to know about it.
pub struct StageSpec {
    /// Name in the plan and the report (a scan stage's reject reason is its `ScanStage::name`).
    pub name: &'static str,
    pub phase: Phase,
    /// Dotted path of its config section (`filters.length`).
    pub section: &'static str,
    /// (key within the section, what it means) for every key of the section.
    pub keys: &'static [(&'static str, &'static str)],
    pub enabled: fn(&Config) -> bool,
    /// The `--dry-run` line: what the stage will do under this config (or why it cannot).
    pub plan: fn(&Config) -> Result<String>,
    /// Scan stages: build the per-document checker from the config.
    pub build: Option<fn(&Config) -> Box<dyn ScanStage>>,
    /// What a resumed job reuses of this stage's work.
    pub resume: &'static str,
}

/// Every stage, in pipeline order. A new stage adds one line here.
pub const STAGES: &[&StageSpec] = &[
    &crate::pipeline::decide::EXACT_STAGE,
    &crate::filters::length::STAGE,
    &crate::filters::repetition::STAGE,
    &crate::filters::quality::STAGE,
    &crate::pipeline::near::STAGE,
    &crate::filters::pii::STAGE,
    &crate::pipeline::tokenize::STAGE,
];

/// The enabled scan stages of a job, built, in registry order (the first rejection wins).
pub struct ScanStages {
    stages: Vec<Box<dyn ScanStage>>,
}

impl ScanStages {
    pub fn from_config(config: &Config) -> ScanStages {
        let stages = STAGES
            .iter()
            .filter(|s| (s.enabled)(config))
            .filter_map(|s| s.build.map(|b| b(config)))
            .collect();
        ScanStages { stages }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Run the stages over one document until one rejects it.
    pub fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict {
        for s in &self.stages {
            let v = s.scan(doc, attrs);
            if v != Verdict::Keep {
                return v;
            }
        }
        Verdict::Keep
    }
}

/// `Reject` when `value > max`, with a detail like `dup_line_frac 0.41 > 0.30`.
pub fn above(reason: &'static str, name: &str, value: f64, max: f64) -> Option<Verdict> {
    (value > max).then(|| Verdict::Reject {
        reason,
        detail: format!("{name} {value:.2} > {max:.2}"),
    })
}

/// `Reject` when `value < min`.
pub fn below(reason: &'static str, name: &str, value: f64, min: f64) -> Option<Verdict> {
    (value < min).then(|| Verdict::Reject {
        reason,
        detail: format!("{name} {value:.2} < {min:.2}"),
    })
}

/// One line of the report's `stages` section.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub name: &'static str,
    pub phase: Phase,
    pub section: &'static str,
    pub enabled: bool,
    pub resume: &'static str,
}

/// The report's `stages` section: every registered stage and whether this job ran it.
pub fn report(config: &Config) -> Vec<StageReport> {
    STAGES
        .iter()
        .map(|s| StageReport {
            name: s.name,
            phase: s.phase,
            section: s.section,
            enabled: (s.enabled)(config),
            resume: s.resume,
        })
        .collect()
}
