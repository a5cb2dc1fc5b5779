//! `manifest.json` (FORMAT.md section 3): what a dataset holds and how it was made. Nothing in it
//! depends on time or thread count, so a rerun gives the same bytes.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT_NAME: &str = "cpt-token-shards";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub tool: Tool,
    pub dtype: String,
    pub frame_tokens: u32,
    pub tokenizer: TokenizerInfo,
    pub totals: Totals,
    pub shards: Vec<ShardEntry>,
    pub inputs: Vec<InputEntry>,
    pub curation_config_hash: Option<String>,
    pub options: ManifestOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    pub hash: String,
    pub file: String,
    pub vocab_size: u64,
    pub eos_id: u32,
    pub eos_token: String,
    pub bos_id: Option<u32>,
    pub bos_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub shards: u64,
    pub tokens: u64,
    pub docs: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub file: String,
    pub tokens: u64,
    pub docs: u64,
    pub bytes: u64,
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOptions {
    pub shard_tokens: u64,
    pub frame_tokens: u32,
    pub zstd_level: i32,
    pub text_key: String,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Shard {
            path: path.to_path_buf(),
            msg: format!("bad manifest: {e}"),
        })?;
        if m.format != FORMAT_NAME || m.format_version != u32::from(super::FORMAT_VERSION) {
            return Err(Error::Shard {
                path: path.to_path_buf(),
                msg: format!(
                    "manifest of format {} version {}, expected {FORMAT_NAME} version {}",
                    m.format,
                    m.format_version,
                    super::FORMAT_VERSION
                ),
            });
        }
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s
    }
}
