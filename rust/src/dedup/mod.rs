//! Deduplication: exact (xxh3-128 of normalized text) and near (MinHash LSH).

pub mod exact;
pub mod lsh;
pub mod minhash;
