//! `cpt-curate tokenizer extend`: the command-line face of `crate::vocab::extend`.

use crate::vocab::{extend, measure::EncodingStats, ExtendOptions, ExtendReport};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TokenizerArgs {
    #[command(subcommand)]
    pub command: TokenizerCommand,
}

#[derive(Subcommand, Debug)]
pub enum TokenizerCommand {
    /// Continue a byte-level BPE tokenizer's training on a domain corpus: new merges and tokens
    /// are appended after the existing ids, so every old id keeps its meaning.
    Extend(ExtendArgs),
}

#[derive(Args, Debug)]
pub struct ExtendArgs {
    /// The base tokenizer.json (byte-level BPE: GPT-2, Llama-3, SmolLM2 families).
    #[arg(long, short)]
    pub tokenizer: PathBuf,
    /// Domain corpus: files, directories or glob patterns (.jsonl, .jsonl.zst, .jsonl.gz).
    #[arg(long, short, num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// How many new tokens to learn.
    #[arg(long)]
    pub new_tokens: usize,
    /// Output directory for tokenizer.json and extend_report.json.
    #[arg(long, short)]
    pub output: PathBuf,
    /// A pair must occur at least this often (weighted by word frequency) to be merged.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Learn only from words found in at least this many corpus documents: the domain's own
    /// terms, not the names (companies, authors) peculiar to a few documents, which general
    /// text may hold too; with --protect this keeps general text unchanged where the
    /// protected text cannot (a general name absent from it).
    #[arg(long, default_value_t = 1)]
    pub min_word_docs: u64,
    /// Held-out domain documents to measure on (default: the training corpus).
    #[arg(long, num_args = 1..)]
    pub eval_domain: Vec<String>,
    /// General documents to measure on: how much of them the new merges change.
    #[arg(long, num_args = 1..)]
    pub eval_general: Vec<String>,
    /// Protected documents (general text, e.g. the train split of a general corpus; never the
    /// set you measure on): no merge joins two pieces adjacent in any of their words, nor in
    /// those words' ASCII case variants (lower, Capitalized, UPPER) with or without the leading
    /// space, so general words keep their base encoding in any casing or position. With it, a
    /// general text changes only where it has a word the protected text lacks in every casing.
    #[arg(long, num_args = 1..)]
    pub protect: Vec<String>,
    /// Protect the words of --protect only exactly as written (no case / space variants):
    /// more domain merges, more general text changed.
    #[arg(long, requires = "protect")]
    pub protect_exact: bool,
    /// JSON field holding the document text.
    #[arg(long, default_value = "text")]
    pub text_key: String,
    /// Worker threads (default: all cores); the output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep the merges learned when the corpus yields fewer than --new-tokens.
    #[arg(long)]
    pub allow_fewer: bool,
    /// How many of the new tokens to list in the summary.
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
}

impl ExtendArgs {
    pub fn options(&self) -> ExtendOptions {
        ExtendOptions {
            tokenizer: self.tokenizer.clone(),
            inputs: self.input.clone(),
            output: self.output.clone(),
            new_tokens: self.new_tokens,
            min_frequency: self.min_frequency,
            min_word_docs: self.min_word_docs,
            text_key: self.text_key.clone(),
            eval_domain: self.eval_domain.clone(),
            eval_general: self.eval_general.clone(),
            protect: self.protect.clone(),
            protect_exact: self.protect_exact,
            threads: self.threads,
            allow_fewer: self.allow_fewer,
            ..ExtendOptions::default()
        }
    }
}

pub fn execute(args: TokenizerArgs) -> crate::Result<()> {
    match args.command {
        TokenizerCommand::Extend(a) => {
            let report = extend(&a.options())?;
            if !a.quiet {
                eprint!("{}", summary(&report, a.show));
            }
            Ok(())
        }
    }
}

fn stats_line(name: &str, s: &EncodingStats) -> String {
    format!(
        "{name}: {} docs, tokens/doc {:.1} -> {:.1} ({:+.2} %), chars/token {:.3} -> {:.3}, \
         fertility {:.3} -> {:.3}, unchanged {:.2} % of docs, round-trip failures {}\n",
        s.docs,
        s.tokens_per_doc_before,
        s.tokens_per_doc_after,
        -100.0 * s.token_reduction,
        s.chars_per_token_before,
        s.chars_per_token_after,
        s.fertility_before,
        s.fertility_after,
        100.0 * s.share_unchanged,
        s.round_trip_failures_after
    )
}

/// The human summary printed on stderr.
pub fn summary(r: &ExtendReport, show: usize) -> String {
    let mut s = format!(
        "learned {} new tokens ({} merges) of {} asked from {} docs ({} distinct words); \
         vocabulary {} -> {}, new ids from {}; {} old ids checked unchanged\n",
        r.learned,
        r.merges,
        r.requested,
        r.corpus.docs,
        r.corpus.distinct_words,
        r.vocab_size_before,
        r.vocab_size_after,
        r.first_new_id,
        r.old_ids_checked
    );
    if let Some(why) = &r.stopped_early {
        s += &format!("stopped early: {why}\n");
    }
    let label = if r.domain_is_training_corpus {
        "domain (training corpus)"
    } else {
        "domain"
    };
    s += &stats_line(label, &r.domain);
    if let Some(g) = &r.general {
        s += &stats_line("general", g);
    }
    if show > 0 && !r.new_tokens.is_empty() {
        s += "first new tokens (count, pieces):\n";
        for t in r.new_tokens.iter().take(show) {
            s += &format!(
                "  {:>6} {:<24} {:>8}  {}\n",
                t.id,
                format!("{:?}", t.text),
                t.count,
                t.pieces.join(" ")
            );
        }
    }
    s += &format!("wrote {} ({})\n", r.output, r.tokenizer_hash);
    s
}
