//! Exact deduplication: a document's key is the xxh3-128 of its normalized text; in
//! input order the first document with a key is kept and later ones point at it.

use crate::stage::{
    Build, DecideInput, DecideOutcome, DecideStage, Phase, Rejection, Scope, StageSpec,
};
use std::collections::{BTreeMap, HashMap};
use xxhash_rust::xxh3::xxh3_128;

/// Exact dedup: its key is computed by the scan (from the shared analysis' normalized
/// text), its decision here, over the scan records of every well-formed document.
pub const STAGE: StageSpec = StageSpec {
    name: "exact_dedup",
    phase: Phase::Decide,
    section: "exact_dedup",
    keys: &[(
        "enabled",
        "drop documents whose normalized text equals an earlier one's",
    )],
    enabled: |c| c.exact_dedup.enabled,
    plan: |_| Ok("key: xxh3-128 of the normalized text; the first (input order) is kept".into()),
    build: Build::Decide(|_| Ok(Box::new(ExactDedup))),
    resume: "decided again from the scan records on every run",
};

/// The decide part: the first document (input order) with a key is kept, later ones are
/// `exact_duplicate`s naming it, whatever a scan stage said of them.
struct ExactDedup;

impl DecideStage for ExactDedup {
    fn name(&self) -> &'static str {
        "exact_dedup"
    }

    fn scope(&self) -> Scope {
        Scope::Parsed
    }

    fn decide(&self, input: &mut DecideInput<'_>) -> crate::Result<DecideOutcome> {
        let mut index = ExactIndex::default();
        let mut rejected = Vec::new();
        for i in 0..input.len() {
            if let Some(first) = index.first_of(input.record(i).key, i as u64) {
                #[allow(clippy::cast_possible_truncation)] // an index into the input
                let of = input.record(first as usize).id.clone();
                rejected.push((i, rejection(of)));
            }
        }
        let (report, summary) = report_parts(&index);
        Ok(DecideOutcome {
            rejected,
            report: Some(report),
            summary: Some(summary),
        })
    }
}

/// The rejection of a copy of document `first`.
pub fn rejection(first: String) -> Rejection {
    let mut r = Rejection::new("exact_duplicate");
    r.duplicate_of = Some(first);
    r
}

/// The stage's report section and summary line, from the clusters of one or more indexes
/// (the task graph's partitions hold disjoint keys, so their histograms add up).
pub fn report_parts(index: &ExactIndex) -> ((&'static str, serde_json::Value), String) {
    let (clusters, size_histogram) = index.cluster_stats();
    report_of(clusters, &size_histogram)
}

/// [`report_parts`] from a cluster count and size histogram.
pub fn report_of(
    clusters: u64,
    size_histogram: &BTreeMap<u64, u64>,
) -> ((&'static str, serde_json::Value), String) {
    (
        (
            "exact_duplicates",
            serde_json::json!({"clusters": clusters, "size_histogram": size_histogram}),
        ),
        format!("exact-duplicate clusters {clusters}"),
    )
}

/// The dedup key of a normalized text.
pub fn key(normalized: &str) -> u128 {
    xxh3_128(normalized.as_bytes())
}

/// Sequential first-wins index of keys; call [`ExactIndex::first_of`] in input order.
#[derive(Default)]
pub struct ExactIndex {
    /// key -> (position of the first document, cluster size)
    first: HashMap<u128, (u64, u64)>,
}

impl ExactIndex {
    /// `None` if `key` is new (the document at `pos` is the first of its cluster), else
    /// the position of the first document with that key.
    pub fn first_of(&mut self, key: u128, pos: u64) -> Option<u64> {
        match self.first.get_mut(&key) {
            Some((first, size)) => {
                *size += 1;
                Some(*first)
            }
            None => {
                self.first.insert(key, (pos, 1));
                None
            }
        }
    }

    /// Number of clusters with more than one document, and a histogram
    /// {cluster size: clusters}.
    pub fn cluster_stats(&self) -> (u64, BTreeMap<u64, u64>) {
        let mut hist = BTreeMap::new();
        for &(_, size) in self.first.values() {
            if size > 1 {
                *hist.entry(size).or_insert(0) += 1;
            }
        }
        (hist.values().sum(), hist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    #[test]
    fn first_occurrence_wins_and_clusters_are_counted() {
        let mut idx = ExactIndex::default();
        let docs = [
            ("a", "Hello, World!"),
            ("b", "other"),
            ("c", "hello world"),
            ("d", "HELLO  world."),
            ("e", "other"),
        ];
        let got: Vec<Option<&str>> = docs
            .iter()
            .enumerate()
            .map(|(i, (_, t))| {
                idx.first_of(key(&normalize(t)), i as u64)
                    .map(|f| docs[f as usize].0)
            })
            .collect();
        assert_eq!(got, [None, None, Some("a"), Some("a"), Some("b")]);
        let (clusters, hist) = idx.cluster_stats();
        assert_eq!(clusters, 2);
        assert_eq!(hist, BTreeMap::from([(2, 1), (3, 1)]));
    }
}
