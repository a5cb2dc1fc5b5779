//! The decide task: the exact tasks' duplicates applied to the scan verdicts, then
//! selection (the decide stages between exact dedup and near-dup), streaming the scan
//! intermediates one file at a time, so it never holds the whole job's records. The
//! `select` stage's own passes (`crate::select::stage::resolve`) run over the files on
//! disk with at most a quarter of `--mem-per-task` of ranking keys; one last pass writes
//! each scan task's decisions. Same stage code, same result as the one-process run.

use super::codec::{DecideParts, DecisionsEncoder};
use super::exact::{self, ExactFound};
use super::tasks::{load_scan, stage_marks, TaskEnv};
use super::{frame, JobPlan};
use crate::pipeline::decide::from_scan;
use crate::pipeline::state::{ScanRecord, ScanVerdict};
use crate::report::StageTiming;
use crate::select::stage::{candidate, job_policies, missing, outcome, rejection, resolve};
use crate::select::{Candidate, Candidates, SelectError};
use crate::stage::{decide_stages, Decision};
use crate::{Error, Result};
use std::time::Instant;

/// The job's scan records on disk, as selection's candidates: the documents still kept
/// after the scan and exact dedup, in input order.
struct ScanStream<'a> {
    plan: &'a JobPlan,
    found: Option<&'a ExactFound>,
}

impl ScanStream<'_> {
    /// A document's decision before selection.
    fn initial(&self, file: usize, r: usize, rec: &ScanRecord) -> Decision {
        match self.found.and_then(|f| f.duplicates.get(&(file, r))) {
            Some(first) => Decision::Reject(crate::dedup::exact::rejection(first.clone())),
            None => from_scan(&rec.verdict),
        }
    }

    fn in_scope(&self, file: usize, r: usize, rec: &ScanRecord) -> bool {
        rec.verdict == ScanVerdict::Keep
            && !self
                .found
                .is_some_and(|f| f.duplicates.contains_key(&(file, r)))
    }
}

impl Candidates for ScanStream<'_> {
    type Error = Error;
    fn pass(
        &self,
        f: &mut dyn FnMut(usize, Candidate<'_>) -> std::result::Result<(), SelectError>,
    ) -> Result<()> {
        let mut i = 0;
        for file in 0..self.plan.inputs.len() {
            let scan = load_scan(self.plan, file)?;
            for (r, rec) in scan.records.iter().enumerate() {
                if self.in_scope(file, r, rec) {
                    f(i, candidate(rec)).map_err(|e| missing(file, rec, &e.msg))?;
                    i += 1;
                }
            }
        }
        Ok(())
    }
}

/// The decide stages this task runs between exact dedup (the exact tasks) and near-dup
/// (the band and cluster tasks): selection or none.
fn runs_select(env: &TaskEnv<'_>) -> Result<bool> {
    let (config, plan) = (env.config, env.plan);
    let mut names: Vec<&str> = decide_stages(config)?.iter().map(|d| d.name()).collect();
    let near = crate::pipeline::near::STAGE.name;
    if plan.bands > 0 && names.pop() != Some(near) {
        return Err(Error::Config(
            "the task graph runs near-dup last among the decide stages".into(),
        ));
    }
    if plan.exact && names.first() != Some(&crate::dedup::exact::STAGE.name) {
        return Err(Error::Config(
            "the task graph runs exact dedup first among the decide stages".into(),
        ));
    }
    let rest = &names[usize::from(plan.exact)..];
    match rest {
        [] => Ok(false),
        [one] if *one == crate::select::STAGE.name => Ok(true),
        _ => Err(Error::Config(format!(
            "the task graph's decide task runs only selection, not {rest:?}"
        ))),
    }
}

pub fn decide_task(env: &TaskEnv<'_>) -> Result<()> {
    let plan = env.plan;
    let selecting = runs_select(env)?;
    let found = if plan.exact {
        Some(exact::load_found(plan)?)
    } else {
        None
    };
    let src = ScanStream {
        plan,
        found: found.as_ref(),
    };
    let started = Instant::now();
    let resolved = if selecting {
        let policies = job_policies(env.config)?;
        // A quarter of the budget for ranking keys: one scan file's records sit beside them.
        Some(resolve(&policies, &src, plan.mem_budget()?.map(|m| m / 4))?)
    } else {
        None
    };
    let mut applier = resolved.as_ref().map(|(sel, _)| sel.applier());
    let (mut parsed, mut scoped) = ((0u64, 0u64), (0u64, 0u64));
    // The last pass: each scan task's decisions, its files in input order.
    for (k, g) in plan.groups.iter().enumerate() {
        let mut files = DecisionsEncoder::default();
        for file in g.clone() {
            let scan = load_scan(plan, file)?;
            let mut decisions = Vec::with_capacity(scan.records.len());
            for (r, rec) in scan.records.iter().enumerate() {
                if !matches!(rec.verdict, ScanVerdict::Malformed { .. }) {
                    parsed = (parsed.0 + 1, parsed.1 + rec.bytes);
                }
                let mut d = src.initial(file, r, rec);
                if let (Some(a), true) = (&mut applier, d == Decision::Keep) {
                    scoped = (scoped.0 + 1, scoped.1 + rec.bytes);
                    if let Some(rm) = a
                        .fate(candidate(rec))
                        .map_err(|e| missing(file, rec, &e.msg))?
                    {
                        d = Decision::Reject(rejection(rm));
                    }
                }
                decisions.push(d);
            }
            files.file(&decisions);
        }
        let path = if plan.bands > 0 {
            plan.pre_path(k)
        } else {
            plan.decisions_path(k)
        };
        frame::write(&path, &plan.job, "decide", &files.finish())?;
    }
    let mut parts = DecideParts::default();
    if let Some(found) = &found {
        let ids = plan
            .stages()
            .into_iter()
            .find(|s| s.0 == "exact")
            .map(|s| s.1)
            .unwrap_or_default();
        let secs = stage_marks(plan, &ids)?.seconds;
        let (section, summary) = crate::dedup::exact::report_of(found.clusters, &found.histogram);
        parts.sections.push((section.0.to_string(), section.1));
        parts.summaries.push(summary);
        let timing = StageTiming::new(secs, parsed.0, parsed.1);
        parts
            .timings
            .push((crate::dedup::exact::STAGE.name.to_string(), timing));
    }
    if let (Some((sel, attributes)), Some(a)) = (&resolved, applier) {
        let out = outcome(attributes.clone(), a.reports(), Vec::new());
        parts
            .sections
            .extend(out.report.map(|(k, v)| (k.to_string(), v)));
        parts.summaries.extend(out.summary);
        let secs = started.elapsed().as_secs_f64();
        let timing = StageTiming::new(secs, scoped.0, scoped.1);
        parts
            .timings
            .push((crate::select::STAGE.name.to_string(), timing));
        parts.select_passes = sel.passes;
    }
    let json = serde_json::to_vec(&parts).expect("decide parts serialize");
    frame::write(&plan.decide_path(), &plan.job, "decide", &json)
}
