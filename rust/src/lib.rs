//! cpt's curation engine: pure Rust, no Python. The `cpt-curate` binary and the
//! PyO3 module `cpt._engine` are two thin faces over these modules.

pub mod analysis;
pub mod cli;
pub mod config;
pub mod dedup;
pub mod error;
pub mod exec;
pub mod filters;
#[cfg(test)]
mod fuzzing;
pub mod input;
pub mod io;
pub mod keywords;
pub mod normalize;
pub mod pipeline;
pub mod report;
pub mod score;
pub mod select;
pub mod shard;
pub mod stage;
pub mod tokenize;
pub mod vocab;

pub use error::{Error, Result};
