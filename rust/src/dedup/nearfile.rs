//! Near-dup straight from a JSONL file (plain, zstd or gzip, detected by magic
//! bytes): read, parse `text`, normalize and sketch in parallel, cluster. This is
//! the library / benchmark path; the curation pipeline streams through `NearDup`.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;

use super::neardup::{NearDup, NearDupOutcome};
use super::textprep::normalize_into;
use crate::{Error, Result};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// The whole file, decompressed.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let corrupt = |e: std::io::Error| Error::Corrupt {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    if raw.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        zstd::stream::decode_all(raw.as_slice()).map_err(corrupt)
    } else if raw.starts_with(&[0x1F, 0x8B]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Sketch every non-blank line of a JSONL file; returns (line number, sketch), in file order.
pub fn sketch_jsonl(nd: &NearDup, path: &Path) -> Result<Vec<(u64, Vec<u8>)>> {
    let data = read_all(path)?;
    let mut lines: Vec<(u64, &[u8])> = Vec::new();
    let mut start = 0usize;
    let mut line_no = 0u64;
    for end in memchr::memchr_iter(b'\n', &data).chain(std::iter::once(data.len())) {
        line_no += 1;
        let line = &data[start..end];
        start = end + 1;
        if !line.iter().all(u8::is_ascii_whitespace) {
            lines.push((line_no, line));
        }
        if end == data.len() {
            break;
        }
    }
    lines
        .par_iter()
        .with_min_len(64)
        .map_init(String::new, |norm, &(line_no, line)| {
            let input_err = |msg: String| Error::Input {
                path: path.to_path_buf(),
                line: line_no,
                msg,
            };
            let rec: Record =
                serde_json::from_slice(line).map_err(|e| input_err(format!("bad JSON: {e}")))?;
            let text = rec
                .text
                .ok_or_else(|| input_err("missing string field `text`".into()))?;
            normalize_into(&text, norm);
            Ok((line_no, nd.sketch(norm)))
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
        sketches
            .into_iter()
            .enumerate()
            .map(|(i, (_, s))| (i as u64, s)),
        spill_dir,
    )?;
    Ok((n, outcome))
}
