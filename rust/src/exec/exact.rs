//! Exact dedup split by key prefix, so no task holds every key: each scan task writes,
//! per input file and partition, the (record, key, id) of its well-formed documents whose
//! key falls in the partition's prefix range; an exact task per partition replays them in
//! input order through the one-process first-wins index (`dedup::exact::ExactIndex`) and
//! writes its duplicates with the id of their first document; the decide task
//! (`super::decide`) applies them to the scan verdicts, then runs selection.

use super::tasks::{decoded, read_or_unmark, TaskEnv};
use super::{frame, JobPlan};
use crate::dedup::exact::ExactIndex;
use crate::pipeline::state::{ScanFile, ScanVerdict};
use crate::Result;
use std::collections::{BTreeMap, HashMap};

type Parse<T> = std::result::Result<T, String>;

/// The partition of `key`: its high 64 bits scaled to `0..partitions` (a prefix range).
pub fn partition_of(key: u128, partitions: usize) -> usize {
    #[allow(clippy::cast_possible_truncation)] // the product's high half is < partitions
    let p = ((u128::from((key >> 64) as u64) * partitions as u128) >> 64) as usize;
    p
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    #[allow(clippy::cast_possible_truncation)] // ids are far below 4 GiB
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// One file's key entries, per partition: count, then record u32, key u128 and id.
pub fn split_keys(scan: &ScanFile, partitions: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![0u64.to_le_bytes().to_vec(); partitions];
    let mut counts = vec![0u64; partitions];
    for (r, rec) in scan.records.iter().enumerate() {
        if matches!(rec.verdict, ScanVerdict::Malformed { .. }) {
            continue; // out of exact dedup's scope
        }
        let p = partition_of(rec.key, partitions);
        #[allow(clippy::cast_possible_truncation)] // near-dup checks records fit u32 too
        out[p].extend_from_slice(&(r as u32).to_le_bytes());
        out[p].extend_from_slice(&rec.key.to_le_bytes());
        put_str(&mut out[p], &rec.id);
        counts[p] += 1;
    }
    for (payload, n) in out.iter_mut().zip(counts) {
        payload[..8].copy_from_slice(&n.to_le_bytes());
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Parse<&'a [u8]> {
        if self.0.len() < n {
            return Err("truncated payload".into());
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn u32(&mut self) -> Parse<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Parse<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn str(&mut self) -> Parse<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "bad string".into())
    }
}

/// A key entry file: (record, key, id) in record order.
fn decode_keys(b: &[u8]) -> Parse<Vec<(u32, u128, &str)>> {
    let mut r = Reader(b);
    let n = r.u64()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let record = r.u32()?;
        let key = u128::from_le_bytes(r.take(16)?.try_into().expect("16"));
        out.push((record, key, r.str()?));
    }
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(out)
}

/// Exact task `p`: the duplicates among its partition's keys, as `exact-PPPPP.bin`:
/// cluster histogram, then (file, record, id of the first document) per duplicate.
pub fn exact_task(env: &TaskEnv<'_>, p: usize) -> Result<()> {
    let plan = env.plan;
    let mut index = ExactIndex::default();
    // Positions are (file, record): ascending in input order, as the index needs.
    let pos = |file: usize, record: u32| ((file as u64) << 32) | u64::from(record);
    let mut dups: Vec<(u64, u64)> = Vec::new();
    let mut ids: HashMap<u64, String> = HashMap::new();
    // Two passes: duplicates and the positions of their first documents, then the ids
    // of those firsts only (not of every key).
    for pass in 0..2 {
        for file in 0..plan.inputs.len() {
            let task = format!("scan-{:05}", plan.owner(file));
            let path = plan.key_entries_path(p, file);
            let bytes = read_or_unmark(plan, &path, &task)?;
            for (record, key, id) in decoded(plan, &path, &task, decode_keys(&bytes))? {
                let at = pos(file, record);
                if pass == 0 {
                    if let Some(first) = index.first_of(key, at) {
                        dups.push((at, first));
                    }
                } else if let Some(slot) = ids.get_mut(&at) {
                    *slot = id.to_string();
                }
            }
        }
        if pass == 0 {
            ids = dups.iter().map(|&(_, f)| (f, String::new())).collect();
        }
    }
    let (clusters, hist) = index.cluster_stats();
    let mut out = Vec::new();
    out.extend_from_slice(&clusters.to_le_bytes());
    out.extend_from_slice(&(hist.len() as u64).to_le_bytes());
    for (size, n) in &hist {
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&(dups.len() as u64).to_le_bytes());
    for (at, first) in dups {
        out.extend_from_slice(&at.to_le_bytes());
        put_str(&mut out, &ids[&first]);
    }
    frame::write(
        &plan.exact_path(p),
        &plan.job,
        &format!("exact-{p:05}"),
        &out,
    )
}

/// What every exact task found: the clusters and each duplicate's first document's id.
pub struct ExactFound {
    pub clusters: u64,
    pub histogram: BTreeMap<u64, u64>,
    /// (file, record) -> id of the first document with its key.
    pub duplicates: HashMap<(usize, usize), String>,
}

fn decode_found(b: &[u8], into: &mut ExactFound) -> Parse<()> {
    let mut r = Reader(b);
    into.clusters += r.u64()?;
    for _ in 0..r.u64()? {
        let (size, n) = (r.u64()?, r.u64()?);
        *into.histogram.entry(size).or_default() += n;
    }
    for _ in 0..r.u64()? {
        let at = r.u64()?;
        let file = usize::try_from(at >> 32).map_err(|e| e.to_string())?;
        #[allow(clippy::cast_possible_truncation)] // the low 32 bits
        let record = (at & u64::from(u32::MAX)) as usize;
        into.duplicates.insert((file, record), r.str()?.to_string());
    }
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(())
}

/// Read every exact task's output.
pub fn load_found(plan: &JobPlan) -> Result<ExactFound> {
    let mut found = ExactFound {
        clusters: 0,
        histogram: BTreeMap::new(),
        duplicates: HashMap::new(),
    };
    for p in 0..plan.exact_partitions() {
        let task = format!("exact-{p:05}");
        let path = plan.exact_path(p);
        let bytes = read_or_unmark(plan, &path, &task)?;
        decoded(plan, &path, &task, decode_found(&bytes, &mut found))?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::decide::fixtures::{filtered, rec};

    #[test]
    fn partitions_are_prefix_ranges_and_key_entries_round_trip() {
        let mut last = 0;
        for i in 0..1000u128 {
            let p = partition_of(i << 118, 7);
            assert!(p < 7 && p >= last, "{i}: {p}");
            last = p;
        }
        assert_eq!((partition_of(0, 7), partition_of(u128::MAX, 7)), (0, 6));
        let malformed = ScanVerdict::Malformed {
            detail: "bad".into(),
        };
        let scan = ScanFile {
            records: vec![
                rec("a", 5 << 100, &[], ScanVerdict::Keep),
                rec("b", 7, &[], malformed),
                rec("c", u128::MAX, &[], filtered()),
            ],
            ..ScanFile::default()
        };
        let split = split_keys(&scan, 2);
        assert_eq!(decode_keys(&split[0]).unwrap(), [(0, 5 << 100, "a")]);
        assert_eq!(decode_keys(&split[1]).unwrap(), [(2, u128::MAX, "c")]);
        assert!(decode_keys(&split[1][..split[1].len() - 1]).is_err());
    }
}
