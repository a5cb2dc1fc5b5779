//! Scorers: per-document scores that scan stages record as attributes and that selection
//! (`crate::select`) reads. `ngram` is the CCNet-style word n-gram language model
//! (training, its binary format, scoring); `stages` are the `perplexity` and
//! `domain_relevance` (Moore-Lewis) scan stages built on it; `langid` is language
//! identification (whatlang); `classifier` the hashed-feature domain classifier; `label`
//! packs label attributes (a language code) into the numeric attribute records.

pub mod classifier;
pub mod label;
pub mod langid;
pub mod ngram;
pub mod stages;
