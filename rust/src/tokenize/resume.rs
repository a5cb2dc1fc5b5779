//! The tokenize stage's resume unit: the job identity and the list of completed shards
//! (`.tokenize-state.json`), checked against the shard files before they are reused.

use super::{shard_name, TokenizeOptions};
use crate::io::write_atomic;
use crate::shard::format::checksum_string;
use crate::shard::manifest::{InputEntry, ShardEntry};
use crate::shard::writer::file_checksum;
use crate::shard::{ShardReader, FORMAT_VERSION};
use crate::tokenize::setup::TokenizerSetup;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

const STATE: &str = ".tokenize-state.json";

/// The resume record: which shards of which job are complete.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    job: String,
    shards: Vec<ShardEntry>,
}

/// Identity of a job: a rerun may reuse shards only if all of this is unchanged.
pub(super) fn job_hash(
    opts: &TokenizeOptions,
    setup: &TokenizerSetup,
    inputs: &[InputEntry],
) -> String {
    let key = serde_json::json!({
        "format_version": FORMAT_VERSION,
        "tokenizer": setup.hash,
        "eos": setup.eos_id,
        "inputs": inputs,
        // Same size is not same content: an edited input must not reuse old shards.
        "mtimes": inputs.iter().map(|i| mtime_nanos(Path::new(&i.path))).collect::<Vec<_>>(),
        "shard_tokens": opts.shard_tokens,
        "frame_tokens": opts.frame_tokens,
        "zstd_level": opts.zstd_level,
        "text_key": opts.text_key,
    });
    checksum_string(xxhash_rust::xxh3::xxh3_64(key.to_string().as_bytes()))
}

pub(super) fn mtime_nanos(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The completed shards of an interrupted run of the same job that still verify, in order.
pub(super) fn resume(dir: &Path, job: &str) -> Result<Vec<ShardEntry>> {
    let path = dir.join(STATE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(Vec::new());
    };
    let Ok(state) = serde_json::from_slice::<State>(&bytes) else {
        return Ok(Vec::new());
    };
    if state.job != job {
        return Ok(Vec::new());
    }
    let mut kept = Vec::new();
    for (i, e) in state.shards.into_iter().enumerate() {
        let p = dir.join(&e.file);
        let ok = e.file == shard_name(i)
            && ShardReader::open(&p).and_then(|mut r| r.verify()).is_ok()
            && file_checksum(&p).map(checksum_string).ok().as_deref() == Some(e.checksum.as_str());
        if !ok {
            break;
        }
        kept.push(e);
    }
    Ok(kept)
}

pub(super) fn save_state(dir: &Path, job: &str, shards: &[ShardEntry]) -> Result<()> {
    let state = State {
        job: job.to_owned(),
        shards: shards.to_vec(),
    };
    write_atomic(
        &dir.join(STATE),
        serde_json::to_string(&state)
            .expect("state serializes")
            .as_bytes(),
    )
}

/// Remove shard files (and temporaries) of ours beyond the `count` this run wrote.
pub(super) fn remove_stale_shards(dir: &Path, count: usize) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let stale_tmp = name.starts_with(".shard-") && name.ends_with(".cpts.tmp");
        let stale = name
            .strip_prefix("shard-")
            .and_then(|n| n.strip_suffix(".cpts"))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|i| i >= count && name == shard_name(i));
        if stale || stale_tmp {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

pub(super) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
