//! Selection by score (dolma's attribute idea, datatrove's counted drops): policies over
//! the attributes scan stages computed, applied in order, each to the documents the
//! previous ones kept. [`select`] is a pure function of the policies and the candidates
//! (in input order), so the `select` decide stage (`stage`, over the scan records) and
//! `cpt-curate select` (`reapply`, over a finished run's kept documents and attribute
//! files) give the same kept set, whatever the thread count or interruption.
//!
//! Policies (`policy`; strings, the same in the config, the CLI and Python):
//! - `SCORE:min=X`, `SCORE:max=X` (or both, `SCORE:min=X,max=Y`): a threshold;
//! - `SCORE:top=F` / `SCORE:bottom=F`: the fraction F (rounded to the nearest document) with
//!   the highest / lowest score, globally; ties go to the earlier document in input order;
//! - `GROUP:quota=A:0.1,B:0.2` (`quota_bytes=` to count bytes): group A is at most 10 % of the
//!   selected documents (bytes); groups not listed are not capped; the first documents of a
//!   group (input order) are kept. GROUP is a label attribute (`lang`) or `source`.

pub mod attrfile;
pub mod chain;
pub mod histogram;
pub mod policy;
pub mod reapply;
pub mod stage;

pub use chain::{Applier, Candidates, Selection};
pub use histogram::{histograms, Histogram, HistogramBuilder, BINS};
pub use policy::{policies, Policy, Unit};
pub use stage::{scored, STAGE};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One document offered to the policies.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub attrs: &'a [(String, f64)],
    pub bytes: u64,
    /// The document's `source` field (only `cpt-curate select` has it).
    pub source: Option<&'a str>,
}

/// Test documents: one candidate of `bytes` bytes per attribute list, no source.
#[cfg(test)]
pub(crate) fn candidates(recs: &[Vec<(String, f64)>], bytes: u64) -> Vec<Candidate<'_>> {
    recs.iter()
        .map(|a| Candidate {
            attrs: a,
            bytes,
            source: None,
        })
        .collect()
}

impl Candidate<'_> {
    fn attr(&self, name: &str) -> Option<f64> {
        self.attrs.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

/// Why a policy removed a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub reason: String,
    pub detail: String,
}

/// What one policy did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyReport {
    pub policy: String,
    pub reason: String,
    pub candidates: u64,
    pub removed_docs: u64,
    pub removed_bytes: u64,
    /// The cutoff score of a top/bottom policy, the caps of a quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A policy cannot run: which document lacks what (the caller names the file).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectError {
    pub index: usize,
    pub msg: String,
}

/// Apply `policies` in order to `docs` (in input order): per document, `None` (kept) or
/// why it was removed, and what each policy did.
pub fn select(
    policies: &[Policy],
    docs: &[Candidate<'_>],
) -> std::result::Result<(Vec<Option<Removal>>, Vec<PolicyReport>), SelectError> {
    let sel = Selection::resolve(policies, docs, None)?;
    let mut applier = sel.applier();
    let out = docs
        .iter()
        .map(|c| applier.fate(*c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((out, applier.reports()))
}

/// The report's `selection` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SelectReport {
    /// Each attribute's distribution over every scanned document (kept or not).
    pub attributes: BTreeMap<String, Histogram>,
    pub policies: Vec<PolicyReport>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::label;

    fn attrs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(n, x)| ((*n).to_string(), *x)).collect()
    }

    #[test]
    fn policies_parse_and_print_back() {
        for s in [
            "domain_score:min=0.5",
            "ppl:max=1000",
            "x:min=0.1,max=0.9",
            "domain_score:top=0.5",
            "ppl:bottom=0.25",
            "lang:quota=fra:0.1,deu:0.2",
            "source:quota_bytes=a:0.5",
        ] {
            assert_eq!(Policy::parse(s).unwrap().to_string(), s);
        }
        for (bad, why) in [
            ("domain_score", "expected SCORE:OP"),
            ("x:top=2", "not a fraction"),
            ("x:median=3", "unknown operation"),
            ("x:min=a", "not a number"),
            ("x:min=2,max=1", "min 2 > max 1"),
            ("lang:quota=fra", "GROUP:FRACTION"),
        ] {
            let e = Policy::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn thresholds_top_fraction_and_quotas() {
        let l = |s| label::pack(s).unwrap();
        let recs = [
            attrs(&[("s", 0.9), ("lang", l("eng"))]),
            attrs(&[("s", 0.1), ("lang", l("fra"))]),
            attrs(&[("s", 0.5), ("lang", l("fra"))]),
            attrs(&[("s", 0.5), ("lang", l("eng"))]),
            attrs(&[("s", 0.7), ("lang", l("fra"))]),
            attrs(&[("s", f64::NAN), ("lang", l("eng"))]),
        ];
        let docs = candidates(&recs, 10);
        let kept = |p: &[&str]| {
            let ps: Vec<Policy> = p.iter().map(|s| Policy::parse(s).unwrap()).collect();
            let (out, rep) = select(&ps, &docs).unwrap();
            let k: Vec<usize> = (0..docs.len()).filter(|&i| out[i].is_none()).collect();
            (k, out, rep)
        };
        assert_eq!(kept(&["s:min=0.5"]).0, [0, 2, 3, 4]);
        assert_eq!(kept(&["s:max=0.5"]).0, [1, 2, 3]);
        // Ties (0.5, 0.5) go to the earlier document; NaN ranks last.
        let (k, out, rep) = kept(&["s:top=0.5"]);
        assert_eq!(k, [0, 2, 4]);
        assert_eq!(out[1].as_ref().unwrap().reason, "s");
        assert_eq!(
            (rep[0].candidates, rep[0].removed_docs, rep[0].removed_bytes),
            (6, 3, 30)
        );
        assert_eq!(kept(&["s:bottom=0.34"]).0, [1, 2]);
        assert_eq!(kept(&["s:min=0.2", "s:top=0.5"]).0, [0, 4]);
        // fra at most a third of the selection: 3 eng uncapped -> T = 4.5, fra cap 1.
        let (k, out, rep) = kept(&["lang:quota=fra:0.3334"]);
        assert_eq!(k, [0, 1, 3, 5]);
        assert_eq!(out[2].as_ref().unwrap().reason, "language");
        assert!(
            rep[0].detail.as_ref().unwrap().contains("fra:0.3334 -> 1"),
            "{rep:?}"
        );
        // Every group capped: the largest consistent selection.
        assert_eq!(kept(&["lang:quota=fra:0.5,eng:0.5"]).0, [0, 1, 2, 3, 4, 5]);
        assert!(kept(&["lang:quota=fra:0.25,eng:0.5"]).0.is_empty());
        let err = select(&[Policy::parse("ppl:max=3").unwrap()], &docs).unwrap_err();
        assert_eq!(err.index, 0);
        assert!(err.msg.contains("`ppl`"), "{}", err.msg);
    }

    #[test]
    fn histograms_bin_numbers_and_count_labels() {
        let l = label::pack("eng").unwrap();
        let recs = [
            attrs(&[("s", 0.0), ("lang", l)]),
            attrs(&[("s", 1.0), ("lang", l)]),
            attrs(&[("s", 0.52)]),
        ];
        let h = histograms(recs.iter().map(Vec::as_slice));
        assert_eq!(h["lang"].labels.as_ref().unwrap()["eng"], 2);
        let s = &h["s"];
        assert_eq!(
            (s.count, s.counts.len(), s.edges.len()),
            (3, BINS, BINS + 1)
        );
        assert_eq!((s.counts[0], s.counts[10], s.counts[BINS - 1]), (1, 1, 1));
    }
}
