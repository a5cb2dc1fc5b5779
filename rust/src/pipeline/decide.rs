//! The decide phase: every document starts from its scan verdict (malformed, a scan
//! stage's rejection, or kept); then each decide stage of the registry
//! (`crate::stage::decide_stages`: exact dedup, near-dup, ...) reads the documents of its
//! scope, in input order, and its rejections replace their decisions.

use super::state::{ScanFile, ScanVerdict};
use crate::report::StageTiming;
use crate::stage::decide::DecideEnv;
use crate::stage::{DecideInput, DecideStage, Decision, Rejection, Scope};
use crate::Result;
use std::time::Instant;

/// The decide phase's result.
pub struct Decided {
    /// One decision per record, per input file.
    pub decisions: Vec<Vec<Decision>>,
    /// The stages' report sections, in stage order.
    pub sections: Vec<(&'static str, serde_json::Value)>,
    /// Each stage's timing (docs and bytes: the documents in its scope), by stage name.
    pub timings: Vec<(&'static str, StageTiming)>,
    /// The stages' summary lines.
    pub summaries: Vec<String>,
}

/// A document's decision from its scan verdict alone.
pub fn from_scan(verdict: &ScanVerdict) -> Decision {
    match verdict {
        ScanVerdict::Keep => Decision::Keep,
        ScanVerdict::Malformed { detail } => Decision::Reject(Rejection {
            detail: Some(detail.clone()),
            ..Rejection::new("malformed")
        }),
        ScanVerdict::Filtered { reason, detail } => Decision::Reject(Rejection {
            detail: Some(detail.clone()),
            ..Rejection::new(reason)
        }),
    }
}

/// Run the decide stages, in order, over the scan records.
pub fn decide(
    stages: &[Box<dyn DecideStage>],
    scans: &mut [ScanFile],
    env: &DecideEnv<'_>,
) -> Result<Decided> {
    let decisions: Vec<Vec<Decision>> = scans
        .iter()
        .map(|s| s.records.iter().map(|r| from_scan(&r.verdict)).collect())
        .collect();
    decide_from(stages, scans, decisions, env)
}

/// Run the decide stages, in order, over the scan records, from these decisions (the
/// task graph's decide task starts from the scan verdicts with exact dedup applied).
pub fn decide_from(
    stages: &[Box<dyn DecideStage>],
    scans: &mut [ScanFile],
    mut decisions: Vec<Vec<Decision>>,
    env: &DecideEnv<'_>,
) -> Result<Decided> {
    let mut offsets = Vec::with_capacity(scans.len());
    let mut total = 0u64;
    for s in scans.iter() {
        offsets.push(total);
        total += s.records.len() as u64;
    }
    let mut out = Decided {
        decisions: Vec::new(),
        sections: Vec::new(),
        timings: Vec::new(),
        summaries: Vec::new(),
    };
    for stage in stages {
        let started = Instant::now();
        let docs: Vec<(usize, usize)> = scans
            .iter()
            .enumerate()
            .flat_map(|(f, s)| {
                s.records
                    .iter()
                    .enumerate()
                    .map(move |(r, rec)| (f, r, rec))
            })
            .filter(|&(f, r, rec)| match stage.scope() {
                Scope::Parsed => !matches!(rec.verdict, ScanVerdict::Malformed { .. }),
                Scope::Kept => decisions[f][r] == Decision::Keep,
            })
            .map(|(f, r, _)| (f, r))
            .collect();
        let bytes = docs.iter().map(|&(f, r)| scans[f].records[r].bytes).sum();
        let outcome = stage.decide(&mut DecideInput::new(scans, &docs, &offsets, env))?;
        for (i, rejection) in outcome.rejected {
            let (f, r) = docs[i];
            decisions[f][r] = Decision::Reject(rejection);
        }
        out.sections.extend(outcome.report);
        out.summaries.extend(outcome.summary);
        let secs = started.elapsed().as_secs_f64();
        out.timings.push((
            stage.name(),
            StageTiming::new(secs, docs.len() as u64, bytes),
        ));
    }
    out.decisions = decisions;
    Ok(out)
}

/// Decide-phase test fixtures: scan records without texts, and the driver run over them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::pipeline::state::ScanRecord;

    /// The scan record of one document (exact-dedup `key`, `attributes` by name).
    pub fn rec(
        id: &str,
        key: u128,
        attributes: &[(&str, f64)],
        verdict: ScanVerdict,
    ) -> ScanRecord {
        ScanRecord {
            line: 1,
            bytes: 10,
            key,
            id: id.into(),
            verdict,
            sketch: None,
            attributes: attributes.iter().map(|&(k, v)| (k.into(), v)).collect(),
        }
    }

    /// A scan-stage rejection.
    pub fn filtered() -> ScanVerdict {
        ScanVerdict::Filtered {
            reason: "length".into(),
            detail: "words 1 < 50".into(),
        }
    }

    /// Run `stages` over input files holding these records.
    pub fn run(stages: &[Box<dyn DecideStage>], files: Vec<Vec<ScanRecord>>) -> Decided {
        let mut scans: Vec<ScanFile> = files
            .into_iter()
            .map(|records| ScanFile {
                records,
                ..ScanFile::default()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let env = DecideEnv {
            spill_dir: dir.path(),
            quiet: true,
        };
        decide(stages, &mut scans, &env).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{filtered, rec, run};
    use super::*;
    use crate::config::Config;

    #[test]
    fn exact_dedup_runs_before_filters_and_keeps_the_first() {
        let malformed = ScanVerdict::Malformed {
            detail: "bad".into(),
        };
        let stages = crate::stage::decide_stages(&Config::default()).unwrap();
        let d = run(
            &stages[..1],
            vec![
                vec![
                    rec("a", 1, &[], ScanVerdict::Keep),
                    rec("b", 2, &[], filtered()),
                ],
                vec![
                    rec("c", 1, &[], ScanVerdict::Keep),
                    rec("d", 2, &[], filtered()),
                    rec("e", 0, &[], malformed),
                    rec("f", 3, &[], ScanVerdict::Keep),
                ],
            ],
        );
        let dup = |of: &str| {
            Decision::Reject(Rejection {
                duplicate_of: Some(of.into()),
                ..Rejection::new("exact_duplicate")
            })
        };
        assert_eq!(d.decisions[0][0], Decision::Keep);
        assert!(matches!(&d.decisions[0][1], Decision::Reject(r) if r.reason == "length"));
        assert_eq!(d.decisions[1][0], dup("a"));
        assert_eq!(d.decisions[1][1], dup("b"));
        assert!(matches!(&d.decisions[1][2], Decision::Reject(r) if r.reason == "malformed"));
        assert_eq!(d.decisions[1][3], Decision::Keep);
        assert_eq!(
            d.sections,
            [(
                "exact_duplicates",
                serde_json::json!({"clusters": 2, "size_histogram": {"2": 2}})
            )]
        );
    }
}
