//! `cpt-curate tokenize`: the command-line face of `crate::tokenize::run`.

use crate::tokenize::{run, TokenizeOptions, TokenizeReport};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The stage's defaults, the one place they are written (`--help` shows them).
fn defaults() -> TokenizeOptions {
    TokenizeOptions::default()
}

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Input files, directories or glob patterns (.jsonl, .ndjson, .zst, .gz, .parquet; sorted).
    #[arg(long, short, num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// The model's tokenizer.json (any Hugging Face tokenizer).
    #[arg(long, short)]
    pub tokenizer: PathBuf,
    /// Output directory for shards, manifest.json and tokenize_report.json.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Close a shard at the first document end at or past this many tokens.
    #[arg(long, default_value_t = defaults().shard_tokens)]
    pub shard_tokens: u64,
    /// Tokens per independently compressed zstd frame.
    #[arg(long, default_value_t = defaults().frame_tokens)]
    pub frame_tokens: u32,
    /// zstd compression level of the frames.
    #[arg(long, default_value_t = defaults().zstd_level, allow_negative_numbers = true)]
    pub zstd_level: i32,
    /// EOS token appended to every document (default: found in the tokenizer).
    #[arg(long)]
    pub eos_token: Option<String>,
    /// JSON field holding the document text.
    #[arg(long, default_value_t = defaults().text_key)]
    pub text_key: String,
    /// Also write Megatron-LM PREFIX.bin / PREFIX.idx.
    #[arg(long)]
    pub megatron: Option<PathBuf>,
    /// Hash of the curation config that produced the inputs (recorded in the manifest).
    #[arg(long)]
    pub config_hash: Option<String>,
    /// How many of the most fragmented frequent words to report.
    #[arg(long, default_value_t = defaults().top_words)]
    pub top_words: usize,
    /// Hide the progress spinner.
    #[arg(long)]
    pub quiet: bool,
    /// Replace a dataset in --output made from other inputs or with another tokenizer.
    #[arg(long)]
    pub overwrite: bool,
}

impl TokenizeArgs {
    pub fn options(self) -> TokenizeOptions {
        TokenizeOptions {
            inputs: self.input,
            tokenizer: self.tokenizer,
            output: self.output,
            threads: self.threads,
            shard_tokens: self.shard_tokens,
            frame_tokens: self.frame_tokens,
            zstd_level: self.zstd_level,
            eos_token: self.eos_token,
            text_key: self.text_key,
            megatron: self.megatron,
            config_hash: self.config_hash,
            top_words: self.top_words,
            progress: !self.quiet && std::io::stderr().is_terminal(),
            overwrite: self.overwrite,
            ..TokenizeOptions::default()
        }
    }
}

pub fn execute(args: TokenizeArgs) -> crate::Result<()> {
    let quiet = args.quiet;
    let report = run(&args.options())?;
    if !quiet {
        eprint!("{}", summary(&report));
    }
    Ok(())
}

/// The human summary printed on stderr.
pub fn summary(r: &TokenizeReport) -> String {
    let mut s = format!(
        "tokenized {} docs ({:.1} MB of text) into {} tokens ({}) in {} shard(s), {:.1} MB on disk ({:.2} bytes/token)\n",
        r.docs,
        r.text_bytes as f64 / 1e6,
        r.tokens,
        r.dtype,
        r.shards,
        r.shard_bytes as f64 / 1e6,
        r.bytes_per_token
    );
    if r.resumed_shards > 0 {
        s += &format!(
            "resumed: {} shard(s), {} docs already complete\n",
            r.resumed_shards, r.resumed_docs
        );
    }
    s += &format!(
        "{:.2} s on {} threads: {:.0} tokens/s, {:.2} MB/s\ntokenizer {}: {:.2} chars/token, {:.2} tokens/word\n",
        r.seconds, r.threads, r.tokens_per_second, r.mb_per_second, r.tokenizer_hash, r.chars_per_token, r.tokens_per_word
    );
    if !r.fragmented_words.is_empty() {
        s += "most fragmented frequent words (count x pieces):\n";
        for w in r.fragmented_words.iter().take(10) {
            s += &format!(
                "  {:<24} {:>8} x {}  {}\n",
                w.word,
                w.count,
                w.pieces,
                w.tokens.join(" ")
            );
        }
    }
    s += &format!("manifest: {}\n", r.manifest);
    if let Some([bin, idx]) = &r.megatron {
        s += &format!("megatron: {bin} {idx}\n");
    }
    s
}
