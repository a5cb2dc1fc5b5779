//! The near-duplicate benchmark's ground truth, shared by the `minhash_*` and `curate_*`
//! tests: `shared/data/neardup/docs.jsonl.zst` and the exact word-5-gram Jaccard of every
//! pair >= 0.5 (`pairs.jsonl`). The reference removal set is what an exact-Jaccard dedup
//! removes: union-find over the pairs at or above a threshold, first document (file
//! order) of each group kept.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub struct Reference {
    /// Document ids and raw texts, in file order.
    pub ids: Vec<String>,
    pub texts: Vec<String>,
    /// (id a, id b, exact Jaccard).
    pub pairs: Vec<(String, String, f64)>,
}

/// The corpus path and its reference; `None` only when shared data is absent and the test
/// was told to skip (see `shared_data`); absent data otherwise fails the test.
pub fn load() -> Option<(PathBuf, Reference)> {
    let dir = crate::shared_data::dir()?;
    let docs_path = dir.join("neardup/docs.jsonl.zst");
    let docs = zstd::decode_all(std::fs::File::open(&docs_path).unwrap()).unwrap();
    let (mut ids, mut texts) = (Vec::new(), Vec::new());
    for line in docs.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
        texts.push(v["text"].as_str().unwrap().to_string());
    }
    let pairs_text = std::fs::read_to_string(dir.join("neardup/pairs.jsonl")).unwrap();
    let pairs = pairs_text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["a"].as_str().unwrap().to_string(),
                v["b"].as_str().unwrap().to_string(),
                v["jaccard"].as_f64().unwrap(),
            )
        })
        .collect();
    Some((docs_path, Reference { ids, texts, pairs }))
}

impl Reference {
    /// File positions an exact-Jaccard dedup at `t` removes.
    pub fn removed(&self, t: f64) -> HashSet<usize> {
        let pos: HashMap<&str, usize> = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let mut parent: Vec<usize> = (0..self.ids.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for (a, b, j) in &self.pairs {
            if *j >= t {
                let (ra, rb) = (
                    find(&mut parent, pos[a.as_str()]),
                    find(&mut parent, pos[b.as_str()]),
                );
                if ra != rb {
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        (0..self.ids.len())
            .filter(|&i| find(&mut parent, i) != i)
            .collect()
    }

    /// The ids an exact-Jaccard dedup at `t` removes.
    pub fn removed_ids(&self, t: f64) -> HashSet<String> {
        self.removed(t)
            .into_iter()
            .map(|i| self.ids[i].clone())
            .collect()
    }
}

/// (precision, recall) of `got` against `truth`.
pub fn precision_recall<T: Eq + std::hash::Hash>(
    got: &HashSet<T>,
    truth: &HashSet<T>,
) -> (f64, f64) {
    let tp = got.intersection(truth).count() as f64;
    (tp / got.len().max(1) as f64, tp / truth.len().max(1) as f64)
}
