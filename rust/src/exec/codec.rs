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

/// Decisions of several files: per file a count, then per record a tag (0 keep, 1 reject)
/// and, for a rejection, reason, detail, duplicate_of and cluster_id.
pub fn encode_decisions(files: &[&[Decision]]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(files.len() as u64).to_le_bytes());
    for f in files {
        b.extend_from_slice(&(f.len() as u64).to_le_bytes());
        for d in *f {
            match d {
                Decision::Keep => b.push(0),
                Decision::Reject(r) => {
                    b.push(1);
                    put_str(&mut b, &r.reason);
                    put_opt_str(&mut b, r.detail.as_deref());
                    put_opt_str(&mut b, r.duplicate_of.as_deref());
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
    }
    b
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
}

pub fn decode_decisions(b: &[u8]) -> Result<Vec<Vec<Decision>>, String> {
    let mut c = Cursor(b);
    let files = c.u64()? as usize;
    let mut out = Vec::with_capacity(files.min(1 << 20));
    for _ in 0..files {
        let n = c.u64()? as usize;
        let mut v = Vec::with_capacity(n.min(1 << 24));
        for _ in 0..n {
            v.push(match c.u8()? {
                0 => Decision::Keep,
                1 => Decision::Reject(Rejection {
                    reason: c.str()?,
                    detail: c.opt_str()?,
                    duplicate_of: c.opt_str()?,
                    cluster_id: match c.u8()? {
                        0 => None,
                        _ => Some(c.u64()?),
                    },
                }),
                t => return Err(format!("bad decision tag {t}")),
            });
        }
        out.push(v);
    }
    if !c.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(out)
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
        let bytes = encode_decisions(&[&a, &b, &[]]);
        assert_eq!(decode_decisions(&bytes).unwrap(), vec![a, b, vec![]]);
        assert!(decode_decisions(&bytes[..bytes.len() - 1]).is_err());
    }
}
