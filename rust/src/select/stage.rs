//! The `select` decide stage: the job's policies over the documents still kept when it runs
//! (after exact dedup and the filters, before near-dup), read from the scan records'
//! attributes only, never the texts. Its report section `selection` holds each attribute's
//! histogram over those documents and what each policy removed.

use super::{histograms, policies, select, Candidate, Policy, Removal, SelectReport};
use crate::config::Config;
use crate::stage::{
    Build, DecideInput, DecideOutcome, DecideStage, Phase, Rejection, Scope, StageSpec,
};
use crate::{Error, Result};

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
        let docs: Vec<Candidate<'_>> = (0..input.len())
            .map(|i| {
                let r = input.record(i);
                Candidate {
                    attrs: &r.attributes,
                    bytes: r.bytes,
                    source: None,
                }
            })
            .collect();
        let attributes = histograms(docs.iter().map(|d| d.attrs));
        let (removed, policies) = select(&self.policies, &docs).map_err(|e| {
            let r = input.record(e.index);
            Error::Config(format!(
                "select: input file #{}, document `{}` (line {}): {} (is the stage that computes it enabled?)",
                input.file(e.index) + 1,
                r.id,
                r.line,
                e.msg
            ))
        })?;
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
        let rejected = removed
            .into_iter()
            .enumerate()
            .filter_map(|(i, rm)| {
                rm.map(|Removal { reason, detail }| {
                    (
                        i,
                        Rejection {
                            detail: Some(detail),
                            ..Rejection::new(&reason)
                        },
                    )
                })
            })
            .collect();
        let report = SelectReport {
            attributes,
            policies,
        };
        Ok(DecideOutcome {
            rejected,
            report: Some((
                "selection",
                serde_json::to_value(report).expect("report serializes"),
            )),
            summary: (!summary.is_empty()).then(|| format!("select: {summary}")),
        })
    }
}
