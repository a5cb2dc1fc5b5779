//! The policies resolved in passes over a source of candidates that can be read again in
//! input order (memory, or the scan intermediates re-read from disk, one file at a time),
//! so selection holds at most a budget of keys whatever the corpus size:
//! - a threshold needs no pass;
//! - a top / bottom fraction needs the rank of its last kept document: the keys of the
//!   documents alive at that policy when they fit the budget (one pass, `select_nth`),
//!   else an exact radix select: each pass counts the next 16 bits of the keys that share
//!   the prefix found so far, until the documents left under the prefix fit the budget
//!   and one more pass collects them (why radix and not an external sort: it spills
//!   nothing, reads the source a few times and holds 512 KiB of counters);
//! - a quota needs each group's total (one pass), then caps applied in input order.
//!
//! Then one [`Applier`] pass in input order gives every document its fate and tallies the
//! policies' report. The ranking key of a document is (its score in total order, best
//! first, then its index), so ties go to the earlier document and the result is exact.

use super::{Candidate, Policy, PolicyReport, Removal, SelectError, Unit};
use crate::score::label;
use std::collections::BTreeMap;

/// Documents offered to the policies, readable once per pass, in input order.
pub trait Candidates {
    /// What a pass fails with (a source names the file and record of a [`SelectError`]).
    type Error;
    /// Call `f` with each document's index (`0..`, in input order) and candidate.
    fn pass(
        &self,
        f: &mut dyn FnMut(usize, Candidate<'_>) -> Result<(), SelectError>,
    ) -> Result<(), Self::Error>;
}

/// Documents in memory.
impl Candidates for [Candidate<'_>] {
    type Error = SelectError;
    fn pass(
        &self,
        f: &mut dyn FnMut(usize, Candidate<'_>) -> Result<(), SelectError>,
    ) -> Result<(), SelectError> {
        self.iter().enumerate().try_for_each(|(i, c)| f(i, *c))
    }
}

/// A policy with what its passes found.
enum Rule {
    Range,
    /// The ranking key and score of the last kept document (none: nothing kept).
    Top {
        cutoff: Option<(u128, f64)>,
    },
    /// Each capped group's limit.
    Quota {
        limit: BTreeMap<String, f64>,
    },
}

/// The job's policies, resolved over a source.
pub struct Selection {
    policies: Vec<Policy>,
    rules: Vec<Rule>,
    /// Each policy's report detail (the cutoff of a top / bottom, the caps of a quota).
    details: Vec<Option<String>>,
    /// Passes over the source (what a budget costs: the test of the bounded path).
    pub passes: u64,
}

/// Bytes a collected key takes (ranking key and score).
const KEY_BYTES: u64 = 24;
/// Bits of the keys counted per radix pass.
const DIGIT: u32 = 16;

fn score_of(p: &Policy, c: &Candidate<'_>, score: &str) -> Result<f64, SelectError> {
    c.attr(score).ok_or_else(|| SelectError {
        index: 0,
        msg: format!(
            "policy `{p}` needs the attribute `{score}`, which the document does not have"
        ),
    })
}

fn group_of(p: &Policy, c: &Candidate<'_>, group: &str) -> Result<String, SelectError> {
    if group == "source" {
        return Ok(c.source.unwrap_or("").to_string());
    }
    let v = score_of(p, c, group)?;
    label::unpack(v).ok_or_else(|| SelectError {
        index: 0,
        msg: format!("policy `{p}`: attribute `{group}` is not a label"),
    })
}

fn mass(unit: Unit, c: &Candidate<'_>) -> f64 {
    match unit {
        Unit::Docs => 1.0,
        Unit::Bytes => c.bytes as f64,
    }
}

/// The ranking key of document `i` with score `v`: ascending = best first; NaN ranks last.
fn rank_key(v: f64, highest: bool, i: usize) -> u128 {
    let key = if v.is_nan() {
        f64::NEG_INFINITY
    } else if highest {
        v
    } else {
        -v
    };
    // f64 total order as unsigned bits, then inverted so the highest comes first.
    let bits = key.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    (u128::from(!ordered) << 64) | i as u128
}

impl Selection {
    /// Resolve `policies` in order over `src`, holding at most `budget` bytes of keys
    /// (`None`: no limit).
    pub fn resolve<S: Candidates + ?Sized>(
        policies: &[Policy],
        src: &S,
        budget: Option<u64>,
    ) -> Result<Selection, S::Error> {
        let mut sel = Selection {
            policies: Vec::new(),
            rules: Vec::new(),
            details: Vec::new(),
            passes: 0,
        };
        for p in policies {
            let (rule, detail) = match p {
                Policy::Range { .. } => (Rule::Range, None),
                Policy::Top {
                    score,
                    fraction,
                    highest,
                } => sel.resolve_top(p, src, score, *fraction, *highest, budget)?,
                Policy::Quota { group, unit, caps } => {
                    sel.resolve_quota(p, src, group, *unit, caps)?
                }
            };
            sel.policies.push(p.clone());
            sel.rules.push(rule);
            sel.details.push(detail);
        }
        Ok(sel)
    }

    /// One pass over the documents alive at the policy being resolved (those the
    /// resolved ones keep), with their candidates.
    fn alive_pass<S: Candidates + ?Sized>(
        &mut self,
        src: &S,
        f: &mut dyn FnMut(usize, Candidate<'_>) -> Result<(), SelectError>,
    ) -> Result<(), S::Error> {
        self.passes += 1;
        let mut applier = self.applier();
        src.pass(&mut |i, c| {
            if applier.fate_of(c, false)?.is_none() {
                f(i, c)?;
            }
            Ok(())
        })
    }

    fn resolve_top<S: Candidates + ?Sized>(
        &mut self,
        p: &Policy,
        src: &S,
        score: &str,
        fraction: f64,
        highest: bool,
        budget: Option<u64>,
    ) -> Result<(Rule, Option<String>), S::Error> {
        let fits = |n: u64| budget.is_none_or(|b| n * KEY_BYTES <= b);
        // First pass: the count, the first digit's histogram, and the keys while they fit.
        let mut n = 0u64;
        let mut counts = vec![0u64; 1 << DIGIT];
        let mut keys: Option<Vec<(u128, f64)>> = Some(Vec::new());
        self.alive_pass(src, &mut |i, c| {
            let v = score_of(p, &c, score).map_err(|e| SelectError { index: i, ..e })?;
            let k = rank_key(v, highest, i);
            n += 1;
            counts[(k >> (128 - DIGIT)) as usize] += 1;
            if let Some(ks) = &mut keys {
                if fits(ks.len() as u64 + 1) {
                    ks.push((k, v));
                } else {
                    keys = None;
                }
            }
            Ok(())
        })?;
        let alive = usize::try_from(n).expect("documents fit usize");
        let keep = ((alive as f64) * fraction).round() as usize;
        let keep = keep.min(alive);
        let cutoff = if keep == 0 {
            None
        } else if let Some(mut ks) = keys {
            Some(*ks.select_nth_unstable_by_key(keep - 1, |k| k.0).1)
        } else {
            Some(self.radix_select(p, src, score, highest, counts, keep as u64 - 1, budget)?)
        };
        let detail = format!(
            "kept {keep} of {alive}, cutoff {}",
            cutoff.map_or("none".into(), |c| format!("{:.6}", c.1))
        );
        Ok((Rule::Top { cutoff }, Some(detail)))
    }

    /// The key of rank `rank` (0: best) among the alive documents, from the first
    /// digit's `counts`, by narrowing a key prefix 16 bits per pass.
    #[allow(clippy::too_many_arguments)]
    fn radix_select<S: Candidates + ?Sized>(
        &mut self,
        p: &Policy,
        src: &S,
        score: &str,
        highest: bool,
        mut counts: Vec<u64>,
        mut rank: u64,
        budget: Option<u64>,
    ) -> Result<(u128, f64), S::Error> {
        let (mut prefix, mut bits) = (0u128, 0u32);
        loop {
            // The digit holding the rank, and the rank among the keys under it.
            let mut digit = 0;
            while rank >= counts[digit] {
                rank -= counts[digit];
                digit += 1;
            }
            bits += DIGIT;
            prefix |= (digit as u128) << (128 - bits);
            let under = counts[digit];
            let shares = |k: u128| k >> (128 - bits) == prefix >> (128 - bits);
            if bits == 128 || budget.is_none_or(|b| under * KEY_BYTES <= b) {
                let mut ks = Vec::new();
                self.alive_pass(src, &mut |i, c| {
                    let v = score_of(p, &c, score)?;
                    let k = rank_key(v, highest, i);
                    if shares(k) {
                        ks.push((k, v));
                    }
                    Ok(())
                })?;
                let at = usize::try_from(rank).expect("rank fits usize");
                return Ok(*ks.select_nth_unstable_by_key(at, |k| k.0).1);
            }
            counts = vec![0u64; 1 << DIGIT];
            let shift = 128 - bits - DIGIT;
            self.alive_pass(src, &mut |i, c| {
                let k = rank_key(score_of(p, &c, score)?, highest, i);
                if shares(k) {
                    counts[((k >> shift) & ((1 << DIGIT) - 1)) as usize] += 1;
                }
                Ok(())
            })?;
        }
    }

    fn resolve_quota<S: Candidates + ?Sized>(
        &mut self,
        p: &Policy,
        src: &S,
        group: &str,
        unit: Unit,
        caps: &[(String, f64)],
    ) -> Result<(Rule, Option<String>), S::Error> {
        let mut per: BTreeMap<String, f64> = BTreeMap::new();
        let mut uncapped = 0.0;
        self.alive_pass(src, &mut |i, c| {
            let g = group_of(p, &c, group).map_err(|e| SelectError { index: i, ..e })?;
            if caps.iter().any(|(k, _)| *k == g) {
                *per.entry(g).or_default() += mass(unit, &c);
            } else {
                uncapped += mass(unit, &c);
            }
            Ok(())
        })?;
        // The largest total T with  uncapped + sum min(n_g, c_g T) >= T  (bisection).
        let total: f64 = uncapped + per.values().sum::<f64>();
        let f = |t: f64| {
            uncapped
                + caps
                    .iter()
                    .map(|(g, c)| per.get(g.as_str()).copied().unwrap_or(0.0).min(c * t))
                    .sum::<f64>()
        };
        let (mut lo, mut hi) = (0.0f64, total);
        if f(hi) < hi {
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if f(mid) >= mid {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        } else {
            lo = hi;
        }
        let limit: BTreeMap<String, f64> = caps
            .iter()
            .map(|(g, c)| {
                let cap = c * lo;
                let cap = if unit == Unit::Docs {
                    (cap + 1e-9).floor()
                } else {
                    cap + 1e-9
                };
                (g.clone(), cap)
            })
            .collect();
        let shown: Vec<String> = caps
            .iter()
            .map(|(g, c)| format!("{g}:{c} -> {:.0}", limit[g]))
            .collect();
        let what = if unit == Unit::Docs { "docs" } else { "bytes" };
        let detail = format!("caps in {what}: {}", shown.join(", "));
        Ok((Rule::Quota { limit }, Some(detail)))
    }

    /// A fresh pass's fates and tallies, in input order.
    pub fn applier(&self) -> Applier<'_> {
        Applier {
            sel: self,
            used: vec![BTreeMap::new(); self.rules.len()],
            tally: vec![(0, 0, 0); self.rules.len()],
            seen: 0,
        }
    }
}

/// Applies the resolved policies to the documents of one pass, in input order.
pub struct Applier<'s> {
    sel: &'s Selection,
    /// Each quota's mass kept so far, per group.
    used: Vec<BTreeMap<String, f64>>,
    /// Per policy: (candidates, removed docs, removed bytes).
    tally: Vec<(u64, u64, u64)>,
    /// Documents of the pass so far (the index of the next one).
    seen: usize,
}

impl Applier<'_> {
    /// The next document's fate (`None`: kept), with its detail when `detail` is asked.
    pub fn fate(&mut self, c: Candidate<'_>) -> Result<Option<Removal>, SelectError> {
        self.fate_of(c, true)
    }

    fn fate_of(&mut self, c: Candidate<'_>, detail: bool) -> Result<Option<Removal>, SelectError> {
        let i = self.seen;
        self.seen += 1;
        self.fate_at(i, c, detail)
            .map_err(|e| SelectError { index: i, ..e })
    }

    fn fate_at(
        &mut self,
        i: usize,
        c: Candidate<'_>,
        detail: bool,
    ) -> Result<Option<Removal>, SelectError> {
        let sel = self.sel;
        for (j, (p, rule)) in sel.policies.iter().zip(&sel.rules).enumerate() {
            let why = match (p, rule) {
                (Policy::Range { score, min, max }, Rule::Range) => {
                    let v = score_of(p, &c, score)?;
                    match (min, max) {
                        (Some(m), _) if v.is_nan() || v < *m => {
                            Some(detail.then(|| format!("{score} {v:.4} < {m}")))
                        }
                        (_, Some(m)) if v.is_nan() || v > *m => {
                            Some(detail.then(|| format!("{score} {v:.4} > {m}")))
                        }
                        _ => None,
                    }
                }
                (
                    Policy::Top {
                        score,
                        fraction,
                        highest,
                    },
                    Rule::Top { cutoff },
                ) => {
                    let v = score_of(p, &c, score)?;
                    let k = rank_key(v, *highest, i);
                    let kept = cutoff.is_some_and(|(ck, _)| k <= ck);
                    (!kept).then(|| {
                        detail.then(|| {
                            let op = if *highest { "top" } else { "bottom" };
                            format!(
                                "{score} {v:.4} not in the {op} {fraction} (cutoff {})",
                                cutoff.map_or("none".into(), |c| format!("{:.4}", c.1))
                            )
                        })
                    })
                }
                (Policy::Quota { group, unit, caps }, Rule::Quota { limit }) => {
                    let g = group_of(p, &c, group)?;
                    match limit.get(&g) {
                        None => None,
                        Some(&cap) => {
                            let u = self.used[j].entry(g.clone()).or_default();
                            if *u + mass(*unit, &c) <= cap {
                                *u += mass(*unit, &c);
                                None
                            } else {
                                let frac = caps.iter().find(|(k, _)| *k == g).map_or(0.0, |k| k.1);
                                let what = if *unit == Unit::Docs { "docs" } else { "bytes" };
                                Some(detail.then(|| {
                                    format!(
                                        "{group} {g} over its quota {frac} of the selected {what}"
                                    )
                                }))
                            }
                        }
                    }
                }
                _ => unreachable!("a rule per policy, of its kind"),
            };
            self.tally[j].0 += 1;
            if let Some(d) = why {
                self.tally[j].1 += 1;
                self.tally[j].2 += c.bytes;
                return Ok(Some(Removal {
                    reason: p.reason(),
                    detail: d.unwrap_or_default(),
                }));
            }
        }
        Ok(None)
    }

    /// What each policy did over the documents of this pass.
    pub fn reports(&self) -> Vec<PolicyReport> {
        let sel = self.sel;
        sel.policies
            .iter()
            .zip(&sel.details)
            .zip(&self.tally)
            .map(|((p, detail), &(candidates, docs, bytes))| PolicyReport {
                policy: p.to_string(),
                reason: p.reason(),
                candidates,
                removed_docs: docs,
                removed_bytes: bytes,
                detail: detail.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{candidates, select};
    use super::*;

    /// In-memory candidates read through the radix path under budgets from tiny to ample:
    /// the same fates, reports and cutoffs as with every key in memory.
    #[test]
    fn radix_select_under_a_budget_equals_the_in_memory_select() {
        let l = |s| label::pack(s).unwrap();
        // Many ties (a tenth of the values repeat), negative zero, NaN and infinities.
        let recs: Vec<Vec<(String, f64)>> = (0..3000u32)
            .map(|i| {
                let s = match i % 97 {
                    0 => f64::NAN,
                    1 => -0.0,
                    2 => f64::INFINITY,
                    3 => 0.0,
                    k if k % 10 == 0 => 0.5,
                    _ => f64::from(i.wrapping_mul(2_654_435_761) % 10_007) / 10_007.0 - 0.3,
                };
                let lang = if i % 3 == 0 { l("fra") } else { l("eng") };
                vec![("s".into(), s), ("lang".into(), lang)]
            })
            .collect();
        let docs = candidates(&recs, 10);
        let policies: Vec<Policy> = [
            "s:top=0.7",
            "lang:quota=fra:0.2",
            "s:bottom=0.4",
            "s:min=-0.2",
        ]
        .iter()
        .map(|s| Policy::parse(s).unwrap())
        .collect();
        let want = select(&policies, &docs).unwrap();
        let unbounded = Selection::resolve(&policies, docs.as_slice(), None).unwrap();
        for budget in [0, 24, 1000, 24 * 2999, 1 << 20] {
            let sel = Selection::resolve(&policies, docs.as_slice(), Some(budget)).unwrap();
            let mut a = sel.applier();
            let got: Vec<_> = docs.iter().map(|c| a.fate(*c).unwrap()).collect();
            assert!(got == want.0, "budget {budget}: fates differ");
            assert_eq!(a.reports(), want.1, "budget {budget}");
            if budget < 24 * 2000 {
                // The keys did not fit: radix passes beyond the one pass per top policy.
                assert!(
                    sel.passes > unbounded.passes,
                    "budget {budget}: {}",
                    sel.passes
                );
            }
        }
        assert_eq!(unbounded.passes, 3, "a pass per top policy and per quota");
    }

    #[test]
    fn a_missing_score_names_the_document_under_any_budget() {
        let recs = [
            vec![("s".to_string(), 1.0)],
            vec![],
            vec![("s".to_string(), 2.0)],
        ];
        let docs = candidates(&recs, 1);
        let p = [Policy::parse("s:top=0.5").unwrap()];
        for budget in [None, Some(0)] {
            let Err(e) = Selection::resolve(&p, docs.as_slice(), budget) else {
                panic!("expected an error");
            };
            assert_eq!(e.index, 1);
            assert!(e.msg.contains("`s`"), "{}", e.msg);
        }
    }
}
