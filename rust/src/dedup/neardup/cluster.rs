//! Clustering: band-table candidates, checked (exact or bottom-k Jaccard) in parallel,
//! merged by a union-find in a fixed order, so clusters do not depend on thread count.
//! The three steps are public on their own ([`NearDup::check_links`],
//! [`NearDup::union_links`], [`NearDup::stats_of`]) so the task graph's band and cluster
//! tasks (`crate::exec::near`) run the same code over partitions of the job.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::similarity::{bottom_k_jaccard, exact_jaccard, LeU32s};
use super::sketch::{read_u64, SketchSets};
use super::{Check, NearDup, NearDupHit, NearDupOutcome, NearDupStats};
use crate::dedup::bandtable::BandTables;
use crate::{Error, Result};

/// What the union of the accepted links found, over dense document numbers (the
/// documents clustered, numbered 0.. in input order).
#[derive(Debug, Clone, Default)]
pub struct Clustering {
    /// Removed documents, ascending: (doc, cluster, kept doc).
    pub duplicates: Vec<(u32, u64, u32)>,
    pub clusters: u64,
    pub cluster_sizes: BTreeMap<u64, u64>,
    pub oversize_merges: u64,
    pub refused_merges: u64,
}

/// Where the band tables of a clustering run lived (memory figures of the report).
#[derive(Debug, Clone, Copy, Default)]
pub struct TableFacts {
    /// Peak entry bytes in memory (summed over bands when they are built apart).
    pub peak_bytes: u64,
    pub spilled: bool,
    pub spill_runs: u64,
}

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
            let doc = dense_doc(ordinals.len())?;
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
        let n = ordinals.len() as u64;
        let facts = TableFacts {
            peak_bytes: tables.peak_bytes(),
            spilled: tables.spilled(),
            spill_runs: tables.spill_runs() as u64,
        };
        let links = tables.links(self.check != Check::None)?;
        let accepted = self.check_links(&links, |d| sets.get(d));
        let candidate_pairs = links.len() as u64;
        let verified = accepted.iter().filter(|&&x| x).count() as u64;
        let accepted: Vec<(u32, u32)> = links
            .iter()
            .zip(&accepted)
            .filter(|(_, &ok)| ok)
            .map(|(&l, _)| l)
            .collect();
        let clustering = self.union_links(accepted);
        let duplicates = clustering
            .duplicates
            .iter()
            .map(|&(doc, cluster, kept)| NearDupHit {
                ordinal: ordinals[doc as usize],
                cluster,
                kept: ordinals[kept as usize],
            })
            .collect();
        let stats = self.stats_of(n, empty_docs, candidate_pairs, verified, &clustering, facts);
        Ok(NearDupOutcome { duplicates, stats })
    }

    /// Whether each candidate link (earlier doc, later doc) passes the configured check,
    /// given each doc's shingle set (every link passes when nothing is checked).
    pub fn check_links<'s, F>(&self, links: &[(u32, u32)], set: F) -> Vec<bool>
    where
        F: Fn(u32) -> LeU32s<'s> + Sync,
    {
        let t = self.cfg.threshold;
        match self.check {
            Check::Exact => links
                .par_iter()
                .map(|&(a, b)| exact_jaccard(&set(a), &set(b)) >= t)
                .collect(),
            Check::Sample => {
                let k = self.cfg.sample_size;
                links
                    .par_iter()
                    .map(|&(a, b)| bottom_k_jaccard(&set(a), &set(b), k) >= t)
                    .collect()
            }
            Check::None => vec![true; links.len()],
        }
    }

    /// Union the accepted links (any order, no repeats) into clusters. The union-find
    /// holds only the documents that appear in a link, never the whole job.
    pub fn union_links(&self, mut accepted: Vec<(u32, u32)>) -> Clustering {
        let members = link_members(accepted.iter().map(|&l| Ok(l))).expect("links in memory");
        // Union in the order a streaming pass would meet the pairs (by later doc, then
        // earlier), so the cluster-size guard is deterministic too.
        accepted.par_sort_unstable_by_key(|&(a, b)| (b, a));
        self.union_ordered(&members, accepted.into_iter().map(Ok))
            .expect("links in memory")
    }

    /// Union links (earlier doc, later doc) met in (later, earlier) order, without
    /// repeats, over `members` (their documents, ascending: [`link_members`]). The links
    /// may stream from disk; only the union-find over the members is held.
    pub fn union_ordered(
        &self,
        members: &[u32],
        links: impl Iterator<Item = Result<(u32, u32)>>,
    ) -> Result<Clustering> {
        #[allow(clippy::cast_possible_truncation)] // members.len() <= 2 x links, dense u32s
        let local = |d: u32| members.binary_search(&d).expect("a link's member") as u32;
        let mut uf = UnionFind::new(members.len());
        let mut out = Clustering::default();
        for link in links {
            let (a, b) = link?;
            let (ra, rb) = (uf.find(local(a)), uf.find(local(b)));
            if ra == rb {
                continue;
            }
            if let Some(max) = self.cfg.max_cluster_size {
                if (uf.size[ra as usize] + uf.size[rb as usize]) as usize > max {
                    out.oversize_merges += 1;
                    if self.cfg.refuse_oversize {
                        out.refused_merges += 1;
                        continue;
                    }
                }
            }
            uf.union_roots(ra, rb);
        }
        // Members ascend like the documents, and a root is its cluster's smallest
        // member: clusters are numbered in the input order of their kept document.
        let mut cluster_of_root: Vec<u64> = vec![u64::MAX; members.len()];
        #[allow(clippy::cast_possible_truncation)]
        for i in 0..members.len() as u32 {
            let root = uf.find(i);
            let size = u64::from(uf.size[root as usize]);
            if size < 2 {
                continue;
            }
            if root == i {
                cluster_of_root[i as usize] = out.clusters;
                out.clusters += 1;
                *out.cluster_sizes.entry(size).or_default() += 1;
            } else {
                out.duplicates.push((
                    members[i as usize],
                    cluster_of_root[root as usize],
                    members[root as usize],
                ));
            }
        }
        Ok(out)
    }

    /// The report's counters of a clustering run over `docs` documents.
    pub fn stats_of(
        &self,
        docs: u64,
        empty_docs: u64,
        candidate_pairs: u64,
        verified: u64,
        c: &Clustering,
        tables: TableFacts,
    ) -> NearDupStats {
        let checked = self.check != Check::None;
        NearDupStats {
            docs,
            empty_docs,
            bands: self.bands,
            rows: self.rows,
            check: self.check.name(),
            candidate_pairs,
            verified_pairs: checked.then_some(verified),
            estimated_fp_rate: (checked && candidate_pairs > 0)
                .then(|| 1.0 - verified as f64 / candidate_pairs as f64),
            clusters: c.clusters,
            duplicates: c.duplicates.len() as u64,
            largest_cluster: c.cluster_sizes.keys().next_back().copied().unwrap_or(0),
            cluster_sizes: c.cluster_sizes.clone(),
            oversize_merges: c.oversize_merges,
            refused_merges: c.refused_merges,
            index_bytes_per_doc: if docs == 0 {
                0.0
            } else {
                tables.peak_bytes as f64 / docs as f64
            },
            spilled: tables.spilled,
            spill_runs: tables.spill_runs,
        }
    }
}

/// The documents that `links` name, ascending and distinct. Held compacted as they come
/// (sorted and deduplicated whenever the buffer doubles), so it stays near the number of
/// distinct members however many links stream by.
pub fn link_members(links: impl Iterator<Item = Result<(u32, u32)>>) -> Result<Vec<u32>> {
    let mut members: Vec<u32> = Vec::new();
    let mut compacted = 0;
    for link in links {
        let (a, b) = link?;
        members.extend([a, b]);
        if members.len() >= 2 * compacted.max(1 << 16) {
            members.par_sort_unstable();
            members.dedup();
            compacted = members.len();
        }
    }
    members.par_sort_unstable();
    members.dedup();
    Ok(members)
}

/// The dense number of the `n`-th clustered document.
pub fn dense_doc(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        Error::Config(
            "near-dup: more than 2^32 documents in one clustering run; split by shard".into(),
        )
    })
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
