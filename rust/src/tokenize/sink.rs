//! The writing end of tokenization, shared by `cpt-curate tokenize` and the tokenize stage
//! of `cpt-curate run`: token ids of documents, in input order, into size-capped token
//! shards (resumed from `.tokenize-state.json`), then `manifest.json`, the optional
//! Megatron export and `tokenize_report.json`.

use super::resume::{job_hash, remove_if_exists, remove_stale_shards, resume, save_state};
use super::setup::TokenizerSetup;
use super::{stats, TokenizeOptions, TokenizeReport, MANIFEST, REPORT};
use crate::io::write_atomic;
use crate::shard::manifest::{
    InputEntry, Manifest, ManifestOptions, ShardEntry, TokenizerInfo, Tool, Totals, FORMAT_NAME,
};
use crate::shard::writer::{ShardSummary, ShardWriter};
use crate::shard::{megatron, FORMAT_VERSION};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

/// Token shards being written for one job.
pub struct TokenSink<'a> {
    opts: &'a TokenizeOptions,
    setup: &'a TokenizerSetup,
    inputs: Vec<InputEntry>,
    job: String,
    writer: Option<ShardWriter>,
    done: Vec<ShardEntry>,
    /// Shards and documents of an interrupted run of the same job, reused: the caller
    /// pushes only the documents after the first `resumed_docs`.
    pub resumed_shards: u64,
    pub resumed_docs: u64,
}

/// A closed sink: the shards written (resumed ones first).
pub struct Written {
    inputs: Vec<InputEntry>,
    done: Vec<ShardEntry>,
    resumed_shards: u64,
    resumed_docs: u64,
}

impl<'a> TokenSink<'a> {
    /// Open the output directory; the old manifest is removed before any shard is touched
    /// (a manifest names only complete datasets).
    pub fn open(
        opts: &'a TokenizeOptions,
        setup: &'a TokenizerSetup,
        inputs: Vec<InputEntry>,
    ) -> Result<Self> {
        if !opts.overwrite {
            super::refuse_another_dataset(&opts.output.join(MANIFEST), setup, &inputs)?;
        }
        std::fs::create_dir_all(&opts.output).map_err(|e| Error::io(&opts.output, e))?;
        write_atomic(
            &opts.output.join(crate::input::expand::OUTPUT_MARKER),
            b"cpt-curate tokenize output\n",
        )?;
        // A manifest names only complete datasets: drop the old one before touching any shard.
        remove_if_exists(&opts.output.join(MANIFEST))?;
        let job = job_hash(opts, setup, &inputs);
        let done = resume(&opts.output, &job)?;
        Ok(TokenSink {
            opts,
            setup,
            inputs,
            job,
            writer: None,
            resumed_shards: done.len() as u64,
            resumed_docs: done.iter().map(|s| s.docs).sum(),
            done,
        })
    }

    /// Append documents in order, closing a shard at the first document end at or past
    /// `shard_tokens` (so shards do not depend on how documents are pushed).
    pub fn push<D: AsRef<[u32]>>(&mut self, ids: &[D]) -> Result<()> {
        let mut start = 0;
        while start < ids.len() {
            let w = match &mut self.writer {
                Some(w) => w,
                None => {
                    let path = self.opts.output.join(super::shard_name(self.done.len()));
                    self.writer.insert(ShardWriter::create(
                        &path,
                        self.setup.dtype,
                        self.opts.frame_tokens,
                        self.opts.zstd_level,
                    )?)
                }
            };
            let mut tokens = w.tokens();
            let mut end = start;
            while end < ids.len() && tokens < self.opts.shard_tokens {
                tokens += ids[end].as_ref().len() as u64;
                end += 1;
            }
            w.push_docs(ids[start..end].iter().map(AsRef::as_ref))?;
            if tokens >= self.opts.shard_tokens {
                let w = self.writer.take().expect("writer is open");
                self.done.push(entry(w.finish()?));
                save_state(&self.opts.output, &self.job, &self.done)?;
            }
            start = end;
        }
        Ok(())
    }

    /// Close the last shard. `complete = false` (after a failure upstream) leaves an open
    /// shard as a temporary, so it is never mistaken for a finished one.
    pub fn close(mut self, complete: bool) -> Result<Written> {
        if complete {
            if let Some(w) = self.writer.take() {
                self.done.push(entry(w.finish()?));
                save_state(&self.opts.output, &self.job, &self.done)?;
            }
        }
        Ok(Written {
            inputs: self.inputs,
            done: self.done,
            resumed_shards: self.resumed_shards,
            resumed_docs: self.resumed_docs,
        })
    }
}

fn entry(s: ShardSummary) -> ShardEntry {
    let checksum = s.checksum_string();
    ShardEntry {
        file: s.file,
        tokens: s.tokens,
        docs: s.docs,
        bytes: s.bytes,
        checksum,
    }
}

/// Text statistics, counted on every document (resumed ones too) so reruns report the same.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counters {
    pub docs: u64,
    pub text_bytes: u64,
    pub chars: u64,
    pub words: u64,
    /// Word frequencies of the first `stats_sample_bytes` of text.
    pub freq: HashMap<String, u64>,
}

impl Counters {
    pub fn count(&mut self, text: &str, sample_bytes: u64) {
        let (c, w) = stats::count_chars_words(text);
        self.docs += 1;
        self.chars += c;
        self.words += w;
        if self.text_bytes < sample_bytes {
            stats::count_words(text, &mut self.freq);
        }
        self.text_bytes += text.len() as u64;
    }

    /// Add the counters of the next part of the input; its word frequencies join the
    /// sample if the sample was not full when the part began.
    pub fn merge(&mut self, part: Counters, sample_bytes: u64) {
        if self.text_bytes < sample_bytes {
            for (w, n) in part.freq {
                *self.freq.entry(w).or_default() += n;
            }
        }
        self.docs += part.docs;
        self.text_bytes += part.text_bytes;
        self.chars += part.chars;
        self.words += part.words;
    }
}

/// After the last shard: check the resumed part, drop stale shards, write the manifest,
/// the Megatron export and `tokenize_report.json`.
pub fn finish(
    opts: &TokenizeOptions,
    setup: &TokenizerSetup,
    written: Written,
    acc: &Counters,
    threads: usize,
    started: Instant,
) -> Result<TokenizeReport> {
    if acc.docs < written.resumed_docs {
        return Err(Error::Config(format!(
            "the inputs hold {} documents but the completed shards in {} hold {}: inputs changed; use a fresh output directory",
            acc.docs,
            opts.output.display(),
            written.resumed_docs
        )));
    }
    remove_stale_shards(&opts.output, written.done.len())?;
    let files = written.inputs.len();
    let manifest = build_manifest(opts, setup, written.inputs, &written.done);
    let manifest_path = opts.output.join(MANIFEST);
    write_atomic(&manifest_path, manifest.to_json().as_bytes())?;

    let megatron = match &opts.megatron {
        Some(prefix) => {
            let files = megatron::export_manifest(&manifest_path, prefix)?;
            Some([files.bin, files.idx])
        }
        None => None,
    };

    let tokens = manifest.totals.tokens;
    let content_tokens = tokens - manifest.totals.docs * setup.specials_per_doc;
    let seconds = started.elapsed().as_secs_f64();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let report = TokenizeReport {
        output: opts.output.to_string_lossy().into_owned(),
        manifest: manifest_path.to_string_lossy().into_owned(),
        tokenizer_hash: setup.hash.clone(),
        dtype: setup.dtype.name().into(),
        vocab_size: setup.vocab_size,
        eos_id: setup.eos_id,
        bos_id: setup.bos_id,
        inputs: files,
        docs: manifest.totals.docs,
        tokens,
        content_tokens,
        shards: manifest.totals.shards,
        resumed_shards: written.resumed_shards,
        resumed_docs: written.resumed_docs,
        text_bytes: acc.text_bytes,
        chars: acc.chars,
        words: acc.words,
        chars_per_token: ratio(acc.chars as f64, content_tokens as f64),
        tokens_per_word: ratio(content_tokens as f64, acc.words as f64),
        fragmented_words: stats::most_fragmented(setup, &acc.freq, 5000, opts.top_words),
        shard_bytes: manifest.totals.bytes,
        bytes_per_token: ratio(manifest.totals.bytes as f64, tokens as f64),
        threads,
        seconds,
        tokens_per_second: ratio(tokens as f64, seconds),
        mb_per_second: ratio(acc.text_bytes as f64 / 1e6, seconds),
        megatron,
    };
    let json = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
    write_atomic(&opts.output.join(REPORT), json.as_bytes())?;
    Ok(report)
}

fn build_manifest(
    opts: &TokenizeOptions,
    setup: &TokenizerSetup,
    inputs: Vec<InputEntry>,
    shards: &[ShardEntry],
) -> Manifest {
    Manifest {
        format: FORMAT_NAME.into(),
        format_version: u32::from(FORMAT_VERSION),
        tool: Tool {
            name: "cpt-curate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        dtype: setup.dtype.name().into(),
        frame_tokens: opts.frame_tokens,
        tokenizer: TokenizerInfo {
            hash: setup.hash.clone(),
            file: setup.file_name.clone(),
            vocab_size: setup.vocab_size,
            eos_id: setup.eos_id,
            eos_token: setup.eos_token.clone(),
            bos_id: setup.bos_id,
            bos_token: setup.bos_token.clone(),
        },
        totals: Totals {
            shards: shards.len() as u64,
            tokens: shards.iter().map(|s| s.tokens).sum(),
            docs: shards.iter().map(|s| s.docs).sum(),
            bytes: shards.iter().map(|s| s.bytes).sum(),
        },
        shards: shards.to_vec(),
        inputs,
        curation_config_hash: opts.config_hash.clone(),
        options: ManifestOptions {
            shard_tokens: opts.shard_tokens,
            frame_tokens: opts.frame_tokens,
            zstd_level: opts.zstd_level,
            text_key: opts.text_key.clone(),
        },
    }
}
