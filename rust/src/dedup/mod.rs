//! Deduplication: exact (xxh3-128 of normalized text) and near (MinHash LSH).

pub mod bandtable;
pub mod batch;
pub mod exact;
pub mod extsort;
pub mod lsh;
pub mod minhash;
pub mod neardup;
pub mod nearfile;
pub mod shingle;
pub mod textprep;

pub use lsh::{LshIndex, LshPlan};
pub use minhash::{ByteSize, MinHashConfig, MinHasher, Shingle, Signature};
pub use neardup::{NearDup, NearDupHit, NearDupOutcome, NearDupStats};
