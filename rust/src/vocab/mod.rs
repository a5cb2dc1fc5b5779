//! Vocabulary extension: continue a byte-level BPE tokenizer's training on a domain corpus.
//!
//! The corpus is split into words exactly as the base tokenizer splits text, each distinct word
//! is encoded with the base model into its current pieces, and `merges::learn` adds the most
//! frequent adjacent pairs as new merges and tokens after the existing ids. The extended
//! tokenizer.json is the base file plus those entries; old ids keep their meaning (checked), and
//! text where no new merge applies encodes exactly as before (measured on evaluation corpora).

pub mod base;
pub mod corpus;
pub mod measure;
pub mod merges;
pub mod output;

use crate::shard::format::checksum_string;
use crate::{Error, Result};
use base::BaseTokenizer;
use measure::EncodingStats;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokenizers::Model;
use xxhash_rust::xxh3::xxh3_64;

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const REPORT_FILE: &str = "extend_report.json";

/// Everything `extend` can be told. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ExtendOptions {
    /// The base tokenizer.json.
    pub tokenizer: PathBuf,
    /// Domain corpus: files, directories or globs of JSONL (plain, zstd or gzip).
    pub inputs: Vec<String>,
    /// Output directory: `tokenizer.json` and `extend_report.json`.
    pub output: PathBuf,
    /// New tokens to add.
    pub new_tokens: usize,
    /// A pair must occur at least this often (weighted by word frequency) to be merged.
    pub min_frequency: u64,
    /// Learn only from words found in at least this many corpus documents: terms of the
    /// domain, not names peculiar to a few documents (which general text may hold too).
    pub min_word_docs: u64,
    pub text_key: String,
    /// Held-out domain text to measure on (default: the training corpus).
    pub eval_domain: Vec<String>,
    /// General text to measure on: how much of it the extension changes.
    pub eval_general: Vec<String>,
    /// Worker threads; `None` or 0 = all cores. The output does not depend on it.
    pub threads: Option<usize>,
    /// Protected text (e.g. general text): no merge is learned between two pieces adjacent in
    /// any of its words, so its encoding stays exactly the base one.
    pub protect: Vec<String>,
    /// Protect only the words exactly as written in the protected text. By default each word
    /// also protects its ASCII case variants (lower, Capitalized, UPPER) with and without the
    /// leading space, so general words in another casing or position (a capitalized title
    /// word, a sentence start) keep their base encoding too.
    pub protect_exact: bool,
    /// Write the merges learned even when the corpus yields fewer than `new_tokens`.
    pub allow_fewer: bool,
    /// Text bytes per parallel batch.
    pub batch_bytes: usize,
}

impl Default for ExtendOptions {
    fn default() -> Self {
        ExtendOptions {
            tokenizer: PathBuf::new(),
            inputs: Vec::new(),
            output: PathBuf::new(),
            new_tokens: 1000,
            min_frequency: 2,
            min_word_docs: 1,
            text_key: "text".into(),
            eval_domain: Vec::new(),
            eval_general: Vec::new(),
            protect: Vec::new(),
            protect_exact: false,
            threads: None,
            allow_fewer: false,
            batch_bytes: 8 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NewToken {
    pub id: u32,
    /// The token as the vocabulary spells it (byte-level characters, e.g. `Ġlicensee`).
    pub token: String,
    /// The text it stands for (lossy where the token is part of a UTF-8 character).
    pub text: String,
    /// Occurrences of its pair in the corpus when it was merged.
    pub count: u64,
    /// Its base tokenization: the pieces it was merged from.
    pub pieces: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorpusStats {
    pub files: Vec<String>,
    pub docs: u64,
    pub text_bytes: u64,
    pub distinct_words: u64,
    pub words: u64,
}

/// What `extend` did: written to `extend_report.json` and returned to callers.
#[derive(Debug, Clone, Serialize)]
pub struct ExtendReport {
    pub output: String,
    pub base_tokenizer: String,
    pub base_tokenizer_hash: String,
    pub tokenizer_hash: String,
    pub requested: usize,
    pub learned: usize,
    /// Why fewer than `requested` tokens were learned, if so.
    pub stopped_early: Option<String>,
    pub merges: usize,
    /// Merges whose result is a new token an earlier merge made (no new id).
    pub merges_reusing_new_tokens: usize,
    /// Frequent pairs not merged because their concatenation is a base or added token.
    pub skipped_base_spellings: usize,
    pub min_frequency: u64,
    pub min_word_docs: u64,
    /// Distinct corpus words left out of training by `min_word_docs`.
    pub words_below_min_docs: usize,
    /// Piece pairs never merged because they are adjacent in a word of the protected text (or,
    /// unless `protect_exact`, in one of its case / leading-space variants).
    pub protected_pairs: usize,
    pub protected_words: usize,
    pub protect_exact: bool,
    pub vocab_size_before: u64,
    pub vocab_size_after: u64,
    pub first_new_id: u32,
    /// Every base token (model and added) was checked to keep its id in the extended file.
    pub old_ids_checked: usize,
    pub old_ids_unchanged: bool,
    pub corpus: CorpusStats,
    /// True when no held-out domain text was given and the training corpus was measured.
    pub domain_is_training_corpus: bool,
    pub domain: EncodingStats,
    pub general: Option<EncodingStats>,
    pub new_tokens: Vec<NewToken>,
    pub threads: usize,
    pub seconds: f64,
}

/// Extend the base tokenizer with merges learned from the corpus; writes the output directory.
pub fn extend(opts: &ExtendOptions) -> Result<ExtendReport> {
    if opts.new_tokens == 0 {
        return Err(Error::Config("new_tokens must be at least 1".into()));
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = opts.threads.filter(|&n| n > 0) {
        pool = pool.num_threads(n);
    }
    let pool = pool
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    pool.install(|| extend_in_pool(opts))
}

fn extend_in_pool(opts: &ExtendOptions) -> Result<ExtendReport> {
    let start = Instant::now();
    let base = BaseTokenizer::load(&opts.tokenizer)?;
    let files = corpus::expand(&opts.inputs)?;
    let counts = corpus::count_words(&base.tokenizer, &files, &opts.text_key, opts.batch_bytes)?;

    // Each distinct word in its current pieces under the base merges.
    let bpe = base.bpe();
    let pieces: Vec<Vec<u32>> = counts
        .words
        .par_iter()
        .map(|(w, _)| {
            bpe.tokenize(w)
                .map(|toks| toks.into_iter().map(|t| t.id).collect())
                .map_err(|e| Error::Tokenizer(format!("cannot encode word {w:?}: {e}")))
        })
        .collect::<Result<_>>()?;
    // A word below min_word_docs takes no part in training (frequency 0).
    let freqs: Vec<u64> = counts
        .words
        .iter()
        .zip(&counts.doc_counts)
        .map(|((_, n), &d)| if d >= opts.min_word_docs { *n } else { 0 })
        .collect();
    let words_below_min_docs = freqs.iter().filter(|&&n| n == 0).count();
    let mut table = merges::TokenTable {
        strings: base.model_tokens.clone(),
        ids: base.taken.clone(),
        first_new: base.next_id,
        next_id: base.next_id,
    };
    let (protected, protected_words) = protected_pairs(&base, &opts.protect, opts)?;
    let protected_count = protected.len();
    let training = merges::learn(
        pieces,
        &freqs,
        &mut table,
        opts.new_tokens,
        opts.min_frequency,
        protected,
    );
    if training.new_tokens < opts.new_tokens && !opts.allow_fewer {
        return Err(Error::Tokenizer(format!(
            "the corpus ({} docs, {} distinct words) yields only {} of the {} new tokens asked \
             for: {}; give a bigger corpus, ask for fewer, lower min_frequency, or pass \
             allow_fewer (--allow-fewer) to keep the {} learned",
            counts.docs,
            counts.words.len(),
            training.new_tokens,
            opts.new_tokens,
            training.stopped_early.as_deref().unwrap_or("no pair left"),
            training.new_tokens
        )));
    }

    let new_tokens: Vec<(String, u32)> = (base.next_id..table.next_id)
        .map(|id| (table.strings[&id].clone(), id))
        .collect();
    let merge_strings: Vec<(String, String)> = training
        .merges
        .iter()
        .map(|m| {
            (
                table.strings[&m.left].clone(),
                table.strings[&m.right].clone(),
            )
        })
        .collect();
    let bytes = output::extended_json(&base, &new_tokens, &merge_strings)?;
    let (ext, checked) = output::verify(&base, &bytes, &new_tokens)?;

    let domain_files = if opts.eval_domain.is_empty() {
        files.clone()
    } else {
        corpus::expand(&opts.eval_domain)?
    };
    let measure = |f: &[PathBuf]| {
        measure::measure(
            &base.tokenizer,
            &ext,
            base.next_id,
            f,
            &opts.text_key,
            opts.batch_bytes,
        )
    };
    let domain = measure(&domain_files)?;
    let general = if opts.eval_general.is_empty() {
        None
    } else {
        Some(measure(&corpus::expand(&opts.eval_general)?)?)
    };

    let listed = training
        .merges
        .iter()
        .filter(|m| m.new_token)
        .map(|m| new_token_entry(&base, &ext, &table, m))
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&opts.output).map_err(|e| Error::io(&opts.output, e))?;
    let tok_path = opts.output.join(TOKENIZER_FILE);
    write_file(&tok_path, &bytes)?;
    let report = ExtendReport {
        output: opts.output.display().to_string(),
        base_tokenizer: opts.tokenizer.display().to_string(),
        base_tokenizer_hash: checksum_string(xxh3_64(&base.bytes)),
        tokenizer_hash: checksum_string(xxh3_64(&bytes)),
        requested: opts.new_tokens,
        learned: training.new_tokens,
        stopped_early: training.stopped_early,
        merges: training.merges.len(),
        merges_reusing_new_tokens: training.merges.len() - training.new_tokens,
        skipped_base_spellings: training.skipped_base_spelling,
        min_frequency: opts.min_frequency,
        min_word_docs: opts.min_word_docs,
        words_below_min_docs,
        protected_pairs: protected_count,
        protected_words,
        protect_exact: opts.protect_exact,
        vocab_size_before: u64::from(base.next_id),
        vocab_size_after: u64::from(table.next_id),
        first_new_id: base.next_id,
        old_ids_checked: checked,
        old_ids_unchanged: true,
        corpus: corpus_stats(&files, &counts),
        domain_is_training_corpus: opts.eval_domain.is_empty(),
        domain,
        general,
        new_tokens: listed,
        threads: rayon::current_num_threads(),
        seconds: start.elapsed().as_secs_f64(),
    };
    let mut json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::Tokenizer(format!("cannot serialize the report: {e}")))?;
    json.push(b'\n');
    write_file(&opts.output.join(REPORT_FILE), &json)?;
    Ok(report)
}

/// Every pair of base pieces adjacent in some word of the protected corpus (and, unless
/// `protect_exact`, in its variants), with the number of distinct words encoded for it.
fn protected_pairs(
    base: &BaseTokenizer,
    protect: &[String],
    opts: &ExtendOptions,
) -> Result<(HashSet<(u32, u32)>, usize)> {
    if protect.is_empty() {
        return Ok((HashSet::new(), 0));
    }
    let files = corpus::expand(protect)?;
    let counts = corpus::count_words(&base.tokenizer, &files, &opts.text_key, opts.batch_bytes)?;
    let mut words: Vec<String> = if opts.protect_exact {
        counts.words.into_iter().map(|(w, _)| w).collect()
    } else {
        counts
            .words
            .iter()
            .flat_map(|(w, _)| word_variants(w))
            .collect::<HashSet<String>>()
            .into_iter()
            .collect()
    };
    words.sort_unstable();
    let bpe = base.bpe();
    let pairs: Vec<Vec<(u32, u32)>> = words
        .par_iter()
        .map(|w| {
            let ids: Vec<u32> = bpe
                .tokenize(w)
                .map_err(|e| Error::Tokenizer(format!("cannot encode word {w:?}: {e}")))?
                .into_iter()
                .map(|t| t.id)
                .collect();
            Ok(ids.windows(2).map(|p| (p[0], p[1])).collect())
        })
        .collect::<Result<_>>()?;
    Ok((pairs.into_iter().flatten().collect(), words.len()))
}

/// The byte-level spelling of a leading space (GPT-2's byte-to-unicode map of 0x20).
const SPACE: char = '\u{120}';

/// A pre-tokenized word in its ASCII case variants (as is, lower, Capitalized, UPPER), each with
/// and without the leading space. Only ASCII letters change: the byte-level alphabet spells them
/// as themselves, while other characters stand for single bytes whose "case" means nothing.
pub fn word_variants(word: &str) -> Vec<String> {
    let core = word.strip_prefix(SPACE).unwrap_or(word);
    if core.is_empty() {
        return vec![word.to_owned()];
    }
    let lower = core.to_ascii_lowercase();
    let mut capital = lower.clone();
    if let Some(first) = capital.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let forms = [core.to_owned(), core.to_ascii_uppercase(), lower, capital];
    let mut out: Vec<String> = forms
        .iter()
        .flat_map(|f| [f.clone(), format!("{SPACE}{f}")])
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn new_token_entry(
    base: &BaseTokenizer,
    ext: &tokenizers::Tokenizer,
    table: &merges::TokenTable,
    m: &merges::Learned,
) -> Result<NewToken> {
    let token = table.strings[&m.id].clone();
    let pieces = base
        .bpe()
        .tokenize(&token)
        .map_err(|e| Error::Tokenizer(format!("cannot encode {token:?}: {e}")))?
        .into_iter()
        .map(|t| t.value)
        .collect();
    let text = ext
        .decode(&[m.id], false)
        .map_err(|e| Error::Tokenizer(format!("cannot decode new token {}: {e}", m.id)))?;
    Ok(NewToken {
        id: m.id,
        token,
        text,
        count: m.count,
        pieces,
    })
}

fn corpus_stats(files: &[PathBuf], c: &corpus::WordCounts) -> CorpusStats {
    CorpusStats {
        files: files.iter().map(|p| p.display().to_string()).collect(),
        docs: c.docs,
        text_bytes: c.text_bytes,
        distinct_words: c.words.len() as u64,
        words: c.occurrences,
    }
}

/// Every output goes through the engine's atomic write (temp name, then rename).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::io::write_atomic(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::word_variants;

    #[test]
    fn variants_change_ascii_case_and_the_leading_space_only() {
        assert_eq!(
            word_variants("\u{120}Governing"),
            [
                "GOVERNING",
                "Governing",
                "governing",
                "\u{120}GOVERNING",
                "\u{120}Governing",
                "\u{120}governing"
            ]
        );
        // Byte-level characters of a non-ASCII word (here "Über") keep their spelling.
        assert_eq!(
            word_variants("Ã\u{13e}ber"),
            [
                "Ã\u{13e}BER",
                "Ã\u{13e}ber",
                "\u{120}Ã\u{13e}BER",
                "\u{120}Ã\u{13e}ber"
            ]
        );
        assert_eq!(word_variants("\u{120}"), ["\u{120}"]);
    }
}
