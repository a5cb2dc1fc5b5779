//! The optional last stage of `cpt-curate run`: the kept shards, in input order, into
//! token shards (FORMAT.md). EOS is decided by the engine's tokenizer setup and recorded
//! in the manifest. The stage resumes by itself: shards of an unchanged job are kept.

use crate::config::Config;
use crate::report::Report;
use crate::stage::{Phase, StageSpec};
use crate::tokenize::{TokenizeOptions, TokenizeReport};
use crate::{Error, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub const STAGE: StageSpec = StageSpec {
    name: "tokenize",
    phase: Phase::Write,
    section: "tokenize",
    keys: &[
        ("enabled", "tokenize the kept shards last"),
        (
            "tokenizer",
            "the model's tokenizer.json (required if enabled)",
        ),
        ("output", "token shard directory (null = <output>/tokens)"),
        (
            "shard_tokens",
            "a shard closes at the first document end past this many tokens",
        ),
        (
            "frame_tokens",
            "tokens per independently compressed zstd frame",
        ),
        ("zstd_level", "zstd level of the token frames"),
        (
            "eos_token",
            "EOS token spelling (null = from the tokenizer)",
        ),
        (
            "megatron",
            "also write Megatron-LM PREFIX.bin / PREFIX.idx (null = no)",
        ),
    ],
    enabled: |c| c.tokenize.enabled,
    plan: |c| {
        let t = &c.tokenize;
        let file = t.tokenizer.as_deref().unwrap_or_default();
        if !Path::new(file).is_file() {
            return Err(Error::Config(format!(
                "tokenize.tokenizer: {file} is not a file (expected the model's tokenizer.json)"
            )));
        }
        Ok(format!(
            "{file}, shard_tokens {}, frame_tokens {}, zstd {}, eos {}",
            t.shard_tokens,
            t.frame_tokens,
            t.zstd_level,
            t.eos_token.as_deref().unwrap_or("from tokenizer")
        ))
    },
    build: None,
    resume: "token shards that still verify (.tokenize-state.json in the token directory)",
};

/// Tokenize the kept shards, in the report's (input) order, recording the curation config
/// hash in the manifest.
pub fn tokenize_kept(
    config: &Config,
    report: &Report,
    output: &Path,
    dir: &Path,
    threads: usize,
    quiet: bool,
    overwrite: bool,
) -> Result<TokenizeReport> {
    if report.kept_shards.is_empty() {
        return Err(Error::Config(format!(
            "tokenize: no document was kept ({} input docs), nothing to tokenize; set tokenize.enabled=false",
            report.input_docs
        )));
    }
    let t = &config.tokenize;
    let opts = TokenizeOptions {
        inputs: report
            .kept_shards
            .iter()
            .map(|s| output.join(s).to_string_lossy().into_owned())
            .collect(),
        tokenizer: PathBuf::from(t.tokenizer.as_deref().unwrap_or_default()),
        output: dir.to_path_buf(),
        threads: Some(threads),
        shard_tokens: t.shard_tokens,
        frame_tokens: t.frame_tokens,
        zstd_level: t.zstd_level,
        eos_token: t.eos_token.clone(),
        megatron: t.megatron.as_ref().map(PathBuf::from),
        config_hash: Some(report.config_hash.clone()),
        progress: !quiet && std::io::stderr().is_terminal(),
        overwrite,
        ..TokenizeOptions::default()
    };
    crate::tokenize::run(&opts)
}
