//! Pass 2: re-read one input file and write its documents by decision: kept ones
//! (PII-redacted) to `kept/part-FFFFF-PPPP.jsonl.zst`, rejected ones (with their reason)
//! to `rejected/...`. Shards close once they hold `shard_max_bytes` of JSONL; each is
//! written under a temp name and renamed.

use super::decide::Decision;
use super::doc::doc_id;
use super::state::{ScanFile, WriteStats};
use crate::config::Config;
use crate::filters::pii::Redactor;
use crate::io::{file_stem, tmp_name, InputFile, LineReader};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A sequence of size-capped zstd JSONL shards for one input file.
struct ShardWriter {
    dir: PathBuf,
    file_index: usize,
    level: i32,
    max_bytes: u64,
    part: usize,
    current: Option<(zstd::Encoder<'static, BufWriter<File>>, PathBuf, u64)>,
    written: Vec<String>,
}

impl ShardWriter {
    fn new(dir: &Path, file_index: usize, config: &Config) -> Self {
        ShardWriter {
            dir: dir.to_path_buf(),
            file_index,
            level: config.zstd_level,
            max_bytes: config.shard_max_bytes,
            part: 0,
            current: None,
            written: Vec::new(),
        }
    }

    fn write_line(&mut self, line: &[u8]) -> Result<()> {
        if self.current.is_none() {
            let path = self.dir.join(format!("part-{:05}-{:04}.jsonl.zst", self.file_index, self.part));
            let tmp = tmp_name(&path);
            let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let enc = zstd::Encoder::new(BufWriter::with_capacity(1 << 20, file), self.level)
                .map_err(|e| Error::io(&tmp, e))?;
            self.current = Some((enc, path, 0));
            self.part += 1;
        }
        let (enc, path, bytes) = self.current.as_mut().expect("opened above");
        enc.write_all(line).and_then(|_| enc.write_all(b"\n")).map_err(|e| Error::io(tmp_name(path), e))?;
        *bytes += line.len() as u64 + 1;
        if *bytes >= self.max_bytes {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some((enc, path, _)) = self.current.take() {
            let tmp = tmp_name(&path);
            let buf = enc.finish().map_err(|e| Error::io(&tmp, e))?;
            let file = buf.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            self.written.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        Ok(())
    }
}

/// Remove shards (and temp files) a killed run left for this input file.
pub fn clear_file_outputs(dir: &Path, file_index: usize) -> Result<()> {
    let prefix = format!("part-{file_index:05}-");
    let tmp_prefix = format!(".part-{file_index:05}-");
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) || name.starts_with(&tmp_prefix) {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}

pub struct FileWriter<'a> {
    pub config: &'a Config,
    pub redactor: &'a Redactor,
    pub kept_dir: &'a Path,
    pub rejected_dir: &'a Path,
}

impl FileWriter<'_> {
    pub fn write(
        &self,
        index: usize,
        input: &InputFile,
        scan: &ScanFile,
        decisions: &[Decision],
        mut progress: impl FnMut(u64),
    ) -> Result<WriteStats> {
        clear_file_outputs(self.kept_dir, index)?;
        clear_file_outputs(self.rejected_dir, index)?;
        let mut kept = ShardWriter::new(self.kept_dir, index, self.config);
        let mut rejected = ShardWriter::new(self.rejected_dir, index, self.config);
        let mut stats = WriteStats::default();
        let stem = file_stem(&input.path);
        let changed = |line: u64, why: &str| Error::Input {
            path: input.path.clone(),
            line,
            msg: format!("input changed since it was scanned ({why}); pass --overwrite to start over"),
        };
        let mut reader = LineReader::open(&input.path)?;
        let mut records = scan.records.iter().zip(decisions);
        let mut last_line = 0;
        while let Some(line) = reader.next_line()? {
            last_line = line.number;
            if line.bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Some((rec, decision)) = records.next() else {
                return Err(changed(line.number, "more documents than scanned"));
            };
            if rec.line != line.number || rec.bytes != line.bytes.len() as u64 {
                return Err(changed(line.number, "a line differs"));
            }
            progress(rec.bytes);
            match decision {
                Decision::Keep => {
                    let out = self.kept_line(line.bytes, input, &stem, line.number, &mut stats)?;
                    kept.write_line(&out)?;
                    stats.kept.add(rec.bytes);
                }
                Decision::Reject { reason, detail, duplicate_of, cluster_id } => {
                    let mut obj = if reason == "malformed" {
                        let mut m = Map::new();
                        m.insert("raw".into(), Value::String(String::from_utf8_lossy(line.bytes).into_owned()));
                        m.insert("file".into(), Value::String(input.path.to_string_lossy().into_owned()));
                        m.insert("line".into(), Value::from(line.number));
                        m
                    } else {
                        let mut m = parse_object(line.bytes, input, line.number)?;
                        add_generated_id(&mut m, &stem, line.number);
                        m
                    };
                    obj.insert("reject_reason".into(), Value::String(reason.clone()));
                    if let Some(d) = detail {
                        obj.insert("reject_detail".into(), Value::String(d.clone()));
                    }
                    if let Some(d) = duplicate_of {
                        obj.insert("duplicate_of".into(), Value::String(d.clone()));
                    }
                    if let Some(c) = cluster_id {
                        obj.insert("cluster_id".into(), Value::from(*c));
                    }
                    rejected.write_line(&serde_json::to_vec(&obj).expect("JSON serializes"))?;
                    stats.rejected.entry(reason.clone()).or_default().add(rec.bytes);
                }
            }
        }
        if records.next().is_some() {
            return Err(changed(last_line, "fewer documents than scanned"));
        }
        kept.close()?;
        rejected.close()?;
        stats.kept_shards = kept.written;
        stats.rejected_shards = rejected.written;
        Ok(stats)
    }

    /// A kept document's output line: the input line itself when nothing changes,
    /// else the object with its text redacted and a generated id added.
    fn kept_line(&self, bytes: &[u8], input: &InputFile, stem: &str, line: u64, stats: &mut WriteStats) -> Result<Vec<u8>> {
        let d = super::doc::parse(bytes, stem, line).map_err(|msg| Error::Input {
            path: input.path.clone(),
            line,
            msg: format!("{msg} (on re-read)"),
        })?;
        let (redacted, counts) = self.redactor.redact(&d.text);
        if counts.total() > 0 {
            stats.docs_with_pii += 1;
            stats.pii.add(&counts);
        }
        let redacted = match redacted {
            std::borrow::Cow::Owned(s) => Some(s),
            std::borrow::Cow::Borrowed(_) => None,
        };
        if redacted.is_none() && !d.generated_id {
            return Ok(bytes.to_vec());
        }
        let mut obj = parse_object(bytes, input, line)?;
        if let Some(t) = redacted {
            obj.insert("text".into(), Value::String(t));
        }
        add_generated_id(&mut obj, stem, line);
        Ok(serde_json::to_vec(&obj).expect("JSON serializes"))
    }
}

fn parse_object(bytes: &[u8], input: &InputFile, line: u64) -> Result<Map<String, Value>> {
    serde_json::from_slice(bytes).map_err(|e| Error::Input {
        path: input.path.clone(),
        line,
        msg: format!("bad JSON on re-read: {e}"),
    })
}

fn add_generated_id(obj: &mut Map<String, Value>, stem: &str, line: u64) {
    let (id, generated) = doc_id(obj.get("id"), stem, line);
    if generated {
        obj.insert("id".into(), Value::String(id));
    }
}
