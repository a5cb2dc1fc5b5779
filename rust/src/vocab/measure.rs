//! Before/after measurements of an extension on an evaluation corpus: tokens per document,
//! characters per token, fertility (tokens per word), the share of documents whose encoding
//! changed, and the round trip `decode(encode(x)) == x` under the extended tokenizer.

use super::corpus::{self, Doc};
use crate::tokenize::stats::count_chars_words;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use tokenizers::Tokenizer;

#[derive(Debug, Clone, Default, Serialize)]
pub struct EncodingStats {
    pub files: Vec<String>,
    pub docs: u64,
    pub chars: u64,
    pub words: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub tokens_per_doc_before: f64,
    pub tokens_per_doc_after: f64,
    pub chars_per_token_before: f64,
    pub chars_per_token_after: f64,
    /// Tokens per word (a word: a run of letters or digits).
    pub fertility_before: f64,
    pub fertility_after: f64,
    /// 1 - tokens_after / tokens_before.
    pub token_reduction: f64,
    pub docs_changed: u64,
    pub share_unchanged: f64,
    /// Occurrences of new tokens in the extended encodings.
    pub new_token_uses: u64,
    /// Documents whose encoding changed although no new token is in it: must be 0.
    pub changed_without_new_token: u64,
    /// Documents where decode(encode(x)) != x, with the base and the extended tokenizer.
    pub round_trip_failures_before: u64,
    pub round_trip_failures_after: u64,
    /// `file:line` of the first document that fails the round trip with the extended tokenizer.
    pub first_round_trip_failure: Option<String>,
}

/// Per-document figures, summed over a batch.
#[derive(Default)]
struct DocFigures {
    docs: u64,
    chars: u64,
    words: u64,
    before: u64,
    after: u64,
    changed: u64,
    new_uses: u64,
    changed_without_new: u64,
    rt_before: u64,
    rt_after: u64,
    /// (file index, line) of the first round-trip failure.
    first_failure: Option<(usize, u64)>,
}

impl DocFigures {
    fn add(mut self, o: DocFigures) -> DocFigures {
        self.docs += o.docs;
        self.chars += o.chars;
        self.words += o.words;
        self.before += o.before;
        self.after += o.after;
        self.changed += o.changed;
        self.new_uses += o.new_uses;
        self.changed_without_new += o.changed_without_new;
        self.rt_before += o.rt_before;
        self.rt_after += o.rt_after;
        // The earliest in input order, whatever order the batch was reduced in.
        self.first_failure = match (self.first_failure, o.first_failure) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }
}

/// Encode every document of `files` with both tokenizers and compare.
pub fn measure(
    base: &Tokenizer,
    extended: &Tokenizer,
    first_new: u32,
    files: &[PathBuf],
    text_key: &str,
    batch_bytes: usize,
) -> Result<EncodingStats> {
    let mut total = DocFigures::default();
    corpus::for_each_batch(files, text_key, batch_bytes, |batch| {
        let sum = batch
            .par_iter()
            .map(|doc| figures(base, extended, first_new, doc, files))
            .try_reduce(DocFigures::default, |a, b| Ok(a.add(b)))?;
        total = std::mem::take(&mut total).add(sum);
        Ok(())
    })?;
    let t = total;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(EncodingStats {
        files: files.iter().map(|p| p.display().to_string()).collect(),
        docs: t.docs,
        chars: t.chars,
        words: t.words,
        tokens_before: t.before,
        tokens_after: t.after,
        tokens_per_doc_before: ratio(t.before, t.docs),
        tokens_per_doc_after: ratio(t.after, t.docs),
        chars_per_token_before: ratio(t.chars, t.before),
        chars_per_token_after: ratio(t.chars, t.after),
        fertility_before: ratio(t.before, t.words),
        fertility_after: ratio(t.after, t.words),
        token_reduction: 1.0 - ratio(t.after, t.before),
        docs_changed: t.changed,
        share_unchanged: 1.0 - ratio(t.changed, t.docs),
        new_token_uses: t.new_uses,
        changed_without_new_token: t.changed_without_new,
        round_trip_failures_before: t.rt_before,
        round_trip_failures_after: t.rt_after,
        first_round_trip_failure: t
            .first_failure
            .map(|(f, line)| format!("{}:{line}", files[f].display())),
    })
}

fn figures(
    base: &Tokenizer,
    extended: &Tokenizer,
    first_new: u32,
    doc: &Doc,
    files: &[PathBuf],
) -> Result<DocFigures> {
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::Input {
        path: files[doc.file].clone(),
        line: doc.line,
        msg: format!("{what}: {e}"),
    };
    let encode = |t: &Tokenizer| {
        t.encode_fast(doc.text.as_str(), false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| fail("cannot encode", &e))
    };
    let round_trips = |t: &Tokenizer, ids: &[u32]| {
        t.decode(ids, false)
            .map(|s| s == doc.text)
            .map_err(|e| fail("cannot decode", &e))
    };
    let (before, after) = (encode(base)?, encode(extended)?);
    let (chars, words) = count_chars_words(&doc.text);
    let new_uses = after.iter().filter(|&&id| id >= first_new).count() as u64;
    let changed = before != after;
    let rt_after = !round_trips(extended, &after)?;
    Ok(DocFigures {
        docs: 1,
        chars,
        words,
        before: before.len() as u64,
        after: after.len() as u64,
        changed: u64::from(changed),
        new_uses,
        changed_without_new: u64::from(changed && new_uses == 0),
        rt_before: u64::from(!round_trips(base, &before)?),
        rt_after: u64::from(rt_after),
        first_failure: rt_after.then_some((doc.file, doc.line)),
    })
}
