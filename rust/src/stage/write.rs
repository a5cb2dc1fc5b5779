//! The write phase's contract: a stage over the kept documents' texts while the write pass
//! holds them, per input file. For each kept document, in parallel, [`WriteStage::doc`]
//! sees the text as the stages before it left it, may edit it (PII redaction) and leaves a
//! [`DocPart`] (counts, token ids) for its file. The file's [`FileStage`] takes the parts
//! in input order and commits the stage's resume unit before the file's done marker. Once
//! every file is written and accounted for, [`WriteStage::finish`] does the job-level rest
//! (the tokenize stage concatenates the files' token ids into token shards).

use crate::config::Config;
use crate::pipeline::state::WriteStats;
use crate::report::StageTiming;
use crate::Result;
use std::any::Any;
use std::path::Path;

/// What a write stage keeps of one document for its file (the stage's own type).
pub type DocPart = Box<dyn Any + Send>;

/// The per-document and job-level parts of a write stage.
pub trait WriteStage: Send + Sync {
    fn name(&self) -> &'static str;
    /// One kept document's text (parallel, any order): the edited text (`None` = unchanged)
    /// and the part its file keeps. An error is the problem with this document.
    fn doc(&self, text: &str) -> std::result::Result<(Option<String>, Option<DocPart>), String>;
    /// Start input file `file` (numbered in input order).
    fn open(&self, file: usize) -> Result<Box<dyn FileStage>>;
    /// After every file is written and accounted for: the job-level work, if any.
    fn finish(&self, _job: &WriteJob<'_>) -> Result<Option<StageEnd>> {
        Ok(None)
    }
}

/// One input file's part of a write stage.
pub trait FileStage: Send {
    /// The next kept document, in input order: its final text and this stage's part.
    fn add(&mut self, text: &str, part: Option<DocPart>) -> Result<()>;
    /// The file's last document is written: commit the resume unit, fill the file's stats.
    fn finish(self: Box<Self>, stats: &mut WriteStats) -> Result<()>;
}

/// What the job-level part of a write stage sees.
pub struct WriteJob<'a> {
    pub config: &'a Config,
    /// The job's output directory.
    pub output: &'a Path,
    /// The kept shards of each input file, relative to `output`, in input order.
    pub kept_shards: &'a [Vec<String>],
    pub input_docs: u64,
    pub threads: usize,
    pub quiet: bool,
    /// The job was started with `--overwrite`: outputs of another job may be replaced.
    pub overwrite: bool,
}

/// What the job-level part of a write stage did, for the report.
pub struct StageEnd {
    /// Its section of `report.json`: (key, value).
    pub report: (&'static str, serde_json::Value),
    pub timing: StageTiming,
    pub summary: String,
}

/// Builds a write stage from the config; `state_dir` holds its per-file resume units.
pub type BuildWrite = fn(&Config, &Path) -> Result<Box<dyn WriteStage>>;
