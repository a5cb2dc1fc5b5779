//! The near-dup stage split by band, so no task holds the whole job's sketches:
//!
//! - each scan task moves its documents' sketches out of the scan records into, per input
//!   file, one entry file per band (record, band hash) and, when candidates are checked,
//!   one file of shingle sets;
//! - a band task per band numbers the documents still kept after the decide task (exact
//!   dedup, selection) in input order, exactly as the one-process stage numbers them,
//!   builds its band's table (spilling under the task's memory budget), emits the band's
//!   candidate links and checks them, reading only the shingle sets those links name;
//! - the cluster task merges every band's links, unions them with the one-process code
//!   (`NearDup::union_links`) and writes each scan task's final decisions, streaming one
//!   scan task at a time.
//!
//! The outcome is the one-process stage's, document for document (`tests/exec_tasks.rs`).

use super::codec::{DecideParts, Decisions, DecisionsEncoder};
use super::tasks::{decoded, load_decisions_of, load_scan, read_or_unmark, TaskEnv};
use super::{frame, JobPlan};
use crate::dedup::bandtable::BandTables;
use crate::dedup::extsort::{ExtSort, Record};
use crate::dedup::neardup::{dense_doc, link_members, LeU32s, TableFacts};
use crate::dedup::NearDup;
use crate::pipeline::state::{ScanRecord, ScanVerdict};
use crate::report::StageTiming;
use crate::stage::{Decision, Rejection};
use crate::{Error, Result};
use std::collections::HashMap;

type Parse<T> = std::result::Result<T, String>;
use std::time::Instant;

/// Where a [`SketchSplit`] puts a payload's bytes: an intermediate on disk as the scan
/// goes (`frame::FrameWriter`), or memory.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<()>;
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

impl Sink for frame::FrameWriter {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        frame::FrameWriter::put(self, bytes)
    }
}

/// Moves the sketches out of one file's scan records, batch by batch as the scan makes
/// them, into the payload of each band's entry file (record u32 + band hash u64 per
/// document the scan kept that has shingles) and, when candidates are checked, of the
/// shingle-set file (record u32, set length u32 and the set's bytes per kept document).
pub struct SketchSplit<'a, S> {
    nd: &'a NearDup,
    file: &'a str,
    /// One sink per band, then the sets' sink when checked.
    sinks: Vec<S>,
}

/// Which payload a [`SketchSplit`] sink receives.
pub enum Payload {
    /// Band `0`'s entries.
    Band(usize),
    /// The shingle sets (only when the job checks candidates).
    Sets,
}

impl<'a, S: Sink> SketchSplit<'a, S> {
    /// `open` makes the sink of each payload the job has.
    pub fn new(
        nd: &'a NearDup,
        file: &'a str,
        mut open: impl FnMut(Payload) -> Result<S>,
    ) -> Result<Self> {
        let mut sinks = (0..nd.bands())
            .map(|b| open(Payload::Band(b)))
            .collect::<Result<Vec<_>>>()?;
        if nd.check() != crate::dedup::neardup::Check::None {
            sinks.push(open(Payload::Sets)?);
        }
        Ok(SketchSplit { nd, file, sinks })
    }

    /// Take the sketch of record `r` of the file.
    pub fn add(&mut self, r: usize, rec: &mut ScanRecord) -> Result<()> {
        let sketch = rec.sketch.take();
        if rec.verdict != ScanVerdict::Keep {
            return Ok(());
        }
        let record = u32::try_from(r).map_err(|_| {
            Error::Config(format!(
                "{}: more than 2^32 documents in one input file",
                self.file
            ))
        })?;
        let Some(sketch) = sketch else {
            return Err(Error::Config(format!(
                "{}: line {}: kept by the scan but has no near-dup sketch",
                self.file, rec.line
            )));
        };
        let (hashes, set) = self.nd.sketch_parts(&sketch, r as u64)?;
        let bands = self.nd.bands();
        if let Some(hashes) = hashes {
            for (sink, h) in self.sinks.iter_mut().zip(hashes.chunks_exact(8)) {
                sink.put(&record.to_le_bytes())?;
                sink.put(h)?;
            }
        }
        if let Some(sets) = self.sinks.get_mut(bands) {
            sets.put(&record.to_le_bytes())?;
            #[allow(clippy::cast_possible_truncation)] // a set of u32s from one sketch
            sets.put(&((set.len() / 4) as u32).to_le_bytes())?;
            sets.put(set)?;
        }
        Ok(())
    }

    /// The sinks, every record added.
    pub fn finish(self) -> Vec<S> {
        self.sinks
    }
}

fn u32_at(b: &[u8], at: usize) -> Parse<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
        .ok_or_else(|| "truncated payload".to_string())
}

fn u64_at(b: &[u8], at: usize) -> Parse<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .ok_or_else(|| "truncated payload".to_string())
}

/// Entries of a band entry file: (record, band hash), records ascending.
fn decode_entries(b: &[u8]) -> Parse<Vec<(u32, u64)>> {
    if !b.len().is_multiple_of(12) {
        return Err(format!("{} bytes are not whole 12-byte entries", b.len()));
    }
    (0..b.len() / 12)
        .map(|i| Ok((u32_at(b, 12 * i)?, u64_at(b, 4 + 12 * i)?)))
        .collect()
}

/// The shingle sets of a set file: (record, byte range of its set in `b`).
fn decode_sets(b: &[u8]) -> Parse<Vec<(u32, std::ops::Range<usize>)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let record = u32_at(b, at)?;
        let len = 4 * u32_at(b, at + 4)? as usize;
        let range = at + 8..at + 8 + len;
        if range.end > b.len() {
            return Err("truncated shingle set".into());
        }
        out.push((record, range));
        at += 8 + len;
    }
    Ok(out)
}

/// The decisions before near-dup of scan task `k`'s files (the decide task's output).
pub fn load_pre(plan: &JobPlan, k: usize) -> Result<Decisions> {
    load_decisions_of(plan, k, &plan.pre_path(k), "decide")
}

/// What [`for_each_candidate`] meets, in input order.
enum Visit {
    /// Input file `0` starts.
    File(usize),
    /// A document still kept before near-dup: (dense number, file, record). Dense numbers
    /// count these documents from 0, as the one-process stage numbers them.
    Doc(u32, usize, usize),
}

/// Visit every input file and every document still kept before near-dup, in input order;
/// returns how many documents there are.
fn for_each_candidate(plan: &JobPlan, mut f: impl FnMut(Visit) -> Result<()>) -> Result<u64> {
    let mut dense = 0usize;
    for k in 0..plan.tasks() {
        let pre = load_pre(plan, k)?;
        for (j, i) in plan.groups[k].clone().enumerate() {
            f(Visit::File(i))?;
            for (r, d) in pre.file(j).iter().enumerate() {
                if *d == Decision::Keep {
                    f(Visit::Doc(dense_doc(dense)?, i, r))?;
                    dense += 1;
                }
            }
        }
    }
    Ok(dense as u64)
}

/// Band task `b`: its band's candidate links among the documents kept before near-dup,
/// checked, as `band-BBBBB.bin`. Returns the number of table runs spilled and of passes
/// over the shingle-set files.
pub fn band_task(env: &TaskEnv<'_>, b: usize) -> Result<(u64, u64)> {
    let (config, plan) = (env.config, env.plan);
    let nd = NearDup::new(&config.minhash)?;
    // Half the task's budget for band entries (12 bytes a document); the rest is the
    // decisions and entry file of one scan task, and the links.
    let budget = plan
        .mem_budget()?
        .map(|m| m / 2)
        .or(config.minhash.mem_limit.map(|m| m.0));
    let mut tables = BandTables::new(1, budget, &plan.dir());
    let mut entries: Vec<(u32, u64)> = Vec::new();
    let mut next = 0;
    let mut empty = 0u64;
    let owner = |i: usize| format!("scan-{:05}", plan.owner(i));
    let docs = for_each_candidate(plan, |visit| match visit {
        Visit::File(i) => {
            let path = plan.band_entries_path(b, i);
            let bytes = read_or_unmark(plan, &path, &owner(i))?;
            entries = decoded(plan, &path, &owner(i), decode_entries(&bytes))?;
            next = 0;
            Ok(())
        }
        Visit::Doc(doc, _, r) => {
            // Entries of documents removed before near-dup are passed over.
            while entries.get(next).is_some_and(|e| (e.0 as usize) < r) {
                next += 1;
            }
            match entries.get(next) {
                Some(&(rec, hash)) if rec as usize == r => {
                    next += 1;
                    tables.push(doc, std::iter::once(hash))
                }
                _ => {
                    empty += 1;
                    Ok(())
                }
            }
        }
    })?;
    let facts = TableFacts {
        peak_bytes: tables.peak_bytes(),
        spilled: tables.spilled(),
        spill_runs: tables.spill_runs() as u64,
    };
    let checked = nd.check() != crate::dedup::neardup::Check::None;
    let links = env.pool.install(|| tables.links(checked))?;
    let (accepted, set_passes) = if checked {
        // The tables are gone: a quarter of the budget for the earlier documents' sets,
        // a sixteenth for the later ones streaming past (see `check_links`).
        let budget = plan.mem_budget()?;
        check_links(
            env,
            &nd,
            &links,
            budget.map(|m| m / 4),
            budget.map(|m| m / 16),
        )?
    } else {
        (vec![true; links.len()], 0)
    };
    let mut out = Vec::with_capacity(48 + 9 * links.len());
    for v in [docs, empty, facts.peak_bytes, facts.spill_runs] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(u8::from(facts.spilled));
    out.extend_from_slice(&(links.len() as u64).to_le_bytes());
    for (&(a, b), ok) in links.iter().zip(accepted) {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        out.push(u8::from(ok));
    }
    frame::write(&plan.band_path(b), &plan.job, &format!("band-{b:05}"), &out)?;
    Ok((facts.spill_runs, set_passes))
}

/// Shingle sets of some documents, in dense order, in one buffer.
#[derive(Default)]
struct SetChunk {
    docs: Vec<u32>,
    ends: Vec<usize>,
    bytes: Vec<u8>,
}

impl SetChunk {
    fn get(&self, doc: u32) -> Option<LeU32s<'_>> {
        let i = self.docs.binary_search(&doc).ok()?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(LeU32s::new(&self.bytes[start..self.ends[i]]))
    }

    fn last(&self) -> u32 {
        *self.docs.last().expect("a chunk is never empty")
    }

    fn push(&mut self, doc: u32, set: &[u8]) {
        self.docs.push(doc);
        self.bytes.extend_from_slice(set);
        self.ends.push(self.bytes.len());
    }

    /// Empty, keeping the buffers.
    fn clear(&mut self) {
        self.docs.clear();
        self.ends.clear();
        self.bytes.clear();
    }
}

/// One pass over the shingle-set files: the sets of `wanted` (sorted dense docs), handed
/// to `f` in chunks of at most `max_bytes` (or one set, if bigger; all at once without a
/// limit). A set file is read only when it holds a wanted document, and one at a time.
fn for_each_set_chunk(
    plan: &JobPlan,
    wanted: &[u32],
    max_bytes: Option<u64>,
    mut f: impl FnMut(&SetChunk) -> Result<()>,
) -> Result<()> {
    let owner = |i: usize| format!("scan-{:05}", plan.owner(i));
    let mut chunk = SetChunk::default();
    if let Some(b) = max_bytes {
        chunk.bytes.reserve(usize::try_from(b).unwrap_or(0));
    }
    // The set file being read: its input file, bytes, and (record, range) by record.
    type SetFile = (usize, Vec<u8>, Vec<(u32, std::ops::Range<usize>)>);
    let mut file: Option<SetFile> = None;
    let mut m = 0;
    for_each_candidate(plan, |visit| {
        let Visit::Doc(doc, i, r) = visit else {
            return Ok(());
        };
        if wanted.get(m) != Some(&doc) {
            return Ok(());
        }
        if file.as_ref().is_none_or(|f| f.0 != i) {
            file = None; // the last file's bytes go before the next one's are read
            let (path, task) = (plan.sets_path(i), owner(i));
            let bytes = read_or_unmark(plan, &path, &task)?;
            let index = decoded(plan, &path, &task, decode_sets(&bytes))?;
            file = Some((i, bytes, index));
        }
        let (_, bytes, index) = file.as_ref().expect("loaded above");
        #[allow(clippy::cast_possible_truncation)] // records of one file fit u32
        let at = index
            .binary_search_by_key(&(r as u32), |e| e.0)
            .map_err(|_| {
                plan.unmark(&owner(i));
                Error::Intermediate {
                    path: plan.sets_path(i),
                    task: owner(i),
                    msg: format!("no shingle set for record {r}"),
                }
            })?;
        let set = &bytes[index[at].1.clone()];
        // A full chunk goes to `f` before it would outgrow its limit, and without this
        // set file: `f` may read others (it is read again for the next set wanted).
        if max_bytes.is_some_and(|b| (chunk.bytes.len() + set.len()) as u64 > b)
            && !chunk.docs.is_empty()
        {
            let set = set.to_vec();
            file = None;
            f(&chunk)?;
            chunk.clear();
            chunk.push(doc, &set);
        } else {
            chunk.push(doc, set);
        }
        m += 1;
        Ok(())
    })?;
    drop(file);
    if !chunk.docs.is_empty() {
        f(&chunk)?;
    }
    Ok(())
}

/// Whether each of `links` (sorted) passes the check, and the passes made over the set
/// files. The earlier documents' sets are held in chunks of about `outer` bytes; links
/// with both ends in a chunk are checked from it, and for the rest a second pass streams
/// the later ends' sets by in chunks of about `inner` bytes. So one pass in all when every
/// set fits (always without a budget), else one more per chunk; the outcome is the same.
fn check_links(
    env: &TaskEnv<'_>,
    nd: &NearDup,
    links: &[(u32, u32)],
    outer: Option<u64>,
    inner: Option<u64>,
) -> Result<(Vec<bool>, u64)> {
    if links.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let plan = env.plan;
    let mut members: Vec<u32> = links.iter().flat_map(|&(a, b)| [a, b]).collect();
    members.sort_unstable();
    members.dedup();
    let mut accepted = vec![false; links.len()];
    let mut passes = 1;
    let mut check = |ids: &[usize], near: &SetChunk, far: Option<&SetChunk>| {
        let pairs: Vec<(u32, u32)> = ids.iter().map(|&i| links[i]).collect();
        let set = |d| {
            near.get(d)
                .or_else(|| far.and_then(|f| f.get(d)))
                .expect("a link's ends are loaded")
        };
        let ok = env.pool.install(|| nd.check_links(&pairs, set));
        for (&i, ok) in ids.iter().zip(ok) {
            accepted[i] = ok;
        }
    };
    for_each_set_chunk(plan, &members, outer, |near| {
        // The links whose earlier end is in this chunk: a run of the sorted links.
        let from = links.partition_point(|l| l.0 < near.docs[0]);
        let to = links.partition_point(|l| l.0 <= near.last());
        let (within, beyond): (Vec<usize>, Vec<usize>) =
            (from..to).partition(|&i| links[i].1 <= near.last());
        check(&within, near, None);
        if beyond.is_empty() {
            return Ok(());
        }
        passes += 1;
        // By later end, so each chunk of later sets checks a run of them.
        let mut beyond = beyond;
        beyond.sort_by_key(|&i| links[i].1);
        let mut later: Vec<u32> = beyond.iter().map(|&i| links[i].1).collect();
        later.dedup();
        for_each_set_chunk(plan, &later, inner, |far| {
            let from = beyond.partition_point(|&i| links[i].1 < far.docs[0]);
            let to = beyond.partition_point(|&i| links[i].1 <= far.last());
            check(&beyond[from..to], near, Some(far));
            Ok(())
        })
    })?;
    Ok((accepted, passes))
}

/// A band task's counts, read before its links.
struct BandHead {
    docs: u64,
    empty: u64,
    facts: TableFacts,
}

const BAND_HEAD: usize = 41;
const LINK_BYTES: usize = 9;

fn decode_band_head(b: &[u8]) -> Parse<BandHead> {
    let links = usize::try_from(u64_at(b, 33)?).map_err(|e| e.to_string())?;
    if b.len() != BAND_HEAD + LINK_BYTES * links {
        return Err(format!("{links} links do not fill {} bytes", b.len()));
    }
    Ok(BandHead {
        docs: u64_at(b, 0)?,
        empty: u64_at(b, 8)?,
        facts: TableFacts {
            peak_bytes: u64_at(b, 16)?,
            spill_runs: u64_at(b, 24)?,
            spilled: b[32] != 0,
        },
    })
}

/// A candidate link as the cluster task sorts it: by later document, then earlier, the
/// order the union meets them in; `ok` whether it passed the check (the same in every
/// band that found it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Link {
    later: u32,
    earlier: u32,
    ok: bool,
}

impl Record for Link {
    const BYTES: usize = LINK_BYTES;
    /// As in a band file: earlier, later, ok.
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.earlier.to_le_bytes());
        out.extend_from_slice(&self.later.to_le_bytes());
        out.push(u8::from(self.ok));
    }
    fn get(b: &[u8]) -> Self {
        let u = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Link {
            later: u(4),
            earlier: u(0),
            ok: b[8] != 0,
        }
    }
}

/// The merged links, each pair once (a pair found by several bands is one candidate).
fn distinct(links: &ExtSort<Link>) -> Result<impl Iterator<Item = Result<Link>> + '_> {
    let mut last = None;
    Ok(links.merged()?.filter(move |l| match l {
        Ok(l) if last == Some((l.later, l.earlier)) => false,
        Ok(l) => {
            last = Some((l.later, l.earlier));
            true
        }
        Err(_) => true,
    }))
}

/// The cluster task: every band's links merged and unioned; each scan task's decisions
/// (`decisions-KKKKK.bin`) and the stage's report part (`cluster.bin`). The links are
/// sorted externally under a quarter of the task's budget (spilled runs, one k-way
/// merge, read twice: once for the members, once for the union), so what stays in memory
/// grows with the linked documents only (union-find 20 bytes each, removed documents 16
/// bytes and their kept documents' ids) plus one band file and one scan file at a time.
/// Returns the number of runs spilled.
pub fn cluster_task(env: &TaskEnv<'_>) -> Result<u64> {
    let (config, plan) = (env.config, env.plan);
    let started = Instant::now();
    let nd = NearDup::new(&config.minhash)?;
    let budget = plan.mem_budget()?.map(|m| m / 4);
    let mut links: ExtSort<Link> = ExtSort::new(budget, &plan.dir());
    let mut facts = TableFacts::default();
    let mut counts = None;
    for b in 0..plan.bands {
        let task = format!("band-{b:05}");
        let path = plan.band_path(b);
        let bytes = read_or_unmark(plan, &path, &task)?;
        let head = decoded(plan, &path, &task, decode_band_head(&bytes))?;
        if *counts.get_or_insert((head.docs, head.empty)) != (head.docs, head.empty) {
            return decoded(
                plan,
                &path,
                &task,
                Err("counts differ from band 0's".into()),
            );
        }
        facts.peak_bytes += head.facts.peak_bytes;
        facts.spilled |= head.facts.spilled;
        facts.spill_runs += head.facts.spill_runs;
        for l in bytes[BAND_HEAD..].chunks_exact(LINK_BYTES) {
            links.push(Link::get(l))?;
        }
    }
    links.finish();
    let (docs, empty) = counts.unwrap_or_default();
    let (mut candidates, mut verified) = (0u64, 0u64);
    for l in distinct(&links)? {
        candidates += 1;
        verified += u64::from(l?.ok);
    }
    let accepted = || -> Result<_> {
        Ok(distinct(&links)?.filter_map(|l| match l {
            Ok(l) if !l.ok => None,
            Ok(l) => Some(Ok((l.earlier, l.later))),
            Err(e) => Some(Err(e)),
        }))
    };
    let members = link_members(accepted()?)?;
    let clustering = nd.union_ordered(&members, accepted()?)?;
    drop(members);
    let spill_runs = links.spill_runs();
    drop(links);
    let stats = nd.stats_of(docs, empty, candidates, verified, &clustering, facts);
    let mut kept_ids: HashMap<u32, String> = clustering
        .duplicates
        .iter()
        .map(|d| (d.2, String::new()))
        .collect();
    let mut dups = clustering.duplicates.iter().peekable();
    let (mut bytes, mut dense) = (0u64, 0usize);
    for k in 0..plan.tasks() {
        let pre = load_pre(plan, k)?;
        let mut out = DecisionsEncoder::default();
        for (j, i) in plan.groups[k].clone().enumerate() {
            let scan = load_scan(plan, i)?;
            let mut decisions = pre.file(j);
            for (r, d) in decisions.iter_mut().enumerate() {
                if *d != Decision::Keep {
                    continue;
                }
                let doc = dense_doc(dense)?;
                dense += 1;
                bytes += scan.records[r].bytes;
                if let Some(id) = kept_ids.get_mut(&doc) {
                    id.clone_from(&scan.records[r].id);
                }
                if let Some(&(_, cluster, kept)) = dups.next_if(|x| x.0 == doc) {
                    let mut rej = Rejection::new("near_duplicate");
                    rej.duplicate_of = Some(kept_ids[&kept].clone());
                    rej.cluster_id = Some(cluster);
                    *d = Decision::Reject(rej);
                }
            }
            out.file(&decisions);
        }
        frame::write(&plan.decisions_path(k), &plan.job, "cluster", &out.finish())?;
    }
    let ((key, section), summary) = crate::pipeline::near::report_parts(&nd, docs, stats);
    let secs = started.elapsed().as_secs_f64();
    let parts = DecideParts {
        sections: vec![(key.to_string(), section)],
        summaries: vec![summary],
        timings: vec![(
            crate::pipeline::near::STAGE.name.to_string(),
            StageTiming::new(secs, docs, bytes),
        )],
        ..DecideParts::default()
    };
    let json = serde_json::to_vec(&parts).expect("near parts serialize");
    frame::write(&plan.cluster_path(), &plan.job, "cluster", &json)?;
    Ok(spill_runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::MinHashConfig;
    use crate::pipeline::decide::fixtures::{filtered, rec};
    use crate::pipeline::state::ScanFile;

    /// Take the sketches out of a whole file's scan records into memory ([`SketchSplit`]):
    /// each band's payload, then the sets' when checked.
    fn split_sketches(nd: &NearDup, file: &str, scan: &mut ScanFile) -> Result<Vec<Vec<u8>>> {
        let mut split = SketchSplit::new(nd, file, |_| Ok(Vec::new()))?;
        for (r, rec) in scan.records.iter_mut().enumerate() {
            split.add(r, rec)?;
        }
        Ok(split.finish())
    }

    #[test]
    fn sketches_move_to_band_and_set_payloads() {
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let text = "the quick brown fox jumps over the lazy dog again and again";
        let with = |id: &str, t: &str, v: ScanVerdict| {
            let mut r = rec(id, 0, &[], v);
            r.sketch = Some(nd.sketch(t));
            r
        };
        let mut scan = ScanFile {
            records: vec![
                with("a", text, ScanVerdict::Keep),
                with("b", text, filtered()),
                with("c", "", ScanVerdict::Keep),
            ],
            ..ScanFile::default()
        };
        let parts = split_sketches(&nd, "f", &mut scan).unwrap();
        assert!(scan.records.iter().all(|r| r.sketch.is_none()));
        assert_eq!(parts.len(), nd.bands() + 1);
        let sketch = nd.sketch(text);
        let (hashes, _) = nd.sketch_parts(&sketch, 0).unwrap();
        let first = u64::from_le_bytes(hashes.unwrap()[..8].try_into().unwrap());
        assert_eq!(decode_entries(&parts[0]).unwrap(), [(0, first)]);
        let sets = decode_sets(&parts[nd.bands()]).unwrap();
        assert_eq!(sets.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 2]);
        assert!(sets[1].1.is_empty() && !sets[0].1.is_empty());
        assert!(decode_entries(&parts[0][..10]).is_err());
        assert!(decode_sets(&parts[nd.bands()][..10]).is_err());

        // A kept document without a sketch is named, not skipped.
        let mut bad = ScanFile {
            records: vec![rec("d", 0, &[], ScanVerdict::Keep)],
            ..ScanFile::default()
        };
        let err = split_sketches(&nd, "f.jsonl", &mut bad).unwrap_err();
        assert!(err.to_string().contains("f.jsonl: line 1"), "{err}");
    }
}
