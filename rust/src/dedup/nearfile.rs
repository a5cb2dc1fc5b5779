//! Near-dup straight from a JSONL file (plain, zstd or gzip, detected by magic
//! bytes): read, parse `text`, normalize and sketch in parallel, cluster. This is
//! the library / benchmark path; the curation pipeline streams through `NearDup`.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;

use super::neardup::{NearDup, NearDupOutcome};
use crate::io::{detect, Compression};
use crate::{Error, Result};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// The whole file, decompressed (a plain file is memory-mapped).
pub fn read_all(path: &Path) -> Result<FileBytes> {
    match open_mapped(path)? {
        None => Ok(FileBytes::Owned(Vec::new())),
        Some(map) => match detect(&map) {
            Compression::Plain => Ok(FileBytes::Mapped(map)),
            kind => Ok(FileBytes::Owned(decompress(kind, &map, path)?)),
        },
    }
}

fn decompress(kind: Compression, bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decoder(kind, bytes, path)?
        .read_to_end(&mut out)
        .map_err(|e| corrupt(path, &e))?;
    Ok(out)
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

/// A read-only map of the file (None when it is empty). Its pages are then read by the
/// threads that parse them instead of copied up front by one.
fn open_mapped(path: &Path) -> Result<Option<memmap2::Mmap>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().map_err(|e| Error::io(path, e))?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only and private to this call; a file truncated while
    // mapped could fault, as with any mmap reader (ripgrep makes the same trade).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(Some(map))
}

fn decoder<'a>(
    kind: Compression,
    bytes: &'a [u8],
    path: &Path,
) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(match kind {
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(bytes).map_err(|e| corrupt(path, &e))?)
        }
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Compression::Plain => Box::new(bytes),
    })
}

fn corrupt(path: &Path, e: &std::io::Error) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Decompressed bytes handed from the decoding thread to the sketching pool at a time.
const BLOCK_BYTES: usize = 8 << 20;

/// Sketch every non-blank line of a JSONL file, in file order. Lines are found and
/// parsed in parallel. A compressed file is decoded on a thread of its own, a block at a
/// time, while the pool sketches the block before (with a pool of one thread, first).
pub fn sketch_jsonl(nd: &NearDup, path: &Path) -> Result<Vec<Vec<u8>>> {
    let Some(map) = open_mapped(path)? else {
        return Ok(Vec::new());
    };
    match detect(&map) {
        Compression::Plain => sketch_lines(nd, path, &map, 0),
        kind if rayon::current_num_threads() < 2 => {
            sketch_lines(nd, path, &decompress(kind, &map, path)?, 0)
        }
        kind => sketch_blocks(nd, path, decoder(kind, &map, path)?, BLOCK_BYTES),
    }
}

/// Sketch a decompressed stream block by block (blocks end at a newline).
fn sketch_blocks(
    nd: &NearDup,
    path: &Path,
    mut reader: Box<dyn Read + Send + '_>,
    block_bytes: usize,
) -> Result<Vec<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut carry = Vec::new();
            loop {
                let mut block = std::mem::take(&mut carry);
                match (&mut reader)
                    .take(block_bytes as u64)
                    .read_to_end(&mut block)
                {
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    Ok(0) => {
                        if !block.is_empty() {
                            let _ = tx.send(Ok(block));
                        }
                        return;
                    }
                    Ok(_) => {
                        // Keep the unfinished last line for the next block.
                        if let Some(end) = memchr::memrchr(b'\n', &block) {
                            carry = block.split_off(end + 1);
                        } else {
                            carry = block;
                            continue;
                        }
                    }
                }
                if tx.send(Ok(block)).is_err() {
                    return; // the consumer stopped on an error
                }
            }
        });
        let mut sketches = Vec::new();
        let mut lines_before = 0u64;
        for block in rx {
            let block = block.map_err(|e| corrupt(path, &e))?;
            sketches.extend(sketch_lines(nd, path, &block, lines_before)?);
            lines_before += memchr::memchr_iter(b'\n', &block).count() as u64;
        }
        Ok(sketches)
    })
}

/// Sketch the non-blank lines of `data`, which starts after `lines_before` lines of the file.
fn sketch_lines(nd: &NearDup, path: &Path, data: &[u8], lines_before: u64) -> Result<Vec<Vec<u8>>> {
    data.par_split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            let input_err = |msg: String| {
                let offset = line.as_ptr() as usize - data.as_ptr() as usize;
                let line =
                    lines_before + memchr::memchr_iter(b'\n', &data[..offset]).count() as u64;
                Error::Input {
                    path: path.to_path_buf(),
                    line: line + 1,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::MinHashConfig;

    fn jsonl(lines: usize, bad_at: Option<usize>) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 1..=lines {
            if Some(i) == bad_at {
                out.extend_from_slice(b"{not json\n");
            } else if i % 17 == 0 {
                out.extend_from_slice(b"   \n");
            } else {
                let words: Vec<String> = (0..(i % 40 + 3))
                    .map(|w| format!("w{}", w * i % 23))
                    .collect();
                out.extend_from_slice(
                    format!("{{\"text\": \"{}\"}}\n", words.join(" ")).as_bytes(),
                );
            }
        }
        out
    }

    fn blocks(data: &[u8], block: usize) -> Result<Vec<Vec<u8>>> {
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let packed = zstd::encode_all(data, 3).unwrap();
        let path = Path::new("x.jsonl.zst");
        let reader = decoder(Compression::Zstd, &packed, path)?;
        sketch_blocks(&nd, path, reader, block)
    }

    #[test]
    fn blocks_give_the_sketches_of_one_pass() {
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let data = jsonl(300, None);
        let whole = sketch_lines(&nd, Path::new("x"), &data, 0).unwrap();
        assert_eq!(whole.len(), 300 - 300 / 17);
        // Blocks smaller than some lines, and one block for everything.
        for block in [50, 1000, 1 << 20] {
            assert_eq!(blocks(&data, block).unwrap(), whole, "block {block}");
        }
    }

    #[test]
    fn errors_name_the_file_line_across_blocks() {
        let err = blocks(&jsonl(300, Some(250)), 200).unwrap_err().to_string();
        assert!(err.contains("x.jsonl.zst") && err.contains("250"), "{err}");
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let mut packed = zstd::encode_all(&jsonl(300, None)[..], 3).unwrap();
        packed.truncate(packed.len() / 2);
        let path = Path::new("cut.jsonl.zst");
        let reader = decoder(Compression::Zstd, &packed, path).unwrap();
        let err = sketch_blocks(&nd, path, reader, 100).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
}
