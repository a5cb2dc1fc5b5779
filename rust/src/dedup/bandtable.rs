//! Band tables: for each band, (band hash, doc) entries of 12 bytes, sorted so that
//! the docs sharing a bucket are adjacent. One external sort per band ([`ExtSort`]) under
//! one budget for all bands: past it every band writes a sorted run, and the runs are
//! merged back band by band. Either way the same buckets, so the same candidate links.

use std::path::Path;

use rayon::prelude::*;

use super::extsort::{ExtSort, Record};
use super::lsh::bucket_links;
use crate::Result;

/// One band-table entry: 12 bytes (u64 hash split in two u32 so the struct packs to 4-byte
/// alignment), ordered by (hash, doc): unique within a band, as a doc appears once per band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Entry {
    hash_hi: u32,
    hash_lo: u32,
    doc: u32,
}

pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();
const _: () = assert!(ENTRY_BYTES == 12);

impl Entry {
    #[allow(clippy::cast_possible_truncation)]
    fn new(hash: u64, doc: u32) -> Self {
        Entry {
            hash_hi: (hash >> 32) as u32,
            hash_lo: hash as u32,
            doc,
        }
    }

    fn hash(self) -> u64 {
        (u64::from(self.hash_hi) << 32) | u64::from(self.hash_lo)
    }

    fn key(self) -> (u64, u32) {
        (self.hash(), self.doc)
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Record for Entry {
    const BYTES: usize = ENTRY_BYTES;

    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash().to_le_bytes());
        out.extend_from_slice(&self.doc.to_le_bytes());
    }

    fn get(b: &[u8]) -> Self {
        let hash = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let doc = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        Entry::new(hash, doc)
    }
}

/// The band tables of one clustering run.
pub struct BandTables {
    bands: Vec<ExtSort<Entry>>,
    mem_limit: Option<u64>,
    buffered_bytes: u64,
    peak_bytes: u64,
}

impl BandTables {
    /// `mem_limit` caps the bytes of buffered entries; above it, runs go to temp dirs in `spill_parent`.
    pub fn new(bands: usize, mem_limit: Option<u64>, spill_parent: &Path) -> Self {
        BandTables {
            // no budget of their own: the tables spill together, when all bands' bytes reach it
            bands: (0..bands)
                .map(|_| ExtSort::new(None, spill_parent))
                .collect(),
            mem_limit,
            buffered_bytes: 0,
            peak_bytes: 0,
        }
    }

    /// Add one document's band hashes (one per band).
    pub fn push(&mut self, doc: u32, hashes: impl Iterator<Item = u64>) -> Result<()> {
        for (band, h) in self.bands.iter_mut().zip(hashes) {
            band.push(Entry::new(h, doc))?;
        }
        self.buffered_bytes += (self.bands.len() * ENTRY_BYTES) as u64;
        self.peak_bytes = self.peak_bytes.max(self.buffered_bytes);
        if self
            .mem_limit
            .is_some_and(|limit| self.buffered_bytes >= limit)
        {
            let spilled: Vec<Result<()>> = self.bands.par_iter_mut().map(ExtSort::spill).collect();
            spilled.into_iter().collect::<Result<()>>()?;
            self.buffered_bytes = 0;
        }
        Ok(())
    }

    /// Whether any run went to disk.
    pub fn spilled(&self) -> bool {
        self.spill_runs() > 0
    }

    /// Number of run files written.
    pub fn spill_runs(&self) -> usize {
        self.bands.iter().map(|b| b.spill_runs() as usize).sum()
    }

    /// Largest number of entry bytes held in memory at once.
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }

    /// All candidate links (earlier doc, later doc), sorted and without repeats.
    /// `chain` adds predecessor links inside buckets (see `bucket_links`).
    pub fn links(mut self, chain: bool) -> Result<Vec<(u32, u32)>> {
        self.bands.par_iter_mut().for_each(ExtSort::finish);
        let per_band: Vec<Result<Vec<(u32, u32)>>> = self
            .bands
            .par_iter()
            .map(|band| {
                let mut out = Vec::new();
                scan_buckets(band.merged()?, chain, &mut out)?;
                Ok(out)
            })
            .collect();
        let mut links = Vec::new();
        for band in per_band {
            links.extend(band?);
        }
        links.par_sort_unstable();
        links.dedup();
        Ok(links)
    }
}

/// Group a sorted entry stream by hash and emit each bucket's links.
fn scan_buckets(
    entries: impl Iterator<Item = Result<Entry>>,
    chain: bool,
    out: &mut Vec<(u32, u32)>,
) -> Result<()> {
    let mut bucket: Vec<u32> = Vec::new();
    let mut current: Option<u64> = None;
    for e in entries {
        let e = e?;
        if current != Some(e.hash()) {
            bucket_links(&bucket, chain, out);
            bucket.clear();
            current = Some(e.hash());
        }
        bucket.push(e.doc);
    }
    bucket_links(&bucket, chain, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links_of(mem_limit: Option<u64>, docs: &[[u64; 3]]) -> (Vec<(u32, u32)>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let mut t = BandTables::new(3, mem_limit, dir.path());
        for (i, h) in docs.iter().enumerate() {
            t.push(i as u32, h.iter().copied()).unwrap();
        }
        let runs = t.spill_runs();
        (t.links(true).unwrap(), runs)
    }

    #[test]
    fn spilled_tables_give_the_same_links() {
        // Deterministic pseudo-random band hashes from a small alphabet so buckets collide.
        let mut state = 7u64;
        let docs: Vec<[u64; 3]> = (0..20_000)
            .map(|_| {
                let mut h = [0u64; 3];
                for x in &mut h {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    *x = (state >> 33) % 5_000;
                }
                h
            })
            .collect();
        let (mem, runs_mem) = links_of(None, &docs);
        let (disk, runs_disk) = links_of(Some(1 << 16), &docs);
        assert_eq!(runs_mem, 0);
        // 36 bytes a doc: a flush every 1,821 docs, 10 of them (3 runs each), the rest in memory
        assert_eq!(runs_disk, 30);
        assert!(!mem.is_empty());
        assert_eq!(mem, disk);
    }
}
