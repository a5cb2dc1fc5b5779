//! Pass 1: stream one input file and compute each document's compact record (bytes,
//! exact-dedup key, filter verdict, and the near-duplicate sketch when enabled).

use super::doc;
use super::state::{ScanFile, ScanRecord, ScanVerdict};
use crate::config::Config;
use crate::dedup::exact;
use crate::filters::{Doc, FilterChain, Verdict};
use crate::io::{file_stem, InputFile, LineReader};
use crate::normalize::normalize;
use crate::{Error, Result};

pub struct Scanner<'a> {
    pub config: &'a Config,
    pub filters: &'a FilterChain,
}

impl Scanner<'_> {
    pub fn scan(&self, input: &InputFile, mut progress: impl FnMut(u64)) -> Result<ScanFile> {
        let stem = file_stem(&input.path);
        let mut reader = LineReader::open(&input.path)?;
        let mut out = ScanFile { input_size: input.size, ..ScanFile::default() };
        while let Some(line) = reader.next_line()? {
            if line.bytes.iter().all(u8::is_ascii_whitespace) {
                out.blank_lines += 1;
                continue;
            }
            let bytes = line.bytes.len() as u64;
            progress(bytes);
            let record = match doc::parse(line.bytes, &stem, line.number) {
                Ok(d) => self.record(&d, line.number, bytes),
                Err(msg) if self.config.lenient => ScanRecord {
                    line: line.number,
                    bytes,
                    key: 0,
                    id: format!("{stem}:{}", line.number),
                    verdict: ScanVerdict::Malformed { detail: msg },
                    sketch: None,
                },
                Err(msg) => {
                    return Err(Error::Input { path: input.path.clone(), line: line.number, msg });
                }
            };
            out.records.push(record);
        }
        Ok(out)
    }

    fn record(&self, d: &doc::ParsedDoc<'_>, line: u64, bytes: u64) -> ScanRecord {
        let normalized = normalize(&d.text);
        let verdict = match self.filters.check(&Doc { text: &d.text, normalized: &normalized }) {
            Verdict::Keep => ScanVerdict::Keep,
            Verdict::Reject { reason, detail } => ScanVerdict::Filtered { reason: reason.to_string(), detail },
        };
        // NEAR-DUP HOOK (pass 1): when `minhash.enabled`, compute the document's MinHash
        // signature from `normalized` with `dedup::minhash` and store its bytes here.
        let sketch = None;
        ScanRecord { line, bytes, key: exact::key(&normalized), id: d.id.clone(), verdict, sketch }
    }
}
