//! The `select` decide stage: the job's policies over the documents still kept when it runs
//! (after exact dedup and the filters, before near-dup), read from the scan records'
//! attributes only, never the texts. Its report section `selection` holds each attribute's
//! histogram over those documents and what each policy removed.

use super::{
    policies, Candidate, Candidates, Histogram, HistogramBuilder, Policy, PolicyReport, Removal,
    SelectError, SelectReport, Selection,
};
use crate::config::Config;
use crate::pipeline::state::ScanRecord;
use crate::stage::{
    Build, DecideInput, DecideOutcome, DecideStage, Phase, Rejection, Scope, StageSpec,
};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Whether a job's scan stages compute attributes (then it writes `attributes/` and the
/// `select` stage reports their histograms even without a policy).
pub fn scored(c: &Config) -> bool {
    c.language.enabled
        || c.domain_classifier.enabled
        || c.perplexity.enabled
        || c.domain_relevance.enabled
}

fn checked(c: &Config) -> Result<Vec<Policy>> {
    let p = policies(c)?;
    if let Some(q) = p
        .iter()
        .find(|p| matches!(p, Policy::Quota { group, .. } if group == "source"))
    {
        return Err(Error::Config(format!(
            "select.policies: `{q}` needs each document's `source`, which the scan records do \
             not keep: apply it with `cpt-curate select` to the finished run"
        )));
    }
    Ok(p)
}

pub const STAGE: StageSpec = StageSpec {
    name: "select",
    phase: Phase::Decide,
    section: "select",
    keys: &[(
        "policies",
        "[\"domain_score:top=0.5\", \"lang:quota=fra:0.1\", ...] applied in order",
    )],
    enabled: |c| !c.select.policies.is_empty() || !c.language.quotas.is_empty() || scored(c),
    plan: |c| {
        let p: Vec<String> = checked(c)?.iter().map(ToString::to_string).collect();
        Ok(if p.is_empty() {
            "no policy: attribute histograms only".to_string()
        } else {
            format!(
                "{} over the documents kept after dedup and filters, before near-dup",
                p.join(" -> ")
            )
        })
    },
    build: Build::Decide(|c| {
        Ok(Box::new(SelectStage {
            policies: checked(c)?,
        }))
    }),
    resume: "decided again from the scan records' attributes on every run",
};

struct SelectStage {
    policies: Vec<Policy>,
}

impl DecideStage for SelectStage {
    fn name(&self) -> &'static str {
        "select"
    }

    fn scope(&self) -> Scope {
        Scope::Kept
    }

    fn decide(&self, input: &mut DecideInput<'_>) -> Result<DecideOutcome> {
        let src = InScope(input);
        let (sel, attributes) = resolve(&self.policies, &src, None)?;
        let mut applier = sel.applier();
        let mut rejected = Vec::new();
        src.pass(&mut |i, c| {
            if let Some(rm) = applier.fate(c)? {
                rejected.push((i, rejection(rm)));
            }
            Ok(())
        })?;
        Ok(outcome(attributes, applier.reports(), rejected))
    }
}

/// The documents in a decide stage's scope, as selection's candidates.
struct InScope<'a, 'b>(&'a DecideInput<'b>);

impl Candidates for InScope<'_, '_> {
    type Error = Error;
    fn pass(
        &self,
        f: &mut dyn FnMut(usize, Candidate<'_>) -> std::result::Result<(), SelectError>,
    ) -> Result<()> {
        let input = self.0;
        (0..input.len()).try_for_each(|i| {
            let r = input.record(i);
            f(i, candidate(r))
                .map_err(|e| missing(input.file(e.index), input.record(e.index), &e.msg))
        })
    }
}

/// A scan record as a candidate (the records keep no `source`).
pub fn candidate(r: &ScanRecord) -> Candidate<'_> {
    Candidate {
        attrs: &r.attributes,
        bytes: r.bytes,
        source: None,
    }
}

/// The error of a policy that cannot run on the record of input file `file`.
pub fn missing(file: usize, r: &ScanRecord, msg: &str) -> Error {
    Error::Config(format!(
        "select: input file #{}, document `{}` (line {}): {msg} (is the stage that computes it enabled?)",
        file + 1,
        r.id,
        r.line,
    ))
}

/// The job's policies (checked for the scan records).
pub fn job_policies(c: &Config) -> Result<Vec<Policy>> {
    checked(c)
}

/// The stage's work over `src` but the last pass: every attribute's histogram (two
/// passes) and the policies resolved, with at most `budget` bytes of keys.
pub fn resolve<S: Candidates + ?Sized>(
    policies: &[Policy],
    src: &S,
    budget: Option<u64>,
) -> std::result::Result<(Selection, BTreeMap<String, Histogram>), S::Error> {
    let mut h = HistogramBuilder::default();
    src.pass(&mut |_, c| {
        h.count(c.attrs);
        Ok(())
    })?;
    h.bin_from_now();
    src.pass(&mut |_, c| {
        h.bin(c.attrs);
        Ok(())
    })?;
    let sel = Selection::resolve(policies, src, budget)?;
    Ok((sel, h.finish()))
}

/// A policy's removal as the document's rejection.
pub fn rejection(rm: Removal) -> Rejection {
    Rejection {
        detail: Some(rm.detail),
        ..Rejection::new(&rm.reason)
    }
}

/// The stage's outcome: its `selection` section and summary line, and the rejections.
pub fn outcome(
    attributes: BTreeMap<String, Histogram>,
    policies: Vec<PolicyReport>,
    rejected: Vec<(usize, Rejection)>,
) -> DecideOutcome {
    let summary = policies
        .iter()
        .map(|p| {
            format!(
                "{}: removed {} of {}",
                p.policy, p.removed_docs, p.candidates
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let report = SelectReport {
        attributes,
        policies,
    };
    DecideOutcome {
        rejected,
        report: Some((
            "selection",
            serde_json::to_value(report).expect("report serializes"),
        )),
        summary: (!summary.is_empty()).then(|| format!("select: {summary}")),
    }
}
