//! PII redaction as a write stage: each kept document's text is redacted while the write
//! pass holds it, and the counts go to the file's done marker and the report.

use super::pii::{PiiCounts, Redactor};
use crate::pipeline::state::WriteStats;
use crate::stage::{DocPart, FileStage, WriteStage};
use crate::Result;
use std::borrow::Cow;

/// The write stage of `pii::STAGE`.
pub fn build(config: &crate::config::Config) -> Box<dyn WriteStage> {
    Box::new(Redactor::new(config.pii.clone()))
}

impl WriteStage for Redactor {
    fn name(&self) -> &'static str {
        "pii"
    }

    fn doc(&self, text: &str) -> std::result::Result<(Option<String>, Option<DocPart>), String> {
        let (out, counts) = self.redact(text);
        let edited = match out {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        let part = (counts.total() > 0).then(|| Box::new(counts) as DocPart);
        Ok((edited, part))
    }

    fn open(&self, _file: usize) -> Result<Box<dyn FileStage>> {
        Ok(Box::new(FileCounts::default()))
    }
}

/// One file's redaction counts.
#[derive(Default)]
struct FileCounts {
    counts: PiiCounts,
    docs: u64,
}

impl FileStage for FileCounts {
    fn add(&mut self, _text: &str, part: Option<DocPart>) -> Result<()> {
        if let Some(c) = part.and_then(|p| p.downcast::<PiiCounts>().ok()) {
            self.counts.add(&c);
            self.docs += 1;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, stats: &mut WriteStats) -> Result<()> {
        stats.pii = self.counts;
        stats.docs_with_pii = self.docs;
        Ok(())
    }
}
