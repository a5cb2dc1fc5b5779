//! Scorers: per-document scores that scan stages record as attributes and that selection
//! reads. `ngram` is the CCNet-style word n-gram language model (training, its binary
//! format, scoring); `stages` are the `perplexity` and `domain_relevance` (Moore-Lewis)
//! scan stages built on it.

pub mod ngram;
pub mod stages;
