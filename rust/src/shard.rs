//! Token shards: the on-disk format of FORMAT.md (version 1), its writer, its reader, the
//! dataset manifest and the Megatron-LM export.

pub mod format;
pub mod manifest;
pub mod megatron;
pub mod reader;
pub mod writer;

pub use format::{Dtype, FORMAT_VERSION, MAGIC};
pub use manifest::{Manifest, ShardEntry};
pub use reader::{Dataset, ShardReader};
pub use writer::{ShardSummary, ShardWriter};
