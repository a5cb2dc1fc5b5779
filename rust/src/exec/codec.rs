//! Payloads of the task intermediates (each inside a `super::frame`): the scan records of
//! one input file (the pipeline's own `ScanFile` encoding), the decisions of one scan
//! task's files, and the decide task's report parts.

use crate::pipeline::state::WriteStats;
use crate::report::StageTiming;
use crate::stage::{Decision, Rejection};
use serde::{Deserialize, Serialize};

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            put_str(b, s);
        }
    }
}

/// Decisions of several files, encoded file by file as they are made: a file count, then
/// per file a record count and per record a tag (0 keep, 1 reject) and, for a rejection,
/// reason, detail, duplicate_of and cluster_id. A task holds these bytes (one a kept
/// document) rather than the decoded decisions (about a hundred bytes each).
pub struct DecisionsEncoder {
    b: Vec<u8>,
    files: u64,
}

impl Default for DecisionsEncoder {
    fn default() -> Self {
        DecisionsEncoder {
            b: 0u64.to_le_bytes().to_vec(),
            files: 0,
        }
    }
}

impl DecisionsEncoder {
    /// Append the next file's decisions.
    pub fn file(&mut self, f: &[Decision]) {
        let b = &mut self.b;
        b.extend_from_slice(&(f.len() as u64).to_le_bytes());
        for d in f {
            match d {
                Decision::Keep => b.push(0),
                Decision::Reject(r) => {
                    b.push(1);
                    put_str(b, &r.reason);
                    put_opt_str(b, r.detail.as_deref());
                    put_opt_str(b, r.duplicate_of.as_deref());
                    match r.cluster_id {
                        None => b.push(0),
                        Some(c) => {
                            b.push(1);
                            b.extend_from_slice(&c.to_le_bytes());
                        }
                    }
                }
            }
        }
        self.files += 1;
    }

    /// The payload.
    pub fn finish(mut self) -> Vec<u8> {
        self.b[..8].copy_from_slice(&self.files.to_le_bytes());
        self.b
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated payload".into());
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn str(&mut self) -> Result<String, String> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4")) as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "bad string".into())
    }
    fn opt_str(&mut self) -> Result<Option<String>, String> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.str()?),
        })
    }

    fn file(&mut self) -> Result<Vec<Decision>, String> {
        let n = self.u64()? as usize;
        let mut v = Vec::with_capacity(n.min(1 << 24));
        for _ in 0..n {
            v.push(match self.u8()? {
                0 => Decision::Keep,
                1 => Decision::Reject(Rejection {
                    reason: self.str()?,
                    detail: self.opt_str()?,
                    duplicate_of: self.opt_str()?,
                    cluster_id: match self.u8()? {
                        0 => None,
                        _ => Some(self.u64()?),
                    },
                }),
                t => return Err(format!("bad decision tag {t}")),
            });
        }
        Ok(v)
    }
}

/// A [`DecisionsEncoder`] payload as read back: checked whole when loaded, each file
/// decoded when it is wanted, so a reader holds the encoded bytes and one file's decisions.
pub struct Decisions {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl Decisions {
    pub fn decode(bytes: Vec<u8>) -> Result<Decisions, String> {
        let mut c = Cursor(&bytes);
        let files = c.u64()?;
        let mut starts = Vec::with_capacity(usize::try_from(files).unwrap_or(0).min(1 << 20));
        for _ in 0..files {
            starts.push(bytes.len() - c.0.len());
            c.file()?;
        }
        if !c.0.is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(Decisions { bytes, starts })
    }

    pub fn files(&self) -> usize {
        self.starts.len()
    }

    /// The decisions of file `j` (0-based within the payload).
    pub fn file(&self, j: usize) -> Vec<Decision> {
        Cursor(&self.bytes[self.starts[j]..])
            .file()
            .expect("checked when decoded")
    }
}

/// What the decide task leaves for the finish task's report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecideParts {
    pub sections: Vec<(String, serde_json::Value)>,
    pub summaries: Vec<String>,
    pub timings: Vec<(String, StageTiming)>,
    /// Selection's passes over the scan files (more when its keys exceed the budget).
    #[serde(default)]
    pub select_passes: u64,
}

/// What a write task leaves for the finish task: each of its files' write stats.
pub type WriteParts = Vec<WriteStats>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_round_trip() {
        let a = vec![
            Decision::Keep,
            Decision::Reject(Rejection {
                reason: "near_duplicate".into(),
                detail: None,
                duplicate_of: Some("x".into()),
                cluster_id: Some(7),
            }),
        ];
        let b = vec![Decision::Reject(Rejection {
            detail: Some("words 1 < 50".into()),
            ..Rejection::new("length")
        })];
        let mut enc = DecisionsEncoder::default();
        for f in [&a, &b, &vec![]] {
            enc.file(f);
        }
        let bytes = enc.finish();
        let d = Decisions::decode(bytes.clone()).unwrap();
        assert_eq!(d.files(), 3);
        assert_eq!([d.file(0), d.file(1), d.file(2)], [a, b, vec![]]);
        assert!(Decisions::decode(bytes[..bytes.len() - 1].to_vec()).is_err());
        let mut longer = bytes;
        longer.push(0);
        assert!(Decisions::decode(longer).is_err());
    }
}
