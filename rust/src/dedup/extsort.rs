//! An external sort of fixed-size records: kept in memory up to a byte budget, past it
//! written as sorted runs to a temp dir, then read back in one k-way merge. The merged
//! order is the in-memory sort's, so a job's outcome does not depend on its budget.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::{Error, Result};

/// A record of a fixed number of bytes on disk, sorted by its own order.
pub trait Record: Copy + Ord + Send {
    const BYTES: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

/// Records sorted under a memory budget.
pub struct ExtSort<T: Record> {
    buffer: Vec<T>,
    /// Records held in memory before a run is written (`usize::MAX`: no budget).
    max_buffered: usize,
    spill_parent: PathBuf,
    spill: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
    pushed: u64,
}

impl<T: Record> ExtSort<T> {
    /// `budget` caps the bytes of records in memory; runs go to a temp dir in `spill_parent`.
    pub fn new(budget: Option<u64>, spill_parent: &Path) -> Self {
        let max_buffered = budget.map_or(usize::MAX, |b| {
            usize::try_from(b / std::mem::size_of::<T>() as u64)
                .unwrap_or(usize::MAX)
                .max(1)
        });
        ExtSort {
            buffer: Vec::new(),
            max_buffered,
            spill_parent: spill_parent.to_path_buf(),
            spill: None,
            runs: Vec::new(),
            pushed: 0,
        }
    }

    pub fn push(&mut self, r: T) -> Result<()> {
        self.buffer.push(r);
        self.pushed += 1;
        if self.buffer.len() >= self.max_buffered {
            self.write_run()?;
        }
        Ok(())
    }

    /// Run files written so far (0: everything stayed in memory).
    pub fn spill_runs(&self) -> u64 {
        self.runs.len() as u64
    }

    /// Records pushed.
    pub fn len(&self) -> u64 {
        self.pushed
    }

    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Records held in memory now.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Write what is in memory as a sorted run now (for owners that budget several sorts
    /// together); nothing happens when the buffer is empty.
    pub fn spill(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.write_run()
    }

    fn write_run(&mut self) -> Result<()> {
        if self.spill.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("cpt-extsort-")
                .tempdir_in(&self.spill_parent)
                .map_err(|e| Error::io(&self.spill_parent, e))?;
            self.spill = Some(dir);
        }
        let dir = self.spill.as_ref().expect("spill dir made above").path();
        let path = dir.join(format!("run{:05}.bin", self.runs.len()));
        self.buffer.par_sort_unstable();
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        let mut bytes = Vec::with_capacity(T::BYTES);
        for r in &self.buffer {
            bytes.clear();
            r.put(&mut bytes);
            w.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
        }
        w.flush().map_err(|e| Error::io(&path, e))?;
        self.buffer.clear();
        self.buffer.shrink_to_fit(); // the next run's pages come back only as it fills
        self.runs.push(path);
        Ok(())
    }

    /// Sort what is in memory; after this, [`ExtSort::merged`] may be read any number
    /// of times.
    pub fn finish(&mut self) {
        self.buffer.par_sort_unstable();
        if !self.runs.is_empty() {
            // The remainder is merged from memory; the run buffers' pages are returned.
            self.buffer.shrink_to_fit();
        }
    }

    /// Every record pushed, in order (call [`ExtSort::finish`] first).
    pub fn merged(&self) -> Result<Merged<'_, T>> {
        Merged::open(&self.runs, &self.buffer)
    }
}

/// A k-way merge of the sorted run files and the sorted in-memory remainder.
pub struct Merged<'a, T: Record> {
    readers: Vec<(&'a Path, BufReader<File>)>,
    memory: std::slice::Iter<'a, T>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
    scratch: Vec<u8>,
    failed: bool,
}

impl<'a, T: Record> Merged<'a, T> {
    fn open(runs: &'a [PathBuf], memory: &'a [T]) -> Result<Self> {
        let mut readers = Vec::with_capacity(runs.len());
        for path in runs {
            let f = File::open(path).map_err(|e| Error::io(path, e))?;
            readers.push((path.as_path(), BufReader::with_capacity(1 << 16, f)));
        }
        let n = readers.len();
        let mut m = Merged {
            readers,
            memory: memory.iter(),
            heap: BinaryHeap::with_capacity(n + 1),
            scratch: vec![0; T::BYTES],
            failed: false,
        };
        if n > 0 {
            for src in 0..=n {
                m.advance(src)?;
            }
        }
        Ok(m)
    }

    /// Put the next record of source `src` (a run, or `n` = memory) on the heap.
    fn advance(&mut self, src: usize) -> Result<()> {
        let next = if src == self.readers.len() {
            self.memory.next().copied()
        } else {
            let (path, r) = &mut self.readers[src];
            match r.read_exact(&mut self.scratch) {
                Ok(()) => Some(T::get(&self.scratch)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
                Err(e) => return Err(Error::io(*path, e)),
            }
        };
        if let Some(r) = next {
            self.heap.push(Reverse((r, src)));
        }
        Ok(())
    }
}

impl<T: Record> Iterator for Merged<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.readers.is_empty() {
            return self.memory.next().copied().map(Ok); // nothing spilled: no heap needed
        }
        let Reverse((r, src)) = self.heap.pop()?;
        if let Err(e) = self.advance(src) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Record for (u32, u32) {
        const BYTES: usize = 8;
        fn put(self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
            out.extend_from_slice(&self.1.to_le_bytes());
        }
        fn get(b: &[u8]) -> Self {
            let u = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
            (u(0), u(4))
        }
    }

    fn sorted(budget: Option<u64>, items: &[(u32, u32)]) -> (Vec<(u32, u32)>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ExtSort::new(budget, dir.path());
        for &x in items {
            s.push(x).unwrap();
        }
        s.finish();
        let out: Vec<_> = s.merged().unwrap().map(Result::unwrap).collect();
        // A second read gives the same records.
        assert_eq!(s.merged().unwrap().count(), out.len());
        (out, s.spill_runs())
    }

    #[test]
    fn spilled_runs_merge_to_the_in_memory_order() {
        let mut state = 11u64;
        let items: Vec<(u32, u32)> = (0..10_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                ((state >> 40) as u32 % 500, (state >> 20) as u32 % 7)
            })
            .collect();
        let (mem, runs_mem) = sorted(None, &items);
        let (disk, runs_disk) = sorted(Some(8 * 700), &items);
        assert_eq!(runs_mem, 0);
        assert_eq!(runs_disk, 14, "10,000 records in runs of 700");
        let mut want = items.clone();
        want.sort_unstable();
        assert_eq!(mem, want);
        assert_eq!(disk, want);
        assert_eq!(sorted(Some(8), &[]).0, []);
    }
}
