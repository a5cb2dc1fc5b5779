//! Pass 2: re-read one input file and write its documents by decision: kept ones, after
//! the write stages (`crate::stage::WriteStage`: PII redaction edits the text, tokenize
//! takes it), to `kept/part-FFFFF-PPPP.jsonl.zst`, rejected ones (with their reason) to
//! `rejected/...`; when the job computes attributes, each kept document's attribute line
//! goes to `attributes/` in a file of its kept shard's name, in step (FORMAT.md). Shards
//! close once they hold `shard_max_bytes` of JSONL; each is written under a temp name and
//! renamed.

use super::scan::{BATCH_BYTES, BATCH_LINES};
use super::state::{ScanFile, ScanRecord, WriteStats};
use crate::config::Config;
use crate::input::{is_blank, InputFile, RecordReader};
use crate::io::tmp_name;
use crate::stage::{Decision, DocPart, FileStage, Rejection, WriteStage};
use crate::{Error, Result};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

type Encoder = zstd::Encoder<'static, BufWriter<File>>;

/// A zstd file under its temp name.
fn open_zst(path: &Path, level: i32) -> Result<Encoder> {
    let tmp = tmp_name(path);
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    // zstd hands its output on in blocks of about 128 KiB: a small buffer is enough, and
    // a write task holds up to three of these streams at once.
    let mut enc = zstd::Encoder::new(BufWriter::with_capacity(256 << 10, file), level)
        .map_err(|e| Error::io(&tmp, e))?;
    // A content checksum per frame: the input layer verifies it on every re-read.
    enc.include_checksum(true).map_err(|e| Error::io(&tmp, e))?;
    Ok(enc)
}

/// Finish a zstd file and rename it from its temp name.
fn finish_zst(enc: Encoder, path: &Path) -> Result<()> {
    let tmp = tmp_name(path);
    let buf = enc.finish().map_err(|e| Error::io(&tmp, e))?;
    let file = buf
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn write_ln(enc: &mut Encoder, path: &Path, line: &[u8]) -> Result<()> {
    enc.write_all(line)
        .and_then(|()| enc.write_all(b"\n"))
        .map_err(|e| Error::io(tmp_name(path), e))
}

/// A sequence of size-capped zstd JSONL shards for one input file, and optionally the
/// attribute files beside them (same names, one line per document, opened and closed in
/// step).
struct ShardWriter {
    dir: PathBuf,
    file_index: usize,
    level: i32,
    max_bytes: u64,
    part: usize,
    current: Option<(Encoder, PathBuf, u64)>,
    written: Vec<String>,
    attrs_dir: Option<PathBuf>,
    attrs: Option<(Encoder, PathBuf)>,
}

impl ShardWriter {
    fn new(dir: &Path, file_index: usize, config: &Config, attrs_dir: Option<&Path>) -> Self {
        ShardWriter {
            dir: dir.to_path_buf(),
            file_index,
            level: config.zstd_level,
            max_bytes: config.shard_max_bytes,
            part: 0,
            current: None,
            written: Vec::new(),
            attrs_dir: attrs_dir.map(Path::to_path_buf),
            attrs: None,
        }
    }

    /// Write one document line, and its attribute line when this writer keeps them.
    fn write_line(&mut self, line: &[u8], attr_line: Option<&[u8]>) -> Result<()> {
        if self.current.is_none() {
            let name = format!("part-{:05}-{:04}.jsonl.zst", self.file_index, self.part);
            let path = self.dir.join(&name);
            self.current = Some((open_zst(&path, self.level)?, path, 0));
            if let Some(d) = &self.attrs_dir {
                let apath = d.join(&name);
                self.attrs = Some((open_zst(&apath, self.level)?, apath));
            }
            self.part += 1;
        }
        if let (Some((enc, path)), Some(a)) = (self.attrs.as_mut(), attr_line) {
            write_ln(enc, path, a)?;
        }
        let (enc, path, bytes) = self.current.as_mut().expect("opened above");
        write_ln(enc, path, line)?;
        *bytes += line.len() as u64 + 1;
        if *bytes >= self.max_bytes {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some((enc, path)) = self.attrs.take() {
            finish_zst(enc, &path)?;
        }
        if let Some((enc, path, _)) = self.current.take() {
            finish_zst(enc, &path)?;
            self.written
                .push(path.file_name().unwrap().to_string_lossy().into_owned());
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
    /// The job's write stages, in registry order.
    pub stages: &'a [Box<dyn WriteStage>],
    pub kept_dir: PathBuf,
    pub rejected_dir: PathBuf,
    /// Where kept documents' attribute lines go; `None` when the job computes none.
    pub attributes_dir: Option<PathBuf>,
    /// Line bytes per parallel batch (`scan::batch_bytes` under a task's budget).
    pub batch_bytes: usize,
}

impl<'a> FileWriter<'a> {
    /// The writer of job `output`: `kept/`, `rejected/`, and `attributes/` (created) when the
    /// job's scan stages compute attributes.
    pub fn for_output(
        config: &'a Config,
        stages: &'a [Box<dyn WriteStage>],
        output: &Path,
    ) -> Result<Self> {
        let attributes_dir = crate::select::scored(config).then(|| output.join("attributes"));
        if let Some(d) = &attributes_dir {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        Ok(FileWriter {
            config,
            stages,
            kept_dir: output.join("kept"),
            rejected_dir: output.join("rejected"),
            attributes_dir,
            batch_bytes: BATCH_BYTES,
        })
    }

    pub fn write(
        &self,
        index: usize,
        input: &InputFile,
        scan: &ScanFile,
        decisions: &[Decision],
        mut progress: impl FnMut(u64),
    ) -> Result<WriteStats> {
        clear_file_outputs(&self.kept_dir, index)?;
        clear_file_outputs(&self.rejected_dir, index)?;
        if let Some(d) = &self.attributes_dir {
            clear_file_outputs(d, index)?;
        }
        let mut files: Vec<Box<dyn FileStage>> = self
            .stages
            .iter()
            .map(|s| s.open(index))
            .collect::<Result<_>>()?;
        let mut kept = ShardWriter::new(
            &self.kept_dir,
            index,
            self.config,
            self.attributes_dir.as_deref(),
        );
        let mut rejected = ShardWriter::new(&self.rejected_dir, index, self.config, None);
        let mut stats = WriteStats::default();
        let stem = input.id_prefix.as_str();
        let changed = |line: u64, why: &str| Error::Input {
            path: input.path.clone(),
            line,
            msg: format!(
                "input changed since it was scanned ({why}); pass --overwrite to start over"
            ),
        };
        let mut reader = RecordReader::open(&input.path)?;
        let mut records = scan.records.iter().zip(decisions);
        let mut last_line = 0;
        let mut batch: Vec<(u64, Vec<u8>, &Decision, &ScanRecord)> = Vec::new();
        let mut batch_bytes = 0;
        loop {
            let line = reader.next_record()?;
            let end = line.is_none();
            if let Some(line) = line {
                last_line = line.number;
                if !is_blank(line.bytes) {
                    let Some((rec, decision)) = records.next() else {
                        return Err(changed(line.number, "more documents than scanned"));
                    };
                    if rec.line != line.number || rec.bytes != line.bytes.len() as u64 {
                        return Err(changed(line.number, "a line differs"));
                    }
                    batch_bytes += line.bytes.len();
                    batch.push((line.number, line.bytes.to_vec(), decision, rec));
                }
            }
            if end || batch_bytes >= self.batch_bytes || batch.len() >= BATCH_LINES {
                let outs: Vec<Result<Output>> = batch
                    .par_iter()
                    .map(|(number, bytes, decision, _)| {
                        self.output(input, stem, *number, bytes, decision)
                    })
                    .collect();
                for (out, (_, bytes, _, rec)) in outs.into_iter().zip(&batch) {
                    let n = bytes.len() as u64;
                    match out? {
                        Output::Kept { line, text, parts } => {
                            let attrs = self
                                .attributes_dir
                                .as_ref()
                                .map(|_| crate::select::attrfile::line(&rec.id, &rec.attributes));
                            kept.write_line(&line, attrs.as_deref())?;
                            stats.kept.add(n);
                            for (file, part) in files.iter_mut().zip(parts) {
                                file.add(&text, part)?;
                            }
                        }
                        Output::Rejected(line, reason) => {
                            rejected.write_line(&line, None)?;
                            stats.rejected.entry(reason).or_default().add(n);
                        }
                    }
                    progress(n);
                }
                batch.clear();
                batch_bytes = 0;
            }
            if end {
                break;
            }
        }
        if records.next().is_some() {
            return Err(changed(last_line, "fewer documents than scanned"));
        }
        kept.close()?;
        rejected.close()?;
        for file in files {
            file.finish(&mut stats)?;
        }
        stats.kept_shards = kept.written;
        stats.rejected_shards = rejected.written;
        Ok(stats)
    }

    /// The output line of one document, by its decision.
    fn output<'b>(
        &self,
        input: &InputFile,
        stem: &str,
        number: u64,
        bytes: &'b [u8],
        decision: &Decision,
    ) -> Result<Output<'b>> {
        let Decision::Reject(Rejection {
            reason,
            detail,
            duplicate_of,
            cluster_id,
        }) = decision
        else {
            return self.kept_line(bytes, input, stem, number);
        };
        if reason == "malformed" {
            let mut m = Map::new();
            m.insert(
                "raw".into(),
                Value::String(String::from_utf8_lossy(bytes).into_owned()),
            );
            m.insert(
                "file".into(),
                Value::String(input.path.to_string_lossy().into_owned()),
            );
            m.insert("line".into(), Value::from(number));
            m.insert("reject_reason".into(), Value::String(reason.clone()));
            if let Some(d) = detail {
                m.insert("reject_detail".into(), Value::String(d.clone()));
            }
            return Ok(Output::Rejected(
                serde_json::to_vec(&m).expect("JSON serializes"),
                reason.clone(),
            ));
        }
        let d = reparse(bytes, &self.config.text_key, input, stem, number)?;
        let mut extra: Vec<(&str, String)> = vec![("reject_reason", json_string(reason))];
        if let Some(d) = detail {
            extra.push(("reject_detail", json_string(d)));
        }
        if let Some(d) = duplicate_of {
            extra.push(("duplicate_of", json_string(d)));
        }
        if let Some(c) = cluster_id {
            extra.push(("cluster_id", c.to_string()));
        }
        let line = if extra.iter().any(|(k, _)| has_key(bytes, k)) {
            // The input already has a field of that name: it is replaced, in its place.
            let mut obj = parse_object(bytes, input, number)?;
            if d.generated_id {
                obj.insert("id".into(), Value::String(d.id.clone()));
            }
            for (k, v) in extra {
                let v = serde_json::from_str(&v).expect("a JSON value");
                obj.insert(k.into(), v);
            }
            serde_json::to_vec(&obj).expect("JSON serializes")
        } else {
            d.splice(bytes, None, &extra)
        };
        Ok(Output::Rejected(line, reason.clone()))
    }

    /// A kept document's output line: the input line itself when no write stage edits
    /// the text and the id is given, else the line with the edited text and a generated id
    /// spliced in, every other byte kept; plus the final text and the write stages' parts,
    /// for the file.
    fn kept_line<'b>(
        &self,
        bytes: &'b [u8],
        input: &InputFile,
        stem: &str,
        line: u64,
    ) -> Result<Output<'b>> {
        let d = reparse(bytes, &self.config.text_key, input, stem, line)?;
        let mut text = d.text.clone();
        let mut edited = false;
        let mut parts = Vec::with_capacity(self.stages.len());
        for stage in self.stages {
            let (new, part) = stage.doc(&text).map_err(|msg| Error::Input {
                path: input.path.clone(),
                line,
                msg,
            })?;
            if let Some(t) = new {
                text = Cow::Owned(t);
                edited = true;
            }
            parts.push(part);
        }
        let line = if !edited && !d.generated_id {
            bytes.to_vec()
        } else {
            d.splice(bytes, edited.then_some(text.as_ref()), &[])
        };
        Ok(Output::Kept { line, text, parts })
    }
}

fn reparse<'a>(
    bytes: &'a [u8],
    text_key: &str,
    input: &InputFile,
    stem: &str,
    line: u64,
) -> Result<super::doc::ParsedDoc<'a>> {
    super::doc::parse(bytes, text_key, stem, line).map_err(|msg| Error::Input {
        path: input.path.clone(),
        line,
        msg: format!("{msg} (on re-read)"),
    })
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Whether the record may hold a field named `key` (a cheap over-approximation).
fn has_key(bytes: &[u8], key: &str) -> bool {
    let quoted = format!("\"{key}\"");
    memchr::memmem::find(bytes, quoted.as_bytes()).is_some()
}

/// One document's output line and where it goes.
enum Output<'a> {
    Kept {
        line: Vec<u8>,
        /// The text as the write stages left it, and what each left for the file.
        text: Cow<'a, str>,
        parts: Vec<Option<DocPart>>,
    },
    Rejected(Vec<u8>, String),
}

fn parse_object(bytes: &[u8], input: &InputFile, line: u64) -> Result<Map<String, Value>> {
    crate::input::parse_object(bytes).map_err(|msg| Error::Input {
        path: input.path.clone(),
        line,
        msg: format!("{msg} (on re-read)"),
    })
}
