//! cpt's curation engine: pure Rust, no Python. The `cpt-curate` binary and the
//! PyO3 module `cpt._engine` are two thin faces over these modules.

pub mod cli;
pub mod config;
pub mod dedup;
pub mod error;
pub mod filters;
pub mod input;
pub mod io;
pub mod normalize;
pub mod pipeline;
pub mod report;
pub mod shard;
pub mod tokenize;

pub use error::{Error, Result};
