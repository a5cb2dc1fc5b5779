//! Band tables: for each band, (band hash, doc) entries of 12 bytes, sorted so that
//! the docs sharing a bucket are adjacent. Kept in memory, or, above a memory
//! budget, written as sorted runs to a temp dir and merged back band by band —
//! either way the same buckets, so the same candidate links.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::lsh::bucket_links;
use crate::{Error, Result};

/// One band-table entry: 12 bytes (u64 hash split in two u32 so the struct packs to 4-byte alignment).
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

    /// Sort key: unique within a band because a doc appears once per band.
    fn key(self) -> (u64, u32) {
        (self.hash(), self.doc)
    }

    fn to_bytes(self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[..8].copy_from_slice(&self.hash().to_le_bytes());
        b[8..].copy_from_slice(&self.doc.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; ENTRY_BYTES]) -> Self {
        let mut h = [0u8; 8];
        h.copy_from_slice(&b[..8]);
        let mut d = [0u8; 4];
        d.copy_from_slice(&b[8..]);
        Entry::new(u64::from_le_bytes(h), u32::from_le_bytes(d))
    }
}

/// The band tables of one clustering run.
pub struct BandTables {
    buffers: Vec<Vec<Entry>>,
    mem_limit: Option<u64>,
    spill_parent: PathBuf,
    spill: Option<tempfile::TempDir>,
    /// runs[band] = sorted run files of that band.
    runs: Vec<Vec<PathBuf>>,
    buffered_bytes: u64,
    peak_bytes: u64,
}

impl BandTables {
    /// `mem_limit` caps the bytes of buffered entries; above it, runs go to a temp dir in `spill_parent`.
    pub fn new(bands: usize, mem_limit: Option<u64>, spill_parent: &Path) -> Self {
        BandTables {
            buffers: vec![Vec::new(); bands],
            mem_limit,
            spill_parent: spill_parent.to_path_buf(),
            spill: None,
            runs: vec![Vec::new(); bands],
            buffered_bytes: 0,
            peak_bytes: 0,
        }
    }

    /// Add one document's band hashes (one per band).
    pub fn push(&mut self, doc: u32, hashes: impl Iterator<Item = u64>) -> Result<()> {
        for (buf, h) in self.buffers.iter_mut().zip(hashes) {
            buf.push(Entry::new(h, doc));
        }
        self.buffered_bytes += (self.buffers.len() * ENTRY_BYTES) as u64;
        self.peak_bytes = self.peak_bytes.max(self.buffered_bytes);
        if let Some(limit) = self.mem_limit {
            if self.buffered_bytes >= limit {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Whether any run went to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Number of run files written.
    pub fn spill_runs(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// Largest number of entry bytes held in memory at once.
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }

    /// Sort every band's buffer (in parallel) and write each as a run file.
    fn flush(&mut self) -> Result<()> {
        if self.spill.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("cpt-neardup-")
                .tempdir_in(&self.spill_parent)
                .map_err(|e| Error::io(&self.spill_parent, e))?;
            self.spill = Some(dir);
        }
        let dir = self
            .spill
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let run_no = self.runs.first().map_or(0, Vec::len);
        let written: Vec<Result<PathBuf>> = self
            .buffers
            .par_iter_mut()
            .enumerate()
            .map(|(band, buf)| {
                buf.sort_unstable_by_key(|e| e.key());
                let path = dir.join(format!("band{band:05}-run{run_no:05}.bin"));
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                let mut w = BufWriter::with_capacity(1 << 16, file);
                for e in buf.iter() {
                    w.write_all(&e.to_bytes())
                        .map_err(|e| Error::io(&path, e))?;
                }
                w.flush().map_err(|e| Error::io(&path, e))?;
                buf.clear();
                buf.shrink_to_fit();
                Ok(path)
            })
            .collect();
        for (band, path) in written.into_iter().enumerate() {
            self.runs[band].push(path?);
        }
        self.buffered_bytes = 0;
        Ok(())
    }

    /// All candidate links (earlier doc, later doc), sorted and without repeats.
    /// `chain` adds predecessor links inside buckets (see `bucket_links`).
    pub fn links(mut self, chain: bool) -> Result<Vec<(u32, u32)>> {
        self.buffers
            .par_iter_mut()
            .for_each(|buf| buf.sort_unstable_by_key(|e| e.key()));
        let per_band: Vec<Result<Vec<(u32, u32)>>> = self
            .buffers
            .par_iter()
            .zip(self.runs.par_iter())
            .map(|(buf, runs)| {
                let mut out = Vec::new();
                if runs.is_empty() {
                    scan_buckets(buf.iter().copied(), chain, &mut out);
                } else {
                    let merged = MergedRuns::open(runs, buf)?;
                    scan_buckets_fallible(merged, chain, &mut out)?;
                }
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
fn scan_buckets(entries: impl Iterator<Item = Entry>, chain: bool, out: &mut Vec<(u32, u32)>) {
    let _ = scan_buckets_fallible(entries.map(Ok), chain, out);
}

fn scan_buckets_fallible(
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

/// A k-way merge of sorted run files plus the sorted in-memory remainder of one band.
struct MergedRuns<'a> {
    readers: Vec<(PathBuf, BufReader<File>)>,
    memory: &'a [Entry],
    mem_pos: usize,
    heap: BinaryHeap<Reverse<((u64, u32), usize)>>,
    heads: Vec<Option<Entry>>,
    failed: bool,
}

impl<'a> MergedRuns<'a> {
    fn open(runs: &[PathBuf], memory: &'a [Entry]) -> Result<Self> {
        let mut readers = Vec::with_capacity(runs.len());
        for path in runs {
            let f = File::open(path).map_err(|e| Error::io(path, e))?;
            readers.push((path.clone(), BufReader::with_capacity(1 << 16, f)));
        }
        let n = readers.len();
        let mut m = MergedRuns {
            readers,
            memory,
            mem_pos: 0,
            heap: BinaryHeap::new(),
            heads: vec![None; n + 1],
            failed: false,
        };
        for src in 0..=n {
            m.advance(src)?;
        }
        Ok(m)
    }

    /// Load the next entry of source `src` (run index, or n = memory) into the heap.
    fn advance(&mut self, src: usize) -> Result<()> {
        let next = if src == self.readers.len() {
            let e = self.memory.get(self.mem_pos).copied();
            self.mem_pos += 1;
            e
        } else {
            let (path, r) = &mut self.readers[src];
            let mut b = [0u8; ENTRY_BYTES];
            match r.read_exact(&mut b) {
                Ok(()) => Some(Entry::from_bytes(&b)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
                Err(e) => return Err(Error::io(path.as_path(), e)),
            }
        };
        self.heads[src] = next;
        if let Some(e) = next {
            self.heap.push(Reverse((e.key(), src)));
        }
        Ok(())
    }
}

impl Iterator for MergedRuns<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let Reverse((_, src)) = self.heap.pop()?;
        let e = self.heads[src]?;
        if let Err(err) = self.advance(src) {
            self.failed = true;
            return Some(Err(err));
        }
        Some(Ok(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links_of(mem_limit: Option<u64>, docs: &[[u64; 3]]) -> (Vec<(u32, u32)>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut t = BandTables::new(3, mem_limit, dir.path());
        for (i, h) in docs.iter().enumerate() {
            t.push(i as u32, h.iter().copied()).unwrap();
        }
        let spilled = t.spilled();
        (t.links(true).unwrap(), spilled)
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
        let (mem, spilled_mem) = links_of(None, &docs);
        let (disk, spilled_disk) = links_of(Some(1 << 16), &docs);
        assert!(!spilled_mem);
        assert!(spilled_disk);
        assert!(!mem.is_empty());
        assert_eq!(mem, disk);
    }
}
