//! What the report needs of the scan records and the decisions, gathered one input file
//! (one scan task's decisions) at a time: per-input counts, the decided counts per reason
//! (checked against what the write phase wrote), and the documents whose id an earlier
//! document has. The one-process run adds its in-memory files; the task graph's finish
//! task streams them from disk, with the ids spilled to hash partitions under a budget.

use super::state::ScanFile;
use crate::input::InputFile;
use crate::report::InputReport;
use crate::stage::Decision;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::Path;

/// The report's view of the job's records, added in input order.
pub struct Tally {
    pub inputs: Vec<InputReport>,
    pub ids: DuplicateIds,
    pub decided_kept: u64,
    pub decided_rejected: BTreeMap<String, u64>,
}

impl Tally {
    pub fn new(ids: DuplicateIds) -> Tally {
        Tally {
            inputs: Vec::new(),
            ids,
            decided_kept: 0,
            decided_rejected: BTreeMap::new(),
        }
    }

    /// The next input file's scan records.
    pub fn add_scan(&mut self, input: &InputFile, scan: &ScanFile) -> Result<()> {
        self.inputs.push(InputReport {
            path: input.path.to_string_lossy().into_owned(),
            size: input.size,
            docs: scan.records.len() as u64,
            bytes: scan.records.iter().map(|r| r.bytes).sum(),
            blank_lines: scan.blank_lines,
        });
        scan.records.iter().try_for_each(|r| self.ids.push(&r.id))
    }

    /// Decisions of the next documents (any grouping, in input order or not).
    pub fn add_decisions<'a>(&mut self, decisions: impl IntoIterator<Item = &'a Decision>) {
        for d in decisions {
            match d {
                Decision::Keep => self.decided_kept += 1,
                Decision::Reject(r) => match self.decided_rejected.get_mut(&r.reason) {
                    Some(n) => *n += 1,
                    None => {
                        self.decided_rejected.insert(r.reason.clone(), 1);
                    }
                },
            }
        }
    }
}

/// How many documents share an id with an earlier one, and the first ten of them.
pub struct DuplicateIds {
    seen: Seen,
    /// Ids pushed so far (the next one's input position).
    next: u64,
}

enum Seen {
    Memory(HashSet<Box<str>>, u64, Vec<String>),
    /// (position, id) entries in one file per hash partition, checked at the end one
    /// partition at a time (a repeated id always falls in the same partition).
    Spill {
        dir: tempfile::TempDir,
        parts: Vec<BufWriter<std::fs::File>>,
    },
}

/// At most this many duplicate ids are named in the report.
const EXAMPLES: usize = 10;

impl DuplicateIds {
    /// Every id in memory.
    pub fn memory() -> DuplicateIds {
        DuplicateIds {
            seen: Seen::Memory(HashSet::new(), 0, Vec::new()),
            next: 0,
        }
    }

    /// Ids spilled under `dir` to `partitions` files.
    pub fn spilled(dir: &Path, partitions: usize) -> Result<DuplicateIds> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix("ids-")
            .tempdir_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        let parts = (0..partitions.max(1))
            .map(|p| {
                let path = tmp.path().join(format!("{p:05}.bin"));
                std::fs::File::create(&path)
                    .map(BufWriter::new)
                    .map_err(|e| Error::io(&path, e))
            })
            .collect::<Result<_>>()?;
        Ok(DuplicateIds {
            seen: Seen::Spill { dir: tmp, parts },
            next: 0,
        })
    }

    /// The hash partitions the ids go to (0: in memory).
    pub fn partitions(&self) -> usize {
        match &self.seen {
            Seen::Memory(..) => 0,
            Seen::Spill { parts, .. } => parts.len(),
        }
    }

    /// The next document's id.
    pub fn push(&mut self, id: &str) -> Result<()> {
        let at = self.next;
        self.next += 1;
        match &mut self.seen {
            Seen::Memory(set, count, examples) => {
                if !set.insert(id.into()) {
                    *count += 1;
                    if examples.len() < EXAMPLES {
                        examples.push(id.to_string());
                    }
                }
            }
            Seen::Spill { dir, parts } => {
                let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
                let p = usize::try_from(h % parts.len() as u64).expect("fits");
                let w = &mut parts[p];
                #[allow(clippy::cast_possible_truncation)] // ids are far below 4 GiB
                let n = id.len() as u32;
                w.write_all(&at.to_le_bytes())
                    .and_then(|()| w.write_all(&n.to_le_bytes()))
                    .and_then(|()| w.write_all(id.as_bytes()))
                    .map_err(|e| Error::io(dir.path(), e))?;
            }
        }
        Ok(())
    }

    /// (documents whose id an earlier one has, the first ten of them in input order).
    pub fn finish(self) -> Result<(u64, Vec<String>)> {
        match self.seen {
            Seen::Memory(_, count, examples) => Ok((count, examples)),
            Seen::Spill { dir, parts } => {
                let (mut count, mut examples) = (0, Vec::new());
                for (p, w) in parts.into_iter().enumerate() {
                    let path = dir.path().join(format!("{p:05}.bin"));
                    w.into_inner()
                        .map_err(|e| Error::io(&path, e.into_error()))?;
                    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    let mut set = HashSet::new();
                    let mut rest = bytes.as_slice();
                    let mut local = Vec::new();
                    while !rest.is_empty() {
                        let (at, tail) = rest.split_at(8);
                        let (n, tail) = tail.split_at(4);
                        let n = u32::from_le_bytes(n.try_into().expect("4")) as usize;
                        let (id, tail) = tail.split_at(n);
                        rest = tail;
                        if !set.insert(id) {
                            count += 1;
                            if local.len() < EXAMPLES {
                                local.push((u64::from_le_bytes(at.try_into().expect("8")), id));
                            }
                        }
                    }
                    examples.extend(
                        local
                            .into_iter()
                            .map(|(at, id)| (at, String::from_utf8_lossy(id).into_owned())),
                    );
                    examples.sort();
                    examples.truncate(EXAMPLES);
                }
                Ok((count, examples.into_iter().map(|(_, id)| id).collect()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_duplicate_ids_equal_the_in_memory_check() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..2000u32)
            .map(|i| format!("doc-{}", i.wrapping_mul(7919) % 1500))
            .collect();
        let mut want = DuplicateIds::memory();
        for id in &ids {
            want.push(id).unwrap();
        }
        let want = want.finish().unwrap();
        assert_eq!(want.0, 500);
        assert_eq!(want.1.len(), EXAMPLES);
        for parts in [1, 3, 64] {
            let mut got = DuplicateIds::spilled(dir.path(), parts).unwrap();
            for id in &ids {
                got.push(id).unwrap();
            }
            assert_eq!(got.finish().unwrap(), want, "{parts} partitions");
        }
        // The partitions are temporary files: nothing is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
