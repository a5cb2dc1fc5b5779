//! The sequential decide step: walk every record in input order and give each document
//! one decision. Exact duplicates are found first (first occurrence kept), filter
//! verdicts apply to the rest; the survivors, in input order, go on to near-duplicate
//! clustering (`super::near`).

use super::state::{ScanFile, ScanVerdict};
use crate::config::Config;
use crate::dedup::exact::ExactIndex;
use crate::stage::{Phase, StageSpec};
use crate::Result;
use std::collections::BTreeMap;

/// Exact dedup: its key is computed by the scan (from the shared analysis' normalized
/// text), its decision here, over the scan records.
pub const EXACT_STAGE: StageSpec = StageSpec {
    name: "exact_dedup",
    phase: Phase::Decide,
    section: "exact_dedup",
    keys: &[(
        "enabled",
        "drop documents whose normalized text equals an earlier one's",
    )],
    enabled: |c| c.exact_dedup.enabled,
    plan: |_| Ok("key: xxh3-128 of the normalized text; the first (input order) is kept".into()),
    build: None,
    resume: "decided again from the scan records on every run",
};

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Keep,
    Reject {
        reason: String,
        detail: Option<String>,
        duplicate_of: Option<String>,
        cluster_id: Option<u64>,
    },
}

pub struct Decided {
    /// One decision per record, per input file.
    pub decisions: Vec<Vec<Decision>>,
    pub exact_clusters: u64,
    pub exact_histogram: BTreeMap<u64, u64>,
    /// (file, record) of the documents kept so far, in input order.
    pub survivors: Vec<(usize, usize)>,
}

pub fn decide(config: &Config, scans: &[ScanFile]) -> Result<Decided> {
    let mut index = ExactIndex::default();
    let mut decisions: Vec<Vec<Decision>> = Vec::with_capacity(scans.len());
    // (file, record) of documents that survive exact dedup and the filters.
    let mut survivors: Vec<(usize, usize)> = Vec::new();
    for (f, scan) in scans.iter().enumerate() {
        let mut out = Vec::with_capacity(scan.records.len());
        for (r, rec) in scan.records.iter().enumerate() {
            let reject = |reason: &str, detail: Option<String>, duplicate_of: Option<String>| {
                Decision::Reject {
                    reason: reason.to_string(),
                    detail,
                    duplicate_of,
                    cluster_id: None,
                }
            };
            let d = match &rec.verdict {
                ScanVerdict::Malformed { detail } => {
                    reject("malformed", Some(detail.clone()), None)
                }
                verdict => {
                    let first = if config.exact_dedup.enabled {
                        index.first_of(rec.key, &rec.id)
                    } else {
                        None
                    };
                    match (first, verdict) {
                        (Some(first), _) => {
                            reject("exact_duplicate", None, Some(first.to_string()))
                        }
                        (None, ScanVerdict::Filtered { reason, detail }) => {
                            reject(reason, Some(detail.clone()), None)
                        }
                        (None, _) => {
                            survivors.push((f, r));
                            Decision::Keep
                        }
                    }
                }
            };
            out.push(d);
        }
        decisions.push(out);
    }
    let (exact_clusters, exact_histogram) = index.cluster_stats();
    Ok(Decided {
        decisions,
        exact_clusters,
        exact_histogram,
        survivors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::state::ScanRecord;

    fn rec(id: &str, key: u128, verdict: ScanVerdict) -> ScanRecord {
        ScanRecord {
            line: 1,
            bytes: 1,
            key,
            id: id.into(),
            verdict,
            sketch: None,
            attributes: Vec::new(),
        }
    }

    #[test]
    fn exact_dedup_runs_before_filters_and_keeps_the_first() {
        let filtered = ScanVerdict::Filtered {
            reason: "length".into(),
            detail: "words 1 < 50".into(),
        };
        let scans = vec![
            ScanFile {
                records: vec![
                    rec("a", 1, ScanVerdict::Keep),
                    rec("b", 2, filtered.clone()),
                ],
                ..Default::default()
            },
            ScanFile {
                records: vec![
                    rec("c", 1, ScanVerdict::Keep),
                    rec("d", 2, filtered),
                    rec(
                        "e",
                        0,
                        ScanVerdict::Malformed {
                            detail: "bad".into(),
                        },
                    ),
                    rec("f", 3, ScanVerdict::Keep),
                ],
                ..Default::default()
            },
        ];
        let d = decide(&Config::default(), &scans).unwrap();
        let dup = |of: &str| Decision::Reject {
            reason: "exact_duplicate".into(),
            detail: None,
            duplicate_of: Some(of.into()),
            cluster_id: None,
        };
        assert_eq!(d.decisions[0][0], Decision::Keep);
        assert!(
            matches!(&d.decisions[0][1], Decision::Reject { reason, .. } if reason == "length")
        );
        assert_eq!(d.decisions[1][0], dup("a"));
        assert_eq!(d.decisions[1][1], dup("b"));
        assert!(
            matches!(&d.decisions[1][2], Decision::Reject { reason, .. } if reason == "malformed")
        );
        assert_eq!(d.decisions[1][3], Decision::Keep);
        assert_eq!(
            (d.exact_clusters, d.exact_histogram.get(&2).copied()),
            (2, Some(2))
        );
    }
}
