//! Pass 1: stream one input file and compute each document's compact record (bytes,
//! exact-dedup key, scan stages' verdict and attributes, and the near-duplicate sketch
//! when enabled). Each document is analysed once (`crate::analysis`), and every stage
//! reads that one analysis.

use super::doc;
use super::state::{ScanFile, ScanRecord, ScanVerdict};
use crate::analysis::Analysis;
use crate::config::Config;
use crate::dedup::{exact, NearDup};
use crate::input::{is_blank, InputFile, RecordReader};
use crate::stage::{ScanStages, Verdict};
use crate::{Error, Result};
use rayon::prelude::*;

pub struct Scanner<'a> {
    pub config: &'a Config,
    pub stages: &'a ScanStages,
    /// Near-dup sketching, when `minhash.enabled` (one per job, shared by all threads).
    pub near: Option<&'a NearDup>,
    /// Line bytes read before a batch is processed ([`BATCH_BYTES`], or less under a
    /// task's memory budget: [`batch_bytes`]).
    pub batch_bytes: usize,
}

/// Lines are read sequentially and processed in parallel batches of this many bytes
/// (or lines), so one big file still uses every thread; results keep input order.
pub(crate) const BATCH_BYTES: usize = 8 << 20;
pub(crate) const BATCH_LINES: usize = 2048;

/// The batch size under a task's memory budget: a sixteenth of it (a batch's line bytes
/// are held about three times over: the lines, their records or output lines, and the
/// writer's buffers), between 64 KiB and [`BATCH_BYTES`]. Batches change no output.
pub fn batch_bytes(budget: Option<u64>) -> usize {
    budget.map_or(BATCH_BYTES, |b| {
        usize::try_from(b / 16)
            .unwrap_or(BATCH_BYTES)
            .clamp(64 << 10, BATCH_BYTES)
    })
}

impl Scanner<'_> {
    /// Scan one file; `progress` gets the file bytes (compressed) consumed since its last call.
    pub fn scan(&self, input: &InputFile, progress: impl FnMut(u64)) -> Result<ScanFile> {
        self.scan_batches(input, progress, |_, _| Ok(()))
    }

    /// [`Scanner::scan`], handing each batch's records (and the index of its first) to
    /// `batch` as they are made, so a caller can move bulky parts (sketches) out early.
    pub fn scan_batches(
        &self,
        input: &InputFile,
        mut progress: impl FnMut(u64),
        mut batch: impl FnMut(usize, &mut [ScanRecord]) -> Result<()>,
    ) -> Result<ScanFile> {
        let stem = input.id_prefix.as_str();
        let mut reader = RecordReader::open(&input.path)?;
        let mut out = ScanFile {
            input_size: input.size,
            ..ScanFile::default()
        };
        // One buffer of line bytes and one of results, reused batch after batch: no
        // allocation per line, and no fresh pages to fault in for every batch.
        let mut bytes: Vec<u8> = Vec::new();
        let mut lines: Vec<(u64, usize, usize)> = Vec::new();
        let mut results: Vec<Result<ScanRecord>> = Vec::new();
        let mut reported = 0;
        loop {
            let line = reader.next_record()?;
            let end = line.is_none();
            if let Some(line) = line {
                if is_blank(line.bytes) {
                    out.blank_lines += 1;
                } else {
                    let start = bytes.len();
                    bytes.extend_from_slice(line.bytes);
                    lines.push((line.number, start, bytes.len()));
                }
            }
            if end || bytes.len() >= self.batch_bytes || lines.len() >= BATCH_LINES {
                lines
                    .par_iter()
                    .map(|&(number, a, b)| self.line_record(input, stem, number, &bytes[a..b]))
                    .collect_into_vec(&mut results);
                let first = out.records.len();
                for r in results.drain(..) {
                    out.records.push(r?);
                }
                batch(first, &mut out.records[first..])?;
                let consumed = reader.consumed().min(input.size);
                progress(consumed - reported);
                reported = consumed;
                lines.clear();
                bytes.clear();
            }
            if end {
                progress(input.size - reported);
                return Ok(out);
            }
        }
    }

    fn line_record(
        &self,
        input: &InputFile,
        stem: &str,
        number: u64,
        line: &[u8],
    ) -> Result<ScanRecord> {
        let bytes = line.len() as u64;
        match doc::parse(line, &self.config.text_key, stem, number) {
            Ok(d) => Ok(self.record(&d, number, bytes)),
            Err(msg) if self.config.lenient => Ok(ScanRecord {
                line: number,
                bytes,
                key: 0,
                id: format!("{stem}:{number}"),
                verdict: ScanVerdict::Malformed { detail: msg },
                sketch: None,
                attributes: Vec::new(),
            }),
            Err(msg) => Err(Error::Input {
                path: input.path.clone(),
                line: number,
                msg,
            }),
        }
    }

    fn record(&self, d: &doc::ParsedDoc<'_>, line: u64, bytes: u64) -> ScanRecord {
        // Word hashes are made with the near-dup seed, so the sketch reuses them.
        let seed = self
            .near
            .and_then(|nd| nd.hasher().word_seed())
            .unwrap_or(0);
        let analysis = Analysis::new(&d.text, seed);
        let mut attributes = Vec::new();
        let verdict = match self.stages.scan(&analysis, &mut attributes) {
            Verdict::Keep => ScanVerdict::Keep,
            Verdict::Reject { reason, detail } => ScanVerdict::Filtered {
                reason: reason.to_string(),
                detail,
            },
        };
        // Only documents that pass the filters can reach near-dup clustering.
        let sketch = match (&verdict, self.near) {
            (ScanVerdict::Keep, Some(nd)) => {
                Some(nd.sketch_of_words(analysis.normalized(), &analysis.norm_words().hashes))
            }
            _ => None,
        };
        ScanRecord {
            line,
            bytes,
            key: exact::key(analysis.normalized()),
            id: d.id.clone(),
            verdict,
            sketch,
            attributes,
        }
    }
}
