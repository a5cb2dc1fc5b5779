//! `manifest.json` (FORMAT.md section 3): what a dataset holds and how it was made. Nothing in it
//! depends on time or thread count, so a rerun gives the same bytes.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

    /// The shard files, each resolved inside the dataset directory (the manifest's own,
    /// symlinks resolved) and checked to be a regular file listed once; the totals must add
    /// up. Mirrors `cpt/data/manifest.py`, so a manifest cannot make a reader open a file
    /// elsewhere or block on a FIFO.
    pub fn shard_paths(&self, manifest_path: &Path) -> Result<Vec<PathBuf>> {
        let bad = |i: usize, msg: String| Error::Shard {
            path: manifest_path.to_path_buf(),
            msg: format!("shards[{i}].file: {msg}"),
        };
        let parent = manifest_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let root = parent.canonicalize().map_err(|e| Error::io(parent, e))?;
        let mut seen: HashMap<PathBuf, usize> = HashMap::new();
        let mut out = Vec::with_capacity(self.shards.len());
        for (i, e) in self.shards.iter().enumerate() {
            let name = e.file.as_str();
            if name.is_empty() || name.contains('\0') {
                return Err(bad(i, "empty or contains a NUL byte".into()));
            }
            if Path::new(name).is_absolute() || name.starts_with(['/', '\\']) {
                return Err(bad(
                    i,
                    format!("{name:?} is absolute; shard paths are relative to the manifest"),
                ));
            }
            if name.split(['/', '\\']).any(|c| c == "..") {
                return Err(bad(
                    i,
                    format!("{name:?} contains '..'; shards must lie inside the dataset directory"),
                ));
            }
            let joined = root.join(name);
            let resolved = joined
                .canonicalize()
                .map_err(|err| bad(i, format!("shard {}: {err}", joined.display())))?;
            if !resolved.starts_with(&root) {
                return Err(bad(
                    i,
                    format!(
                        "{name:?} resolves to {}, outside the dataset directory {} (a symlink?)",
                        resolved.display(),
                        root.display()
                    ),
                ));
            }
            let meta = std::fs::metadata(&resolved)
                .map_err(|err| bad(i, format!("shard {}: {err}", resolved.display())))?;
            if !meta.is_file() {
                return Err(bad(
                    i,
                    format!(
                        "shard {} is not a regular file (a FIFO, device or directory)",
                        resolved.display()
                    ),
                ));
            }
            if let Some(first) = seen.insert(resolved.clone(), i) {
                return Err(bad(
                    i,
                    format!(
                        "{name:?} is the same file as shards[{first}]; a shard is listed twice"
                    ),
                ));
            }
            out.push(resolved);
        }
        let sum = |f: fn(&ShardEntry) -> u64| self.shards.iter().map(f).sum::<u64>();
        for (key, want, got) in [
            ("shards", self.totals.shards, self.shards.len() as u64),
            ("tokens", self.totals.tokens, sum(|e| e.tokens)),
            ("docs", self.totals.docs, sum(|e| e.docs)),
            ("bytes", self.totals.bytes, sum(|e| e.bytes)),
        ] {
            if want != got {
                return Err(Error::Shard {
                    path: manifest_path.to_path_buf(),
                    msg: format!("totals.{key}: says {want}, the shard entries add up to {got}"),
                });
            }
        }
        Ok(out)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[&str]) -> Manifest {
        let shards: Vec<ShardEntry> = files
            .iter()
            .map(|f| ShardEntry {
                file: (*f).to_string(),
                tokens: 1,
                docs: 1,
                bytes: 1,
                checksum: String::new(),
            })
            .collect();
        let n = shards.len() as u64;
        Manifest {
            format: FORMAT_NAME.into(),
            format_version: 1,
            tool: Tool {
                name: "t".into(),
                version: "0".into(),
            },
            dtype: "uint16".into(),
            frame_tokens: 1,
            tokenizer: TokenizerInfo {
                hash: "h".into(),
                file: "f".into(),
                vocab_size: 10,
                eos_id: 0,
                eos_token: "e".into(),
                bos_id: None,
                bos_token: None,
            },
            totals: Totals {
                shards: n,
                tokens: n,
                docs: n,
                bytes: n,
            },
            shards,
            inputs: Vec::new(),
            curation_config_hash: None,
            options: ManifestOptions {
                shard_tokens: 1,
                frame_tokens: 1,
                zstd_level: 1,
                text_key: "text".into(),
            },
        }
    }

    #[test]
    fn shard_paths_stay_inside_the_dataset_and_are_regular_files_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("ds");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("a.cpts"), b"x").unwrap();
        std::fs::write(dir.path().join("outside.cpts"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.cpts"), d.join("link.cpts")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let mp = d.join("manifest.json");
        assert_eq!(manifest(&["a.cpts"]).shard_paths(&mp).unwrap().len(), 1);
        let outside = dir
            .path()
            .join("outside.cpts")
            .to_string_lossy()
            .into_owned();
        for (files, want) in [
            (vec!["../outside.cpts"], "contains '..'"),
            (vec![outside.as_str()], "is absolute"),
            (vec!["link.cpts"], "outside the dataset directory"),
            (vec!["sub"], "not a regular file"),
            (vec!["a.cpts", "./a.cpts"], "listed twice"),
            (vec!["missing.cpts"], "missing.cpts"),
            (vec![""], "empty"),
        ] {
            let e = manifest(&files).shard_paths(&mp).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("manifest.json"),
                "{files:?}: {e}"
            );
        }
        let mut m = manifest(&["a.cpts"]);
        m.totals.tokens = 5;
        let e = m.shard_paths(&mp).unwrap_err().to_string();
        assert!(e.contains("totals.tokens: says 5"), "{e}");
    }
}
