//! Clustering: band-table candidates, checked (exact or bottom-k Jaccard) in parallel,
//! merged by a union-find in a fixed order, so clusters do not depend on thread count.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::similarity::{bottom_k_jaccard, exact_jaccard};
use super::sketch::{read_u64, SketchSets};
use super::{Check, NearDup, NearDupHit, NearDupOutcome, NearDupStats};
use crate::dedup::bandtable::BandTables;
use crate::{Error, Result};

impl NearDup {
    /// Cluster the sketches of all documents (ordinals strictly increasing, gaps allowed)
    /// and name the near-duplicates to remove. Band tables spill into a temp dir under
    /// `spill_dir` (default: the system temp dir) when `mem_limit` would be exceeded.
    pub fn cluster<I, B>(&self, sketches: I, spill_dir: Option<&Path>) -> Result<NearDupOutcome>
    where
        I: IntoIterator<Item = (u64, B)>,
        B: AsRef<[u8]> + Sync,
    {
        let tmp = std::env::temp_dir();
        let spill_parent = spill_dir.unwrap_or(&tmp);
        let mut tables = BandTables::new(self.bands, self.cfg.mem_limit.map(|m| m.0), spill_parent);
        let sketches = sketches.into_iter();
        let mut ordinals: Vec<u64> = Vec::with_capacity(sketches.size_hint().0);
        // The shingle sets stay inside their sketches (kept, not copied) when checked.
        let mut sets = SketchSets::default();
        let mut empty_docs = 0u64;
        for (ordinal, sketch) in sketches {
            let blob = sketch.as_ref();
            if let Some(&prev) = ordinals.last() {
                if ordinal <= prev {
                    return Err(Error::Config(format!(
                        "near-dup: document ordinals must increase (got {ordinal} after {prev})"
                    )));
                }
            }
            let doc = u32::try_from(ordinals.len()).map_err(|_| {
                Error::Config(
                    "near-dup: more than 2^32 documents in one clustering run; split by shard"
                        .into(),
                )
            })?;
            let parsed = self.parse_sketch(blob, ordinal)?;
            if let Some(bands) = parsed.bands {
                tables.push(doc, bands.chunks_exact(8).map(read_u64))?;
            } else {
                empty_docs += 1;
            }
            if self.check != Check::None {
                let start = parsed.set.as_ptr() as usize - blob.as_ptr() as usize;
                let range = start..start + parsed.set.len();
                sets.push(sketch, range);
            }
            ordinals.push(ordinal);
        }
        let n = ordinals.len();
        let spilled = tables.spilled();
        let spill_runs = tables.spill_runs() as u64;
        let peak = tables.peak_bytes();
        let checked = self.check != Check::None;
        let links = tables.links(checked)?;
        let candidate_pairs = links.len() as u64;

        let t = self.cfg.threshold;
        let accepted: Vec<bool> = match self.check {
            Check::Exact => links
                .par_iter()
                .map(|&(a, b)| exact_jaccard(&sets.get(a), &sets.get(b)) >= t)
                .collect(),
            Check::Sample => {
                let k = self.cfg.sample_size;
                links
                    .par_iter()
                    .map(|&(a, b)| bottom_k_jaccard(&sets.get(a), &sets.get(b), k) >= t)
                    .collect()
            }
            Check::None => vec![true; links.len()],
        };
        let verified = accepted.iter().filter(|&&x| x).count() as u64;

        // Union in the order a streaming pass would meet the pairs (by later doc, then
        // earlier), so the cluster-size guard is deterministic too.
        let mut order: Vec<usize> = (0..links.len()).filter(|&i| accepted[i]).collect();
        order.sort_unstable_by_key(|&i| (links[i].1, links[i].0));
        let mut uf = UnionFind::new(n);
        let (mut oversize, mut refused) = (0u64, 0u64);
        for i in order {
            let (a, b) = links[i];
            let (ra, rb) = (uf.find(a), uf.find(b));
            if ra == rb {
                continue;
            }
            if let Some(max) = self.cfg.max_cluster_size {
                if (uf.size[ra as usize] + uf.size[rb as usize]) as usize > max {
                    oversize += 1;
                    if self.cfg.refuse_oversize {
                        refused += 1;
                        continue;
                    }
                }
            }
            uf.union_roots(ra, rb);
        }

        let mut cluster_of_root: Vec<u64> = vec![u64::MAX; n];
        let mut next_cluster = 0u64;
        let mut duplicates = Vec::new();
        let mut cluster_sizes: BTreeMap<u64, u64> = BTreeMap::new();
        #[allow(clippy::cast_possible_truncation)]
        for doc in 0..n as u32 {
            let root = uf.find(doc);
            let size = u64::from(uf.size[root as usize]);
            if size < 2 {
                continue;
            }
            if root == doc {
                cluster_of_root[doc as usize] = next_cluster;
                next_cluster += 1;
                *cluster_sizes.entry(size).or_default() += 1;
            } else {
                duplicates.push(NearDupHit {
                    ordinal: ordinals[doc as usize],
                    cluster: cluster_of_root[root as usize],
                    kept: ordinals[root as usize],
                });
            }
        }
        let stats = NearDupStats {
            docs: n as u64,
            empty_docs,
            bands: self.bands,
            rows: self.rows,
            check: self.check.name(),
            candidate_pairs,
            verified_pairs: checked.then_some(verified),
            estimated_fp_rate: (checked && candidate_pairs > 0)
                .then(|| 1.0 - verified as f64 / candidate_pairs as f64),
            clusters: next_cluster,
            duplicates: duplicates.len() as u64,
            largest_cluster: cluster_sizes.keys().next_back().copied().unwrap_or(0),
            cluster_sizes,
            oversize_merges: oversize,
            refused_merges: refused,
            index_bytes_per_doc: if n == 0 { 0.0 } else { peak as f64 / n as f64 },
            spilled,
            spill_runs,
        };
        Ok(NearDupOutcome { duplicates, stats })
    }
}

/// Union-find whose root is always the smallest member, so the root is the doc to keep.
struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    #[allow(clippy::cast_possible_truncation)]
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union_roots(&mut self, ra: u32, rb: u32) {
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child as usize] = root;
        self.size[root as usize] += self.size[child as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_keeps_smallest_root() {
        let mut uf = UnionFind::new(5);
        let (a, b) = (uf.find(4), uf.find(2));
        uf.union_roots(a, b);
        let (a, b) = (uf.find(2), uf.find(3));
        uf.union_roots(a, b);
        assert_eq!(uf.find(4), 2);
        assert_eq!(uf.find(3), 2);
        assert_eq!(uf.size[2], 3);
    }
}
