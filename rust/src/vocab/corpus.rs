//! Corpus access for the extension: documents in batches (through the engine's input layer),
//! and the word frequencies BPE training starts from, split exactly as the base tokenizer splits
//! text (added tokens cut out, then its normalizer and pre-tokenizer).

use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::{OffsetReferential, OffsetType, PreTokenizer, Tokenizer};

/// One document: where it came from (file, 1-based line or Parquet row) and its text.
pub struct Doc {
    pub file: usize,
    pub line: u64,
    pub text: String,
}

/// The input files of `inputs` (files, directories, globs), in the engine's order. The one
/// place that names the engine's input layer, so a refactor of it is a one-line change here.
pub fn expand(inputs: &[String]) -> Result<Vec<PathBuf>> {
    Ok(crate::input::expand_inputs(inputs, None)?
        .into_iter()
        .map(|f| f.path)
        .collect())
}

/// Calls `f` with consecutive batches of documents (about `batch_bytes` of text each), in
/// input order. A malformed line is an error naming the file and line.
pub fn for_each_batch(
    files: &[PathBuf],
    text_key: &str,
    batch_bytes: usize,
    mut f: impl FnMut(Vec<Doc>) -> Result<()>,
) -> Result<()> {
    let mut batch: Vec<Doc> = Vec::new();
    let mut bytes = 0usize;
    for (file, path) in files.iter().enumerate() {
        crate::input::for_each_text(path, text_key, |line, text| {
            bytes += text.len();
            batch.push(Doc { file, line, text });
            if bytes >= batch_bytes {
                bytes = 0;
                f(std::mem::take(&mut batch))?;
            }
            Ok(())
        })?;
    }
    if !batch.is_empty() {
        f(batch)?;
    }
    Ok(())
}

/// Word frequencies of a corpus, sorted by word (so training never sees hash order).
pub struct WordCounts {
    pub words: Vec<(String, u64)>,
    /// For each entry of `words`: how many documents hold it.
    pub doc_counts: Vec<u64>,
    pub docs: u64,
    pub text_bytes: u64,
    /// Pre-tokenized words in total (with repeats).
    pub occurrences: u64,
}

/// Count the pre-tokenized words of every document. Runs on the current rayon pool; the result
/// does not depend on the thread count (counts are sums, the output is sorted).
pub fn count_words(
    tokenizer: &Tokenizer,
    files: &[PathBuf],
    text_key: &str,
    batch_bytes: usize,
) -> Result<WordCounts> {
    // word -> (occurrences, documents)
    let mut total: HashMap<String, (u64, u64)> = HashMap::new();
    let (mut docs, mut text_bytes) = (0u64, 0u64);
    for_each_batch(files, text_key, batch_bytes, |batch| {
        docs += batch.len() as u64;
        text_bytes += batch.iter().map(|d| d.text.len() as u64).sum::<u64>();
        let local = batch
            .par_iter()
            .map(|doc| {
                let mut m = HashMap::new();
                add_words(tokenizer, &doc.text, &mut m)
                    .map_err(|e| doc_error(&files[doc.file], doc.line, &e))?;
                Ok(m.into_iter().map(|(w, n)| (w, (n, 1))).collect())
            })
            .try_reduce(HashMap::new, |a, b| Ok(merge_counts(a, b)))?;
        total = merge_counts(std::mem::take(&mut total), local);
        Ok(())
    })?;
    let occurrences = total.values().map(|c| c.0).sum();
    let mut entries: Vec<(String, (u64, u64))> = total.into_iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let doc_counts = entries.iter().map(|(_, c)| c.1).collect();
    let words = entries.into_iter().map(|(w, c)| (w, c.0)).collect();
    Ok(WordCounts {
        words,
        doc_counts,
        docs,
        text_bytes,
        occurrences,
    })
}

fn doc_error(path: &Path, line: u64, msg: &str) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line,
        msg: format!("cannot pre-tokenize: {msg}"),
    }
}

/// Add the words of `text` as the tokenizer splits it; spans matched by added tokens are not
/// words (the model never sees them as text).
fn add_words(
    tok: &Tokenizer,
    text: &str,
    counts: &mut HashMap<String, u64>,
) -> std::result::Result<(), String> {
    let mut pre = tok
        .get_added_vocabulary()
        .extract_and_normalize(tok.get_normalizer(), text);
    if let Some(pt) = tok.get_pre_tokenizer() {
        pt.pre_tokenize(&mut pre).map_err(|e| e.to_string())?;
    }
    for (word, _, tokens) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
        if tokens.is_some() || word.is_empty() {
            continue;
        }
        match counts.get_mut(word) {
            Some(n) => *n += 1,
            None => {
                counts.insert(word.to_owned(), 1);
            }
        }
    }
    Ok(())
}

/// The sum of two frequency tables (the smaller is folded into the larger).
fn merge_counts(
    a: HashMap<String, (u64, u64)>,
    b: HashMap<String, (u64, u64)>,
) -> HashMap<String, (u64, u64)> {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (w, (n, d)) in small {
        let e = big.entry(w).or_insert((0, 0));
        e.0 += n;
        e.1 += d;
    }
    big
}
