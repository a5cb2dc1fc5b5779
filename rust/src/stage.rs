//! The stage contract (datatrove's small contract, in Rust). A stage joins one phase of
//! a job (scan, decide or write) and says, in its [`StageSpec`]:
//! - its config section, whose keys and defaults (from the section's `Default`, the one
//!   place defaults live) `--help` lists;
//! - its `--dry-run` plan line, and whether the config enables it;
//! - how to build the stage's part for its phase ([`Build`]): a per-document
//!   [`ScanStage`], a global [`DecideStage`] over the scan records (never the texts), or a
//!   per-file [`WriteStage`] over the kept texts;
//! - its resume unit.
//!
//! The plan, the `--help` key list and the report's `stages` section are generated from
//! [`STAGES`], and the pipeline runs each phase's stages from it. Adding a stage of any
//! phase is one file (the stage and its `StageSpec`) plus one line in `STAGES`. A stage
//! knows nothing of threads, tasks or executors: the pipeline decides where it runs.

pub mod decide;
pub mod write;

pub use decide::{
    BuildDecide, DecideInput, DecideOutcome, DecideStage, Decision, Rejection, Scope,
};
pub use write::{BuildWrite, DocPart, FileStage, StageEnd, WriteJob, WriteStage};

use crate::analysis::Analysis;
use crate::config::Config;
use crate::Result;
use serde::Serialize;
use std::path::Path;

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

/// Builds a scan stage's per-document checker from the config; fails on what the config
/// names but cannot be used (a model file that is missing or corrupt), naming it.
pub type BuildScan = fn(&Config) -> Result<Box<dyn ScanStage>>;

/// How the pipeline builds a stage's working part for its phase.
#[derive(Clone, Copy)]
pub enum Build {
    Scan(BuildScan),
    Decide(BuildDecide),
    Write(BuildWrite),
}

impl Build {
    pub fn phase(self) -> Phase {
        match self {
            Build::Scan(_) => Phase::Scan,
            Build::Decide(_) => Phase::Decide,
            Build::Write(_) => Phase::Write,
        }
    }
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
    /// Builds the stage's part for its phase (agrees with `phase`).
    pub build: Build,
    /// What a resumed job reuses of this stage's work.
    pub resume: &'static str,
}

/// Every stage, in pipeline order. A new stage adds one line here.
pub const STAGES: &[&StageSpec] = &[
    &crate::dedup::exact::STAGE,
    &crate::filters::length::STAGE,
    &crate::score::langid::STAGE,
    &crate::filters::repetition::STAGE,
    &crate::filters::quality::STAGE,
    &crate::score::stages::PERPLEXITY_STAGE,
    &crate::score::stages::DOMAIN_RELEVANCE_STAGE,
    &crate::score::classifier::STAGE,
    &crate::select::STAGE,
    &crate::pipeline::near::STAGE,
    &crate::filters::pii::STAGE,
    &crate::pipeline::tokenize::STAGE,
];

/// The enabled scan stages of a job, built, in registry order (the first rejection wins).
pub struct ScanStages {
    stages: Vec<Box<dyn ScanStage>>,
}

impl ScanStages {
    pub fn from_config(config: &Config) -> Result<ScanStages> {
        let stages = enabled(config)
            .filter_map(|s| match s.build {
                Build::Scan(b) => Some(b(config)),
                _ => None,
            })
            .collect::<Result<_>>()?;
        Ok(ScanStages { stages })
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

/// The enabled decide stages of a job, built, in registry order.
pub fn decide_stages(config: &Config) -> Result<Vec<Box<dyn DecideStage>>> {
    enabled(config)
        .filter_map(|s| match s.build {
            Build::Decide(b) => Some(b(config)),
            _ => None,
        })
        .collect()
}

/// The enabled write stages of a job, built, in registry order (each sees the text as the
/// stages before it left it). `state_dir` holds their per-file resume units.
pub fn write_stages(config: &Config, state_dir: &Path) -> Result<Vec<Box<dyn WriteStage>>> {
    enabled(config)
        .filter_map(|s| match s.build {
            Build::Write(b) => Some(b(config, state_dir)),
            _ => None,
        })
        .collect()
}

fn enabled(config: &Config) -> impl Iterator<Item = &'static StageSpec> + '_ {
    STAGES.iter().copied().filter(|s| (s.enabled)(config))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_sections_exist() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut names = std::collections::HashSet::new();
        for s in STAGES {
            assert!(names.insert(s.name), "two stages named {}", s.name);
            let section = s.section.split('.').try_fold(&defaults, |v, k| v.get(k));
            assert!(
                section.is_some_and(serde_json::Value::is_object),
                "{}: no section {}",
                s.name,
                s.section
            );
            assert_eq!(s.build.phase(), s.phase, "{}", s.name);
        }
    }

    #[test]
    fn config_switches_stages_in_and_out() {
        let all = ScanStages::from_config(&Config::default()).unwrap();
        assert_eq!(all.names(), ["length", "repetition", "quality"]);
        let c = Config::resolve(
            None,
            None,
            &[
                "filters.repetition.enabled=false".into(),
                "minhash.enabled=false".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            ScanStages::from_config(&c).unwrap().names(),
            ["length", "quality"]
        );
        let on: Vec<&str> = report(&c)
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            on,
            ["exact_dedup", "filter:length", "filter:quality", "pii"]
        );
        // The first rejection wins, in registry order.
        let v = all.scan(&Analysis::new("too short", 0), &mut Vec::new());
        assert!(
            matches!(
                v,
                Verdict::Reject {
                    reason: "length",
                    ..
                }
            ),
            "{v:?}"
        );
    }

    #[test]
    fn dry_run_plan_comes_from_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jsonl");
        std::fs::write(&input, "{\"text\": \"x\"}\n").unwrap();
        let sets = [
            format!("inputs=[{:?}]", input.to_string_lossy()),
            format!("output={:?}", dir.path().join("out").to_string_lossy()),
            "pii.enabled=false".into(),
        ];
        let c = Config::resolve(None, None, &sets).unwrap();
        let text = crate::pipeline::plan(&c).unwrap().describe();
        for s in STAGES {
            assert_eq!(
                text.contains(&format!("] {}: ", s.name)),
                (s.enabled)(&c),
                "{}:\n{text}",
                s.name
            );
        }
        assert!(
            text.contains("[scan] filter:length: words 50..=100000"),
            "{text}"
        );
        let bad = Config::resolve(
            None,
            None,
            &[
                sets[0].clone(),
                sets[1].clone(),
                "tokenize.enabled=true".into(),
                "tokenize.tokenizer=/nonexistent/tokenizer.json".into(),
            ],
        )
        .unwrap();
        let err = crate::pipeline::plan(&bad).err().unwrap().to_string();
        assert!(err.contains("tokenize.tokenizer"), "{err}");
    }
}
