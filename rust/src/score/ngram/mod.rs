//! A word n-gram language model, the CCNet approach in Rust: words are the shared
//! analysis' normalized words (`crate::analysis::Analysis::normalized`, so training and
//! scoring split text identically), each document is one sentence `<s> w1 .. wn </s>`,
//! words below a minimum count become `<unk>`, and the model is estimated with
//! interpolated modified Kneser-Ney (Chen & Goodman 1998) or stupid backoff (Brants et al.
//! 2007), optionally pruned by count, and stored in backoff form in the `.cptlm` binary
//! format (FORMAT.md, "n-gram language model").
//!
//! Memory: training holds every distinct n-gram of every order (a 16-byte packed key and
//! 24 bytes of counts and estimates, plus the hash map's overhead: about 48 bytes each);
//! `max_ngrams` bounds the highest order by lossy counting. A loaded model takes 16-byte
//! slots in tables at most 60 % full (about 27 to 53 bytes per stored n-gram) plus its
//! vocabulary.

mod format;
mod grams;
mod model;
pub mod shared;
mod table;
mod train;

pub use format::{decode, encode, HEADER_BYTES, MAGIC, VERSION};
pub use model::{LmModel, LmScore};
pub use table::Entry;
pub use train::{train, train_from_docs, Smoothing, TrainOptions, TrainReport};

/// Word id of the unknown word.
pub const UNK: u32 = 0;
/// Word id of the sentence start (a context only, never predicted).
pub const BOS: u32 = 1;
/// Word id of the sentence end.
pub const EOS: u32 = 2;
/// The spellings of ids 0, 1, 2 in the vocabulary (normalized words never hold '<').
pub const SPECIALS: [&str; 3] = ["<unk>", "<s>", "</s>"];
/// Highest supported order (5 ids of 25 bits pack into one u128 while training).
pub const MAX_ORDER: usize = 5;
/// Largest vocabulary (ids are 25-bit while training).
pub const MAX_VOCAB: usize = (1 << 25) - 1;
/// log10 of "probability zero" in the stored tables (ARPA's convention): `<s>`'s unigram.
pub const LOG_ZERO: f32 = -99.0;

/// What a model file holds: the vocabulary, unigrams by id, and for each order 2..=N its
/// n-grams (ids, flat, sorted) with their log10 probability and backoff.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelData {
    pub order: usize,
    pub smoothing: Smoothing,
    /// Stupid backoff's factor (0 for Kneser-Ney).
    pub alpha: f64,
    pub vocab: Vec<String>,
    pub unigrams: Vec<Entry>,
    /// `ngrams[n - 2]` = (ids, n per entry, flat; entries) of order n.
    pub ngrams: Vec<(Vec<u32>, Vec<Entry>)>,
}

#[cfg(test)]
mod tests;
