//! The `cpt-curate` command line. The same entry point serves the Rust binary and
//! the `cpt-curate` console script of the Python wheel, so both faces behave alike.

use clap::{Parser, Subcommand};
use std::ffi::OsString;

pub mod classifier;
pub mod lm;
pub mod run;
pub mod select;
pub mod task;
pub mod tokenize;
pub mod tokenizer;

#[derive(Parser, Debug)]
#[command(
    name = "cpt-curate",
    version,
    about = "Curate and tokenize corpora for continued pretraining"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Read, filter, deduplicate (exact and near) and write curated documents.
    Run(run::RunArgs),
    /// Run one task of a job split with `run --tasks N` (what Slurm and Ray executors call).
    Task(task::TaskArgs),
    /// Tokenize curated documents into compressed, seekable token shards.
    Tokenize(tokenize::TokenizeArgs),
    /// Adapt a tokenizer to a domain (extend a byte-level BPE vocabulary with new merges).
    Tokenizer(tokenizer::TokenizerArgs),
    /// Word n-gram language models: train one on a reference corpus, score documents.
    Lm(lm::LmArgs),
    /// Train or evaluate the domain classifier (hashed word + bigram logistic regression).
    Classifier(classifier::ClassifierArgs),
    /// Re-apply selection policies to a finished run's kept documents and attributes.
    Select(select::SelectArgs),
}

/// Parse `args` (program name first) and run; returns the process exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::execute(args),
        Command::Task(args) => task::execute(&args),
        Command::Tokenize(args) => tokenize::execute(args),
        Command::Tokenizer(args) => tokenizer::execute(args),
        Command::Lm(args) => lm::execute(args),
        Command::Classifier(args) => classifier::execute(args),
        Command::Select(args) => select::execute(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
