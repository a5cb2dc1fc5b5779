//! The curation report: what came in, what was kept, what was rejected and why, how
//! long each stage took. Written as `report.json` (atomically) and summarized on stderr.

use crate::config::Config;
use crate::filters::pii::PiiCounts;
use crate::pipeline::state::Count;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputReport {
    pub path: String,
    pub size: u64,
    pub docs: u64,
    pub bytes: u64,
    pub blank_lines: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StageTiming {
    pub seconds: f64,
    pub docs_per_s: f64,
    pub mb_per_s: f64,
}

impl StageTiming {
    pub fn new(seconds: f64, docs: u64, bytes: u64) -> Self {
        let s = seconds.max(1e-9);
        StageTiming {
            seconds,
            docs_per_s: docs as f64 / s,
            mb_per_s: bytes as f64 / 1e6 / s,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Timings {
    pub scan: StageTiming,
    /// The whole decide phase.
    pub decide: StageTiming,
    pub write: StageTiming,
    /// Each decide stage (docs and bytes: the documents in its scope, e.g. near_dedup's
    /// are those it clusters) and the job-level part of each write stage (tokenize: the
    /// kept documents and their text), by stage name; absent when off.
    #[serde(flatten)]
    pub stages: BTreeMap<String, StageTiming>,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pii {
    #[serde(flatten)]
    pub counts: PiiCounts,
    pub docs_with_pii: u64,
}

/// What the tokenize stage made of the kept shards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenizeSummary {
    pub output: String,
    pub manifest: String,
    pub report: String,
    pub tokenizer_hash: String,
    pub docs: u64,
    /// Including one EOS per document.
    pub tokens: u64,
    pub content_tokens: u64,
    pub shards: u64,
    pub shard_bytes: u64,
    pub resumed_shards: u64,
    pub resumed_docs: u64,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub mb_per_second: f64,
    pub megatron: Option<[String; 2]>,
}

impl TokenizeSummary {
    pub fn new(r: &crate::tokenize::TokenizeReport) -> Self {
        TokenizeSummary {
            output: r.output.clone(),
            manifest: r.manifest.clone(),
            report: std::path::Path::new(&r.output)
                .join(crate::tokenize::REPORT)
                .to_string_lossy()
                .into_owned(),
            tokenizer_hash: r.tokenizer_hash.clone(),
            docs: r.docs,
            tokens: r.tokens,
            content_tokens: r.content_tokens,
            shards: r.shards,
            shard_bytes: r.shard_bytes,
            resumed_shards: r.resumed_shards,
            resumed_docs: r.resumed_docs,
            seconds: r.seconds,
            tokens_per_second: r.tokens_per_second,
            mb_per_second: r.mb_per_second,
            megatron: r.megatron.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: u32,
    pub input_docs: u64,
    /// Bytes of the input lines (uncompressed, without line endings).
    pub input_bytes: u64,
    pub blank_lines: u64,
    pub kept_docs: u64,
    pub kept_bytes: u64,
    pub rejected_docs: u64,
    pub rejected_bytes: u64,
    /// Per reason: malformed, exact_duplicate, length, repetition, quality, near_duplicate.
    pub rejected: BTreeMap<String, Count>,
    pub malformed_docs: u64,
    /// Documents whose id (given, or generated) equals an earlier document's id in the job
    /// (input order); they are still curated, the count flags ambiguous ids.
    pub duplicate_ids: u64,
    /// The first few such ids (at most 10, input order).
    pub duplicate_id_examples: Vec<String>,
    pub pii: Pii,
    /// The stages' own sections, by key, present when the stage ran: `exact_duplicates`
    /// (clusters, size histogram), `near_dedup` (LSH plan and statistics), `tokenize`
    /// (a summary; the full report is `<tokenize output>/tokenize_report.json`).
    #[serde(flatten)]
    pub sections: serde_json::Map<String, serde_json::Value>,
    /// The stages' lines of the summary on stderr.
    #[serde(skip)]
    pub stage_summaries: Vec<String>,
    pub timings: Timings,
    /// Every registered stage (`crate::stage::STAGES`): phase, config section, whether
    /// this job ran it, and its resume unit.
    pub stages: Vec<crate::stage::StageReport>,
    pub threads: usize,
    /// Input files whose scan or write was reused from an interrupted run.
    pub resumed_scans: usize,
    pub resumed_writes: usize,
    pub inputs: Vec<InputReport>,
    pub kept_shards: Vec<String>,
    pub rejected_shards: Vec<String>,
    pub config_hash: String,
    pub config: Config,
}

impl Report {
    /// A stage's section (`exact_duplicates`, `near_dedup`, `tokenize`), if it ran.
    pub fn section(&self, key: &str) -> Option<&serde_json::Value> {
        self.sections.get(key)
    }

    /// The few lines printed on stderr at the end of a job.
    pub fn summary(&self) -> String {
        let pct = |n: u64| {
            if self.input_docs == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.input_docs as f64
            }
        };
        let mut s = format!(
            "cpt-curate: {} docs ({:.1} MB) from {} files -> kept {} ({:.1}%), rejected {} ({:.1}%)\n",
            self.input_docs,
            self.input_bytes as f64 / 1e6,
            self.inputs.len(),
            self.kept_docs,
            pct(self.kept_docs),
            self.rejected_docs,
            pct(self.rejected_docs)
        );
        for (reason, c) in &self.rejected {
            s.push_str(&format!(
                "  rejected {reason:<16} {:>10} docs {:>10.1} MB\n",
                c.docs,
                c.bytes as f64 / 1e6
            ));
        }
        s.push_str(&format!(
            "  PII redacted: {} emails, {} IPs, {} phones\n",
            self.pii.counts.email, self.pii.counts.ip_address, self.pii.counts.phone
        ));
        for line in &self.stage_summaries {
            s.push_str(&format!("  {line}\n"));
        }
        let t = &self.timings;
        let mut stages = String::new();
        for (name, st) in &t.stages {
            stages.push_str(&format!(", {name} {:.2}s", st.seconds));
        }
        s.push_str(&format!(
            "  scan {:.2}s ({:.1} MB/s), decide {:.2}s, write {:.2}s ({:.1} MB/s){stages}, {} threads",
            t.scan.seconds,
            t.scan.mb_per_s,
            t.decide.seconds,
            t.write.seconds,
            t.write.mb_per_s,
            self.threads
        ));
        s
    }
}
