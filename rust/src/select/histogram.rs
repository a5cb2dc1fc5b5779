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
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for attrs in records {
        for (n, v) in attrs {
            values.entry(n.as_str()).or_default().push(*v);
        }
    }
    values
        .into_iter()
        .map(|(name, vs)| {
            let mut h = Histogram {
                count: vs.len() as u64,
                ..Histogram::default()
            };
            if label::is_label(name) {
                let mut labels = BTreeMap::new();
                for v in &vs {
                    *labels
                        .entry(label::unpack(*v).unwrap_or_else(|| "?".into()))
                        .or_insert(0) += 1;
                }
                h.labels = Some(labels);
                return (name.to_string(), h);
            }
            let finite: Vec<f64> = vs.iter().copied().filter(|v| v.is_finite()).collect();
            h.not_finite = (vs.len() - finite.len()) as u64;
            if let (Some(lo), Some(hi)) = (
                finite.iter().copied().reduce(f64::min),
                finite.iter().copied().reduce(f64::max),
            ) {
                h.min = Some(lo);
                h.max = Some(hi);
                h.mean = Some(finite.iter().sum::<f64>() / finite.len() as f64);
                let w = (hi - lo) / BINS as f64;
                h.edges = (0..=BINS).map(|k| lo + w * k as f64).collect();
                h.counts = vec![0; BINS];
                for v in finite {
                    let b = if w > 0.0 { ((v - lo) / w) as usize } else { 0 };
                    h.counts[b.min(BINS - 1)] += 1;
                }
            }
            (name.to_string(), h)
        })
        .collect()
}
