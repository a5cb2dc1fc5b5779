//! The near-duplicate stage: cluster the sketches of the documents that survived exact
//! dedup and the filters (in input order), keep the first of each cluster and turn the
//! others into `near_duplicate` rejections naming their cluster and the kept document.
//! The sketches are made by the scan (`super::scan`), from the shared analysis.

use crate::dedup::{LshPlan, NearDup, NearDupStats};
use crate::stage::{
    Build, DecideInput, DecideOutcome, DecideStage, Phase, Rejection, Scope, StageSpec,
};
use crate::{Error, Result};
use serde::Serialize;

/// MinHash LSH near-dup removal: sketches made by the scan (from the shared analysis'
/// word hashes), clustered here over the survivors of exact dedup and the filters.
pub const STAGE: StageSpec = StageSpec {
    name: "near_dedup",
    phase: Phase::Decide,
    section: "minhash",
    keys: &[
        ("enabled", "near-duplicate removal (MinHash LSH)"),
        ("num_perm", "hash permutations (signature length)"),
        ("ngram", "shingle length, in words or characters"),
        ("shingle", "word or char shingles"),
        (
            "hash_bits",
            "32 (fast affine permutations) or 64 (mod 2^61-1)",
        ),
        ("threshold", "Jaccard similarity of near-duplicates"),
        (
            "bands",
            "band count (null = chosen from threshold; give rows too)",
        ),
        ("rows", "rows per band (null = chosen from threshold)"),
        (
            "verify",
            "check candidates by the exact Jaccard of their shingle sets",
        ),
        (
            "sample_check",
            "check candidates by a bottom-k sample's Jaccard",
        ),
        ("sample_size", "k of the bottom-k sample"),
        (
            "max_cluster_size",
            "largest cluster expected (null = no limit)",
        ),
        ("refuse_oversize", "refuse merges past max_cluster_size"),
        (
            "mem_limit",
            "band table memory (bytes or 2GiB; spills to .state/); null = no limit",
        ),
        ("seed", "seed of the permutations and band hashes"),
    ],
    enabled: |c| c.minhash.enabled,
    plan: |c| {
        let p = NearDup::new(&c.minhash)?.plan(0);
        Ok(format!(
            "{} permutations, threshold {} -> {} bands x {} rows, P(candidate) {:.3} / {:.3} / {:.3} at J = threshold -0.1 / +0 / +0.1, candidates checked: {}",
            p.num_perm, p.threshold, p.bands, p.rows, p.p_at_minus, p.p_at_threshold, p.p_at_plus, p.check
        ))
    },
    build: Build::Decide(|c| Ok(Box::new(NearDedup(NearDup::new(&c.minhash)?)))),
    resume: "sketches in the scan records; band tables spill to .state/ and are rebuilt",
};

/// The `near_dedup` section of report.json: the LSH plan and what clustering found.
#[derive(Debug, Clone, Serialize)]
pub struct NearDedupReport {
    pub plan: LshPlan,
    pub stats: NearDupStats,
}

/// The decide part: cluster the kept documents' sketches and reject every near-duplicate
/// but the first of its cluster.
struct NearDedup(NearDup);

impl DecideStage for NearDedup {
    fn name(&self) -> &'static str {
        "near_dedup"
    }

    fn scope(&self) -> Scope {
        Scope::Kept
    }

    /// Sketches are moved out of the scan records (nothing later needs them), so their
    /// memory is released as the band tables fill. Band tables spill under `.state/`.
    fn decide(&self, input: &mut DecideInput<'_>) -> Result<DecideOutcome> {
        let nd = &self.0;
        let plan = nd.plan(input.len() as u64);
        if !input.env.quiet {
            eprintln!("{plan}");
        }
        let spill_dir = input.env.spill_dir;
        let mut missing = None;
        let mut ordinals = Vec::with_capacity(input.len());
        let mut sketches = Vec::with_capacity(input.len());
        for i in 0..input.len() {
            let ordinal = input.ordinal(i);
            let file = input.file(i);
            let sketch = input.record_mut(i).sketch.take().unwrap_or_else(|| {
                missing.get_or_insert(file);
                Vec::new()
            });
            ordinals.push(ordinal);
            sketches.push((ordinal, sketch));
        }
        // A missing sketch would fail to parse inside `cluster`; name the state file instead.
        if let Some(f) = missing {
            return Err(Error::Corrupt {
                path: spill_dir.join(format!("scan-{f:05}.bin")),
                msg: "scan records lack near-dup sketches; pass --overwrite to start over".into(),
            });
        }
        let outcome = nd.cluster(sketches, Some(spill_dir))?;
        let index = |ordinal: u64| {
            ordinals
                .binary_search(&ordinal)
                .expect("clustering returns the ordinals it was given")
        };
        let rejected = outcome
            .duplicates
            .iter()
            .map(|hit| {
                let mut r = Rejection::new("near_duplicate");
                r.duplicate_of = Some(input.record(index(hit.kept)).id.clone());
                r.cluster_id = Some(hit.cluster);
                (index(hit.ordinal), r)
            })
            .collect();
        let (report, summary) = report_parts(nd, input.len() as u64, outcome.stats);
        Ok(DecideOutcome {
            rejected,
            report: Some(report),
            summary: Some(summary),
        })
    }
}

/// The stage's report section and summary line for a clustering of `docs` documents (the
/// one-process stage and the task graph's cluster task).
pub fn report_parts(
    nd: &NearDup,
    docs: u64,
    stats: NearDupStats,
) -> ((&'static str, serde_json::Value), String) {
    let st = &stats;
    let summary = format!(
        "near-dup ({} x {}, check {}): {} clusters, {} removed, {} candidate pairs{}, largest cluster {}",
        st.bands,
        st.rows,
        st.check,
        st.clusters,
        st.duplicates,
        st.candidate_pairs,
        st.verified_pairs
            .map_or(String::new(), |v| format!(" ({v} confirmed)")),
        st.largest_cluster
    );
    let report = NearDedupReport {
        plan: nd.plan(docs),
        stats,
    };
    (
        (
            "near_dedup",
            serde_json::to_value(&report).expect("report serializes"),
        ),
        summary,
    )
}
