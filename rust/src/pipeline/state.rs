//! The job's resumable state under `<output>/.state/`: the job identity (config hash
//! and inputs), one scan record file per input (`scan-NNNNN.bin`), and one done marker
//! per input once its shards are written (`done-NNNNN.json`). Each is written
//! atomically, so a killed job finds only complete units.

use crate::input::InputFile;
use crate::io::{read_all, write_atomic};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// What pass 1 concluded about one document from the document alone.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanVerdict {
    /// Passed every filter.
    Keep,
    /// Rejected by a filter: its reason and the rule that fired.
    Filtered { reason: String, detail: String },
    /// Not a valid document (lenient mode only).
    Malformed { detail: String },
}

/// The compact per-document record of pass 1.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    /// 1-based line number in the input file.
    pub line: u64,
    /// Bytes of the line (without its line ending).
    pub bytes: u64,
    /// xxh3-128 of the normalized text (0 for malformed lines).
    pub key: u128,
    /// The document's id, or the generated `<stem>:<line>`.
    pub id: String,
    pub verdict: ScanVerdict,
    /// Near-duplicate sketch (MinHash signature bytes) when `minhash.enabled`.
    pub sketch: Option<Vec<u8>>,
    /// Scan stages' per-document attributes (scores), by name.
    pub attributes: crate::stage::Attributes,
}

/// Pass 1's result for one input file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanFile {
    /// Size of the input file when it was scanned: a changed input is detected.
    pub input_size: u64,
    pub blank_lines: u64,
    pub records: Vec<ScanRecord>,
}

const MAGIC: &[u8; 8] = b"CPTSCAN\x02";

impl ScanFile {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.records.len() * 48);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.input_size.to_le_bytes());
        b.extend_from_slice(&self.blank_lines.to_le_bytes());
        b.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        for r in &self.records {
            b.extend_from_slice(&r.line.to_le_bytes());
            b.extend_from_slice(&r.bytes.to_le_bytes());
            b.extend_from_slice(&r.key.to_le_bytes());
            put_str(&mut b, &r.id);
            match &r.verdict {
                ScanVerdict::Keep => b.push(0),
                ScanVerdict::Filtered { reason, detail } => {
                    b.push(1);
                    put_str(&mut b, reason);
                    put_str(&mut b, detail);
                }
                ScanVerdict::Malformed { detail } => {
                    b.push(2);
                    put_str(&mut b, detail);
                }
            }
            match &r.sketch {
                None => b.push(0),
                Some(s) => {
                    b.push(1);
                    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    b.extend_from_slice(s);
                }
            }
            b.extend_from_slice(&(r.attributes.len() as u32).to_le_bytes());
            for (name, value) in &r.attributes {
                put_str(&mut b, name);
                b.extend_from_slice(&value.to_le_bytes());
            }
        }
        let sum = xxh3_64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<ScanFile, String> {
        if bytes.len() < MAGIC.len() + 32 || &bytes[..8] != MAGIC {
            return Err("not a scan record file of this version".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if xxh3_64(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
            return Err("checksum mismatch".into());
        }
        let mut r = Cursor { b: &body[8..] };
        let input_size = r.u64()?;
        let blank_lines = r.u64()?;
        let n = r.u64()? as usize;
        let mut records = Vec::with_capacity(n.min(1 << 24));
        for _ in 0..n {
            let line = r.u64()?;
            let bytes = r.u64()?;
            let key = u128::from_le_bytes(r.take(16)?.try_into().unwrap());
            let id = r.str()?;
            let verdict = match r.u8()? {
                0 => ScanVerdict::Keep,
                1 => ScanVerdict::Filtered {
                    reason: r.str()?,
                    detail: r.str()?,
                },
                2 => ScanVerdict::Malformed { detail: r.str()? },
                t => return Err(format!("bad verdict tag {t}")),
            };
            let sketch = match r.u8()? {
                0 => None,
                _ => {
                    let len = r.u32()? as usize;
                    Some(r.take(len)?.to_vec())
                }
            };
            let n_attrs = r.u32()? as usize;
            let mut attributes = Vec::with_capacity(n_attrs.min(1 << 10));
            for _ in 0..n_attrs {
                let name = r.str()?;
                let value = f64::from_le_bytes(r.take(8)?.try_into().unwrap());
                attributes.push((name, value));
            }
            records.push(ScanRecord {
                line,
                bytes,
                key,
                id,
                verdict,
                sketch,
                attributes,
            });
        }
        if !r.b.is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(ScanFile {
            input_size,
            blank_lines,
            records,
        })
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("truncated".into());
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn str(&mut self) -> std::result::Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "bad string".to_string())
    }
}

/// Counts for one reject reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub docs: u64,
    pub bytes: u64,
}

impl Count {
    pub fn add(&mut self, bytes: u64) {
        self.docs += 1;
        self.bytes += bytes;
    }
}

/// What pass 2 wrote for one input file (its done marker).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteStats {
    pub kept: Count,
    pub rejected: std::collections::BTreeMap<String, Count>,
    pub pii: crate::filters::pii::PiiCounts,
    pub docs_with_pii: u64,
    pub kept_shards: Vec<String>,
    pub rejected_shards: Vec<String>,
}

/// Version of the state directory's contents. 2: near-dup sketches hash each word once
/// (format 1 sketches cannot be clustered with them). 3: scan records carry attributes.
/// 4: inputs carry a content fingerprint; generated ids use the job-unique id prefix.
pub const STATE_FORMAT: u32 = 4;

/// The job identity stored in `.state/job.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobIdentity {
    pub format: u32,
    pub config_hash: String,
    /// Each input: path, size and content fingerprint (`InputFile::fingerprint`).
    pub inputs: Vec<(String, u64, String)>,
}

impl JobIdentity {
    pub fn new(config_hash: String, inputs: &[InputFile]) -> Self {
        let inputs = inputs
            .iter()
            .map(|f| {
                (
                    f.path.to_string_lossy().into_owned(),
                    f.size,
                    f.fingerprint.clone(),
                )
            })
            .collect();
        JobIdentity {
            format: STATE_FORMAT,
            config_hash,
            inputs,
        }
    }
}

/// Paths of the state directory.
pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    pub fn new(output: &Path) -> Self {
        StateDir {
            dir: output.join(".state"),
        }
    }
    pub fn job(&self) -> PathBuf {
        self.dir.join("job.json")
    }
    pub fn scan(&self, index: usize) -> PathBuf {
        self.dir.join(format!("scan-{index:05}.bin"))
    }
    pub fn done(&self, index: usize) -> PathBuf {
        self.dir.join(format!("done-{index:05}.json"))
    }

    pub fn load_scan(&self, index: usize, input: &InputFile) -> Result<Option<ScanFile>> {
        let path = self.scan(index);
        if !path.exists() {
            return Ok(None);
        }
        let scan = ScanFile::decode(&read_all(&path)?).map_err(|e| Error::Corrupt {
            path: path.clone(),
            msg: format!("{e}; pass --overwrite to start over"),
        })?;
        if scan.input_size != input.size {
            return Err(Error::Config(format!(
                "{} changed since the interrupted run ({} -> {} bytes); pass --overwrite to start over",
                input.path.display(),
                scan.input_size,
                input.size
            )));
        }
        Ok(Some(scan))
    }

    pub fn save_scan(&self, index: usize, scan: &ScanFile) -> Result<()> {
        write_atomic(&self.scan(index), &scan.encode())
    }

    pub fn load_done(&self, index: usize) -> Result<Option<WriteStats>> {
        let path = self.done(index);
        if !path.exists() {
            return Ok(None);
        }
        let stats = serde_json::from_slice(&read_all(&path)?).map_err(|e| Error::Corrupt {
            path: path.clone(),
            msg: format!("{e}; pass --overwrite to start over"),
        })?;
        Ok(Some(stats))
    }

    pub fn save_done(&self, index: usize, stats: &WriteStats) -> Result<()> {
        write_atomic(
            &self.done(index),
            &serde_json::to_vec_pretty(stats).expect("stats serialize"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_records_round_trip_and_detect_damage() {
        let scan = ScanFile {
            input_size: 99,
            blank_lines: 2,
            records: vec![
                ScanRecord {
                    line: 1,
                    bytes: 10,
                    key: 7 << 100,
                    id: "a".into(),
                    verdict: ScanVerdict::Keep,
                    sketch: None,
                    attributes: vec![("lang_en".into(), 0.75)],
                },
                ScanRecord {
                    line: 3,
                    bytes: 12,
                    key: 5,
                    id: "f:3".into(),
                    verdict: ScanVerdict::Filtered {
                        reason: "length".into(),
                        detail: "words 2 < 50".into(),
                    },
                    sketch: Some(vec![1, 2, 3]),
                    attributes: Vec::new(),
                },
                ScanRecord {
                    line: 4,
                    bytes: 1,
                    key: 0,
                    id: "f:4".into(),
                    verdict: ScanVerdict::Malformed {
                        detail: "bad".into(),
                    },
                    sketch: None,
                    attributes: Vec::new(),
                },
            ],
        };
        let mut bytes = scan.encode();
        assert_eq!(ScanFile::decode(&bytes).unwrap(), scan);
        bytes[20] ^= 1;
        assert!(ScanFile::decode(&bytes).is_err());
        assert!(ScanFile::decode(&bytes[..bytes.len() - 3]).is_err());
    }
}
