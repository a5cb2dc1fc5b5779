//! Each attribute's distribution for the report: 20 equal bins for numbers, a count per
//! label for label attributes (`crate::score::label`).

use crate::score::label;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The distribution of one attribute over the documents offered to selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Histogram {
    pub count: u64,
    /// Label attributes: documents per label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// 21 bin edges from min to max (numeric attributes).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub edges: Vec<f64>,
    /// 20 bin counts; the last bin includes max.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub counts: Vec<u64>,
    /// Values that are not finite (left out of the bins).
    pub not_finite: u64,
}

pub const BINS: usize = 20;

/// Histograms of every attribute of `records`, by name.
pub fn histograms<'a>(
    records: impl Iterator<Item = &'a [(String, f64)]> + Clone,
) -> BTreeMap<String, Histogram> {
    let mut b = HistogramBuilder::default();
    records.clone().for_each(|a| b.count(a));
    b.bin_from_now();
    records.for_each(|a| b.bin(a));
    b.finish()
}

/// Histograms built in two passes over the documents, holding no value: [`count`] every
/// document (counts, labels, range, sum), then [`bin`] every document again in the same order.
///
/// [`count`]: HistogramBuilder::count
/// [`bin`]: HistogramBuilder::bin
#[derive(Default)]
pub struct HistogramBuilder {
    hist: BTreeMap<String, Histogram>,
    /// Sum of each numeric attribute's finite values, in document order.
    sums: BTreeMap<String, f64>,
    /// Each numeric attribute's bin width (after the first pass).
    widths: BTreeMap<String, f64>,
}

impl HistogramBuilder {
    /// First pass: one document's attributes.
    pub fn count(&mut self, attrs: &[(String, f64)]) {
        for (name, v) in attrs {
            let h = self.hist.entry(name.clone()).or_default();
            h.count += 1;
            if label::is_label(name) {
                *h.labels
                    .get_or_insert_with(BTreeMap::new)
                    .entry(label::unpack(*v).unwrap_or_else(|| "?".into()))
                    .or_insert(0) += 1;
            } else if v.is_finite() {
                h.min = Some(h.min.map_or(*v, |m| m.min(*v)));
                h.max = Some(h.max.map_or(*v, |m| m.max(*v)));
                // Started like `Iterator::sum`, added in order: the same mean as summing them.
                let s = self
                    .sums
                    .entry(name.clone())
                    .or_insert_with(|| std::iter::empty::<f64>().sum());
                *s += *v;
            } else {
                h.not_finite += 1;
            }
        }
    }

    /// Between the passes: each numeric attribute's mean and bin edges.
    pub fn bin_from_now(&mut self) {
        for (name, h) in &mut self.hist {
            if let (Some(lo), Some(hi)) = (h.min, h.max) {
                let finite = h.count - h.not_finite;
                h.mean = Some(self.sums[name] / finite as f64);
                let w = (hi - lo) / BINS as f64;
                h.edges = (0..=BINS).map(|k| lo + w * k as f64).collect();
                h.counts = vec![0; BINS];
                self.widths.insert(name.clone(), w);
            }
        }
    }

    /// Second pass: one document's attributes again.
    pub fn bin(&mut self, attrs: &[(String, f64)]) {
        for (name, v) in attrs {
            let Some(h) = self.hist.get_mut(name) else {
                continue;
            };
            if let (Some(lo), Some(&w), true) = (h.min, self.widths.get(name), v.is_finite()) {
                let b = if w > 0.0 { ((v - lo) / w) as usize } else { 0 };
                h.counts[b.min(BINS - 1)] += 1;
            }
        }
    }

    pub fn finish(self) -> BTreeMap<String, Histogram> {
        self.hist
    }
}
