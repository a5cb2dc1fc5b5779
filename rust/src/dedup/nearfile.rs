//! Near-dup straight from a JSONL file (plain, zstd or gzip, detected by magic
//! bytes): read, parse `text`, normalize and sketch in parallel, cluster. This is
//! the library / benchmark path; the curation pipeline streams through `NearDup`.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;

use super::neardup::{NearDup, NearDupOutcome};
use crate::{Error, Result};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// The bytes of a whole input file: mapped when plain, decompressed when zstd or gzip.
pub enum FileBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

/// The whole file, decompressed. A plain file is memory-mapped, so its pages are
/// read by the threads that parse them instead of copied up front by one.
pub fn read_all(path: &Path) -> Result<FileBytes> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(FileBytes::Owned(Vec::new()));
    }
    // SAFETY: the map is read-only and private to this call; a file truncated while
    // mapped could fault, as with any mmap reader (ripgrep makes the same trade).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let corrupt = |e: std::io::Error| Error::Corrupt {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    if map.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        zstd::stream::decode_all(&map[..])
            .map(FileBytes::Owned)
            .map_err(corrupt)
    } else if map.starts_with(&[0x1F, 0x8B]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&map[..])
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        Ok(FileBytes::Owned(out))
    } else {
        Ok(FileBytes::Mapped(map))
    }
}

/// Sketch every non-blank line of a JSONL file, in file order. Lines are found and
/// parsed in parallel; a line number is only counted for an error message.
pub fn sketch_jsonl(nd: &NearDup, path: &Path) -> Result<Vec<Vec<u8>>> {
    let data = read_all(path)?;
    let data: &[u8] = &data;
    data.par_split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            let input_err = |msg: String| {
                let offset = line.as_ptr() as usize - data.as_ptr() as usize;
                Error::Input {
                    path: path.to_path_buf(),
                    line: memchr::memchr_iter(b'\n', &data[..offset]).count() as u64 + 1,
                    msg,
                }
            };
            let rec: Record =
                serde_json::from_slice(line).map_err(|e| input_err(format!("bad JSON: {e}")))?;
            let text = rec
                .text
                .ok_or_else(|| input_err("missing string field `text`".into()))?;
            Ok(nd.sketch_raw(&text))
        })
        .collect()
}

/// Near-dup clustering of a JSONL file; ordinals in the outcome are 0-based record numbers.
pub fn dedup_jsonl(
    nd: &NearDup,
    path: &Path,
    spill_dir: Option<&Path>,
) -> Result<(u64, NearDupOutcome)> {
    let sketches = sketch_jsonl(nd, path)?;
    let n = sketches.len() as u64;
    let outcome = nd.cluster(
        sketches.into_iter().enumerate().map(|(i, s)| (i as u64, s)),
        spill_dir,
    )?;
    Ok((n, outcome))
}
