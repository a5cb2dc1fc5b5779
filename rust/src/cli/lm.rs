//! `cpt-curate lm train` and `cpt-curate lm score`: the command-line face of
//! `crate::score::ngram` (train a `.cptlm` word n-gram model; score documents with it).

use crate::score::ngram::{train, LmModel, LmScore, Smoothing, TrainOptions, TrainReport};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

fn defaults() -> TrainOptions {
    TrainOptions::default()
}

#[derive(Args, Debug)]
pub struct LmArgs {
    #[command(subcommand)]
    pub command: LmCommand,
}

#[derive(Subcommand, Debug)]
pub enum LmCommand {
    /// Train a word n-gram language model (modified Kneser-Ney or stupid backoff) on a
    /// reference corpus, over the engine's normalized words, into a .cptlm file.
    Train(TrainArgs),
    /// Score documents with a .cptlm model: one JSON line per document (id, ppl, words,
    /// oov) on stdout, and the corpus perplexity on stderr.
    Score(ScoreArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Reference corpus: files, directories or globs (.jsonl, .jsonl.zst, .jsonl.gz, .parquet).
    #[arg(long, short, num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// The model file to write (.cptlm).
    #[arg(long, short)]
    pub output: PathBuf,
    /// n-gram order (1..=5; CCNet uses 5, 3 is smaller).
    #[arg(long, default_value_t = defaults().order)]
    pub order: usize,
    #[arg(long, value_enum, default_value = "kneser-ney")]
    pub smoothing: Smoothing,
    /// Words seen fewer times become <unk>.
    #[arg(long, default_value_t = defaults().min_count)]
    pub min_count: u64,
    /// Count pruning, per order from 2 (comma-separated, the last repeats): n-grams whose
    /// count is <= the value are dropped, e.g. `0,1` keeps every bigram and the trigrams
    /// seen at least twice. Default: keep all.
    #[arg(long, value_delimiter = ',')]
    pub prune: Vec<u64>,
    /// Stupid backoff's factor per backoff step.
    #[arg(long, default_value_t = defaults().alpha)]
    pub alpha: f64,
    /// Most distinct highest-order n-grams held while counting (0 = no limit); past it the
    /// ones seen once so far are dropped (lossy counting, to bound memory).
    #[arg(long, default_value_t = defaults().max_ngrams)]
    pub max_ngrams: u64,
    /// JSON field holding the document text.
    #[arg(long, default_value_t = defaults().text_key)]
    pub text_key: String,
    /// Worker threads (default: all cores); the model does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
}

impl TrainArgs {
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            inputs: self.input.clone(),
            output: self.output.clone(),
            order: self.order,
            smoothing: self.smoothing,
            min_count: self.min_count,
            prune: self.prune.clone(),
            alpha: self.alpha,
            max_ngrams: self.max_ngrams,
            text_key: self.text_key.clone(),
            threads: self.threads,
            ..TrainOptions::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// The .cptlm model.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Documents: files, directories or globs.
    #[arg(long, short, num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// JSON field holding the document text.
    #[arg(long, default_value = "text")]
    pub text_key: String,
    /// Only the corpus summary (no per-document lines).
    #[arg(long)]
    pub summary: bool,
}

pub fn execute(args: LmArgs) -> Result<()> {
    match args.command {
        LmCommand::Train(a) => {
            let report = train(&a.options())?;
            if !a.quiet {
                eprint!("{}", summary(&report));
            }
            Ok(())
        }
        LmCommand::Score(a) => score(&a),
    }
}

fn score(a: &ScoreArgs) -> Result<()> {
    let model = LmModel::load(&a.model)?;
    let files = crate::vocab::corpus::expand(&a.input)?;
    let mut total = LmScore::default();
    let mut docs = 0u64;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for path in &files {
        let stem = crate::input::file_stem(path);
        crate::input::for_each_text(path, &a.text_key, |line, text| {
            let s = model.score_text(&text);
            total.add(&s);
            docs += 1;
            if !a.summary {
                let line = serde_json::json!({
                    "id": format!("{stem}:{line}"),
                    "ppl": s.perplexity(),
                    "words": s.tokens - 1,
                    "oov": s.oov,
                });
                writeln!(out, "{line}").map_err(|e| Error::io("<stdout>", e))?;
            }
            Ok(())
        })?;
    }
    out.flush().map_err(|e| Error::io("<stdout>", e))?;
    eprintln!(
        "{docs} docs, {} tokens (incl. </s>), {} oov: perplexity {:.2}, {:.3} bits/token",
        total.tokens,
        total.oov,
        total.perplexity(),
        total.bits_per_token()
    );
    Ok(())
}

/// The human summary of training, printed on stderr.
pub fn summary(r: &TrainReport) -> String {
    let mut s = format!(
        "trained an order-{} {} model on {} docs ({:.1} MB, {} words, {} as <unk>); vocabulary {}\n",
        r.order,
        r.smoothing,
        r.docs,
        r.text_bytes as f64 / 1e6,
        r.words,
        r.unk_words,
        r.vocab_size
    );
    for (i, n) in r.ngrams.iter().enumerate() {
        s += &format!("  {}-grams: {n} kept, {} pruned", i + 1, r.pruned[i]);
        if let Some([d1, d2, d3]) = r.discounts.get(i) {
            s += &format!(
                ", discounts {:.3} {:.3} {:.3}{}",
                d1,
                d2,
                d3,
                if r.discount_fallback.contains(&(i + 1)) {
                    " (fallback)"
                } else {
                    ""
                }
            );
        }
        s.push('\n');
    }
    if r.lossy_flushes > 0 {
        s += &format!(
            "  max_ngrams: {} lossy flushes dropped {} singleton n-grams\n",
            r.lossy_flushes, r.lossy_dropped
        );
    }
    s += &format!(
        "wrote {} ({:.1} MB; about {:.1} MB in memory loaded) in {:.2} s on {} threads, {:.1} MB/s\n",
        r.output,
        r.file_bytes as f64 / 1e6,
        r.loaded_bytes as f64 / 1e6,
        r.seconds,
        r.threads,
        r.mb_per_second
    );
    s
}
