//! `cpt-curate classifier train | eval`: the domain classifier's model
//! (`crate::score::classifier`), trained on positive (domain) and negative (general) documents.

use crate::score::classifier::{evaluate, train, FeatureConfig, Model, TrainOptions};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ClassifierArgs {
    #[command(subcommand)]
    pub command: ClassifierCommand,
}

#[derive(Subcommand, Debug)]
pub enum ClassifierCommand {
    /// Train a hashed word + bigram logistic regression and write the model file.
    Train(TrainArgs),
    /// Precision, recall and AUC of a model on held-out positive and negative documents.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Domain documents: files, directories or globs (repeatable).
    #[arg(long, required = true, value_name = "PATH")]
    pub positive: Vec<String>,
    /// General documents: files, directories or globs (repeatable).
    #[arg(long, required = true, value_name = "PATH")]
    pub negative: Vec<String>,
    /// The model file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Hash table size: 2^bits buckets (8..=26).
    #[arg(long, default_value_t = FeatureConfig::default().bits)]
    pub bits: u32,
    /// 1 = words, 2 = words and word bigrams.
    #[arg(long, default_value_t = FeatureConfig::default().ngrams)]
    pub ngrams: u32,
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    pub epochs: u32,
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    pub lr: f64,
    #[arg(long, default_value_t = TrainOptions::default().l2)]
    pub l2: f64,
    /// Seed of the example shuffle.
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    pub seed: u64,
    /// Threads for feature extraction (0 = all cores); the model does not depend on it.
    #[arg(short = 'j', long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model file.
    #[arg(short, long)]
    pub model: PathBuf,
    #[arg(long, required = true, value_name = "PATH")]
    pub positive: Vec<String>,
    #[arg(long, required = true, value_name = "PATH")]
    pub negative: Vec<String>,
    /// Documents scoring at least this are predicted positive.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
}

pub fn train_options(a: &TrainArgs) -> TrainOptions {
    TrainOptions {
        features: FeatureConfig {
            bits: a.bits,
            ngrams: a.ngrams,
            ..FeatureConfig::default()
        },
        epochs: a.epochs,
        learning_rate: a.lr,
        l2: a.l2,
        seed: a.seed,
        threads: a.threads,
    }
}

pub fn execute(args: ClassifierArgs) -> crate::Result<()> {
    match args.command {
        ClassifierCommand::Train(a) => {
            let (model, report) = train(&a.positive, &a.negative, &train_options(&a))?;
            model.save(&a.output)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            );
            eprintln!(
                "cpt-curate classifier: {} positive / {} negative docs, {:.2}s ({:.1} MB/s), train accuracy {:.4} -> {}",
                report.positives,
                report.negatives,
                report.total_seconds,
                report.mb_per_s,
                report.train_accuracy,
                a.output.display()
            );
        }
        ClassifierCommand::Eval(a) => {
            let model = Model::load(&a.model)?;
            let r = evaluate(&model, &a.positive, &a.negative, a.threshold)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&r).expect("report serializes")
            );
        }
    }
    Ok(())
}
