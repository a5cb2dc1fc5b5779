//! The tokenize stage: documents in (read by `crate::input`: JSONL or Parquet), token shards
//! (FORMAT.md) plus `manifest.json` and `tokenize_report.json` out.
//!
//! A reader thread parses documents into batches; each batch is tokenized on a rayon pool with
//! longest-document-first scheduling (so a big document never starts last and serializes the
//! tail), then appended in input order to the current shard, whose full frames are compressed
//! in parallel. Shards close at the first document boundary past `shard_tokens`, so the output
//! depends only on the inputs and options, never on the thread count. Completed shards are
//! recorded in a state file; a rerun skips those that still verify.

mod resume;
pub mod setup;
pub mod sink;
pub mod stats;

use crate::shard::manifest::InputEntry;
use crate::shard::manifest::Manifest;
use crate::{Error, Result};
use serde::Serialize;
use setup::TokenizerSetup;
use sink::{Counters, TokenSink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

pub use setup::tokenizer_hash;
pub use stats::FragmentedWord;

pub const MANIFEST: &str = "manifest.json";
pub const REPORT: &str = "tokenize_report.json";

/// Everything the stage can be told. `Default` gives the documented defaults; the
/// Python keywords deserialize over them (`crate::keywords`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizeOptions {
    /// Files, directories or glob patterns of documents (JSONL plain / .zst / .gz, Parquet),
    /// expanded and read by `crate::input`.
    pub inputs: Vec<String>,
    pub tokenizer: PathBuf,
    pub output: PathBuf,
    /// Worker threads; `None` or 0 = all cores (as in `cpt-curate run`).
    pub threads: Option<usize>,
    /// A shard closes at the first document end at or past this many tokens.
    pub shard_tokens: u64,
    pub frame_tokens: u32,
    pub zstd_level: i32,
    /// EOS token spelling; `None` = from the post-processor or the usual names.
    pub eos_token: Option<String>,
    pub text_key: String,
    /// Also write a Megatron-LM `PREFIX.bin` / `PREFIX.idx`.
    pub megatron: Option<PathBuf>,
    /// Hash of the curation config that produced the inputs, recorded in the manifest.
    pub config_hash: Option<String>,
    /// How many of the most fragmented frequent words to report.
    pub top_words: usize,
    /// Text bytes per parallel batch (grown automatically for big documents).
    pub batch_bytes: usize,
    /// Word frequencies for the fragmentation list come from the first this-many text bytes.
    pub stats_sample_bytes: u64,
    pub progress: bool,
    /// Replace an existing dataset in `output` made from other inputs or with another
    /// tokenizer (refused otherwise).
    pub overwrite: bool,
}

impl Default for TokenizeOptions {
    fn default() -> Self {
        TokenizeOptions {
            inputs: Vec::new(),
            tokenizer: PathBuf::new(),
            output: PathBuf::new(),
            threads: None,
            shard_tokens: 1 << 28,
            frame_tokens: 1 << 18,
            zstd_level: 6,
            eos_token: None,
            text_key: "text".into(),
            megatron: None,
            config_hash: None,
            top_words: 20,
            batch_bytes: 4 << 20,
            stats_sample_bytes: 64 << 20,
            progress: false,
            overwrite: false,
        }
    }
}

/// What the stage did: written to `tokenize_report.json` and returned to callers.
#[derive(Debug, Clone, Serialize)]
pub struct TokenizeReport {
    pub output: String,
    pub manifest: String,
    pub tokenizer_hash: String,
    pub dtype: String,
    pub vocab_size: u64,
    pub eos_id: u32,
    pub bos_id: Option<u32>,
    pub inputs: usize,
    pub docs: u64,
    pub tokens: u64,
    pub content_tokens: u64,
    pub shards: u64,
    pub resumed_shards: u64,
    pub resumed_docs: u64,
    pub text_bytes: u64,
    pub chars: u64,
    pub words: u64,
    pub chars_per_token: f64,
    pub tokens_per_word: f64,
    pub fragmented_words: Vec<FragmentedWord>,
    pub shard_bytes: u64,
    pub bytes_per_token: f64,
    pub threads: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub mb_per_second: f64,
    pub megatron: Option<[String; 2]>,
}

/// One batch of documents from the reader thread.
struct Batch {
    first_doc: u64,
    texts: Vec<String>,
    /// (input file index, line) of each document, for error messages.
    origins: Vec<(usize, u64)>,
}

pub fn run(opts: &TokenizeOptions) -> Result<TokenizeReport> {
    let started = Instant::now();
    validate(opts)?;
    // The one input order of every command: sorted, hidden files and the output skipped.
    let expanded = crate::input::expand_inputs(&opts.inputs, Some(&opts.output))?;
    let setup = TokenizerSetup::load(&opts.tokenizer, opts.eos_token.as_deref())?;
    let inputs: Vec<InputEntry> = expanded
        .iter()
        .map(|f| InputEntry {
            path: f.path.to_string_lossy().into_owned(),
            bytes: f.size,
        })
        .collect();
    let files: Vec<PathBuf> = expanded.into_iter().map(|f| f.path).collect();
    let mut sink = TokenSink::open(opts, &setup, inputs)?;
    let resumed_docs = sink.resumed_docs;

    let threads = match opts.threads {
        None | Some(0) => num_cores(),
        Some(n) => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cpt-tokenize-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))?;

    let progress = opts.progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} tokenize {msg} [{elapsed}]")
                .expect("valid template"),
        );
        bar
    });

    // Three stages overlap: the reader thread parses and counts, the pool tokenizes, the writer
    // thread compresses and writes. Channels are bounded, so memory stays at a few batches.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let (acc, written) = std::thread::scope(|scope| -> Result<(Counters, sink::Written)> {
        let (batch_tx, batch_rx) = sync_channel::<Result<Batch>>(2);
        let (ids_tx, ids_rx) = sync_channel::<Vec<Vec<u32>>>(2);
        let files_ref = &files;
        let reader = scope.spawn(move || read_batches(files_ref, opts, threads, &batch_tx));
        let failed_ref = &failed;
        let writer = scope.spawn(move || -> Result<sink::Written> {
            for ids in ids_rx {
                sink.push(&ids)?;
            }
            // After a failure upstream the open shard is incomplete: leave it as a temporary.
            sink.close(!failed_ref.load(Ordering::SeqCst))
        });
        let (mut docs, mut text_bytes) = (0u64, 0u64);
        let tokenized = (|| -> Result<()> {
            for batch in batch_rx {
                let batch = batch?;
                let skip = resumed_docs
                    .saturating_sub(batch.first_doc)
                    .min(batch.texts.len() as u64) as usize;
                let ids = pool
                    .install(|| tokenize_batch(&setup, &batch.texts[skip..], threads))
                    .map_err(|(i, msg)| {
                        let (f, line) = batch.origins[skip + i];
                        Error::Input {
                            path: files[f].clone(),
                            line,
                            msg: format!("cannot tokenize: {msg}"),
                        }
                    })?;
                docs += batch.texts.len() as u64;
                text_bytes += batch.texts.iter().map(|t| t.len() as u64).sum::<u64>();
                if !ids.is_empty() && ids_tx.send(ids).is_err() {
                    break; // the writer stopped on an error, reported below
                }
                if let Some(bar) = &progress {
                    bar.set_message(format!("{docs} docs, {:.1} MB", text_bytes as f64 / 1e6));
                    bar.tick();
                }
            }
            Ok(())
        })();
        if tokenized.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        drop(ids_tx);
        let written = writer.join().expect("writer thread panicked");
        let counted = reader.join().expect("reader thread panicked");
        tokenized?;
        Ok((counted, written?))
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    sink::finish(opts, &setup, written, &acc, threads, started)
}

/// An existing dataset in the output directory made from other inputs or with another
/// tokenizer is not replaced silently.
pub(crate) fn refuse_another_dataset(
    manifest_path: &Path,
    setup: &TokenizerSetup,
    inputs: &[InputEntry],
) -> Result<()> {
    if !manifest_path.exists() {
        return Ok(());
    }
    let old = Manifest::load(manifest_path).map_err(|e| {
        Error::Config(format!(
            "{} exists and is not a manifest this tool can read ({e}); pass --overwrite to replace it",
            manifest_path.display()
        ))
    })?;
    if old.tokenizer.hash != setup.hash {
        return Err(Error::Config(format!(
            "{} holds a dataset tokenized with tokenizer {} ({}), this run uses {}; \
             pass --overwrite to replace it",
            manifest_path.display(),
            old.tokenizer.hash,
            old.tokenizer.file,
            setup.hash
        )));
    }
    if old.inputs != inputs {
        let name = |v: &[InputEntry]| match v {
            [] => "no inputs".to_string(),
            [one] => one.path.clone(),
            [first, ..] => format!("{} and {} more", first.path, v.len() - 1),
        };
        return Err(Error::Config(format!(
            "{} holds a dataset of other inputs ({}), this run reads {}; pass --overwrite to replace it",
            manifest_path.display(),
            name(&old.inputs),
            name(inputs)
        )));
    }
    Ok(())
}

fn validate(opts: &TokenizeOptions) -> Result<()> {
    if opts.shard_tokens == 0 {
        return Err(Error::Config("shard_tokens must be at least 1".into()));
    }
    if opts.frame_tokens == 0 {
        return Err(Error::Config("frame_tokens must be at least 1".into()));
    }
    let levels = zstd::compression_level_range();
    if !levels.contains(&opts.zstd_level) {
        return Err(Error::Config(format!(
            "zstd_level {} is outside {}..={}",
            opts.zstd_level,
            levels.start(),
            levels.end()
        )));
    }
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Reader thread: parse every document of every file, in order, into batches. A batch grows
/// until it holds `batch_bytes` of text and at least 8 x threads times its largest document,
/// so one big document cannot leave the other workers idle for long.
fn read_batches(
    files: &[PathBuf],
    opts: &TokenizeOptions,
    threads: usize,
    tx: &std::sync::mpsc::SyncSender<Result<Batch>>,
) -> Counters {
    let max_batch = 256usize << 20;
    let mut acc = Counters::default();
    let mut batch = Batch {
        first_doc: 0,
        texts: Vec::new(),
        origins: Vec::new(),
    };
    let (mut bytes, mut biggest, mut next_doc) = (0usize, 0usize, 0u64);
    for (fi, path) in files.iter().enumerate() {
        let result = crate::input::for_each_text(path, &opts.text_key, |line, text| {
            acc.count(&text, opts.stats_sample_bytes);
            bytes += text.len();
            biggest = biggest.max(text.len());
            batch.texts.push(text);
            batch.origins.push((fi, line));
            next_doc += 1;
            if bytes >= opts.batch_bytes && (bytes >= 8 * threads * biggest || bytes >= max_batch) {
                let full = std::mem::replace(
                    &mut batch,
                    Batch {
                        first_doc: next_doc,
                        texts: Vec::new(),
                        origins: Vec::new(),
                    },
                );
                (bytes, biggest) = (0, 0);
                // A closed channel means the consumer stopped on an error: stop reading.
                tx.send(Ok(full))
                    .map_err(|_| Error::Config("stopped".into()))?;
            }
            Ok(())
        });
        if let Err(e) = result {
            let _ = tx.send(Err(e));
            return acc;
        }
    }
    if !batch.texts.is_empty() {
        let _ = tx.send(Ok(batch));
    }
    acc
}

/// A document's index in its batch and its ids (or the tokenizer's error).
type Encoded = (usize, std::result::Result<Vec<u32>, String>);

/// Tokenize `texts` on the current pool, longest first, each worker pulling the next document
/// from a shared counter. Returns ids in input order, or the index and message of a failure.
fn tokenize_batch(
    setup: &TokenizerSetup,
    texts: &[String],
    threads: usize,
) -> std::result::Result<Vec<Vec<u32>>, (usize, String)> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut local = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            local.push((i, setup.encode(&texts[i])));
        }
        local
    };
    let parts: Vec<Vec<Encoded>> = if threads > 1 && texts.len() > 1 {
        rayon::broadcast(|_| work())
    } else {
        vec![work()]
    };
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); texts.len()];
    for (i, r) in parts.into_iter().flatten() {
        out[i] = r.map_err(|m| (i, m))?;
    }
    Ok(out)
}

pub fn shard_name(i: usize) -> String {
    format!("shard-{i:05}.cpts")
}
