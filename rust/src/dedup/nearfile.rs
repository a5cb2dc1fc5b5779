//! Near-dup straight from a document file (JSONL plain, zstd or gzip, or Parquet; told by
//! magic bytes in `crate::input`): read, parse the text, normalize and sketch in parallel,
//! cluster. This is the library / benchmark path; the curation pipeline streams through
//! `NearDup`. A plain file is memory-mapped and its lines found and parsed by the pool; a
//! compressed one is decoded on a thread of its own a block at a time.

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::neardup::{NearDup, NearDupOutcome};
use crate::input::decode::{decoder, detect_format, read_error, Compression, Format};
use crate::input::{is_blank, parse, RecordReader, DEFAULT_TEXT_KEY};
use crate::{Error, Result};

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

/// Decompressed bytes handed from the decoding thread to the sketching pool at a time.
const BLOCK_BYTES: usize = 8 << 20;

/// Sketch every document (non-blank line or row) of a file, in file order.
pub fn sketch_jsonl(nd: &NearDup, path: &Path) -> Result<Vec<Vec<u8>>> {
    sketch_file(nd, path, DEFAULT_TEXT_KEY)
}

/// Sketch every document of a file, taking its text at `text_key`, in file order.
pub fn sketch_file(nd: &NearDup, path: &Path, text_key: &str) -> Result<Vec<Vec<u8>>> {
    let Some(map) = open_mapped(path)? else {
        return Ok(Vec::new());
    };
    match detect_format(&map) {
        Format::Jsonl(Compression::Plain) => sketch_lines(nd, path, text_key, &map, 0),
        Format::Jsonl(kind) if rayon::current_num_threads() < 2 => {
            let mut data = Vec::new();
            decoder(kind, &map[..], path)?
                .read_to_end(&mut data)
                .map_err(|e| read_error(path, kind, None, e))?;
            sketch_lines(nd, path, text_key, &data, 0)
        }
        Format::Jsonl(kind) => sketch_blocks(
            nd,
            path,
            text_key,
            kind,
            decoder(kind, &map[..], path)?,
            BLOCK_BYTES,
        ),
        Format::Parquet => {
            drop(map);
            sketch_records(nd, path, text_key)
        }
    }
}

/// Sketch a decompressed stream block by block (blocks end at a newline).
fn sketch_blocks(
    nd: &NearDup,
    path: &Path,
    text_key: &str,
    kind: Compression,
    mut reader: Box<dyn Read + Send + '_>,
    block_bytes: usize,
) -> Result<Vec<Vec<u8>>> {
    // Each block comes with the number of lines before it (for error messages).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(Vec<u8>, u64)>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut carry = Vec::new();
            let mut lines_before = 0u64;
            loop {
                let mut block = std::mem::take(&mut carry);
                match (&mut reader)
                    .take(block_bytes as u64)
                    .read_to_end(&mut block)
                {
                    Err(e) => {
                        let _ = tx.send(Err(read_error(path, kind, Some(lines_before), e)));
                        return;
                    }
                    Ok(0) => {
                        if !block.is_empty() {
                            let _ = tx.send(Ok((block, lines_before)));
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
                let lines = memchr::memchr_iter(b'\n', &block).count() as u64;
                if tx.send(Ok((block, lines_before))).is_err() {
                    return; // the consumer stopped on an error
                }
                lines_before += lines;
            }
        });
        let mut sketches = Vec::new();
        for block in rx {
            let (block, lines_before) = block?;
            sketches.extend(sketch_lines(nd, path, text_key, &block, lines_before)?);
        }
        Ok(sketches)
    })
}

/// Sketch the non-blank lines of `data`, which starts after `lines_before` lines of the file.
fn sketch_lines(
    nd: &NearDup,
    path: &Path,
    text_key: &str,
    data: &[u8],
    lines_before: u64,
) -> Result<Vec<Vec<u8>>> {
    data.par_split(|&b| b == b'\n')
        .filter(|line| !is_blank(line))
        .map(|line| {
            let doc = parse(line, text_key).map_err(|msg| {
                let offset = line.as_ptr() as usize - data.as_ptr() as usize;
                let line =
                    lines_before + memchr::memchr_iter(b'\n', &data[..offset]).count() as u64;
                Error::Input {
                    path: path.to_path_buf(),
                    line: line + 1,
                    msg,
                }
            })?;
            Ok(nd.sketch_raw(&doc.text))
        })
        .collect()
}

/// Sketch the records of a file read through `RecordReader` (Parquet), in batches of about
/// `BLOCK_BYTES` sketched by the pool.
fn sketch_records(nd: &NearDup, path: &Path, text_key: &str) -> Result<Vec<Vec<u8>>> {
    let mut reader = RecordReader::open(path)?;
    let mut sketches = Vec::new();
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut bytes = 0;
    loop {
        let rec = reader.next_record()?;
        let end = rec.is_none();
        if let Some(rec) = rec {
            if !is_blank(rec.bytes) {
                bytes += rec.bytes.len();
                batch.push((rec.number, rec.bytes.to_vec()));
            }
        }
        if end || bytes >= BLOCK_BYTES {
            let part: Vec<Result<Vec<u8>>> = batch
                .par_iter()
                .map(|(number, bytes)| {
                    let doc = parse(bytes, text_key).map_err(|msg| Error::Input {
                        path: path.to_path_buf(),
                        line: *number,
                        msg,
                    })?;
                    Ok(nd.sketch_raw(&doc.text))
                })
                .collect();
            for s in part {
                sketches.push(s?);
            }
            batch.clear();
            bytes = 0;
        }
        if end {
            return Ok(sketches);
        }
    }
}

/// Near-dup clustering of a document file (JSONL or Parquet); ordinals in the outcome are 0-based record numbers.
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
        let reader = decoder(Compression::Zstd, &packed[..], path)?;
        sketch_blocks(&nd, path, "text", Compression::Zstd, reader, block)
    }

    #[test]
    fn blocks_give_the_sketches_of_one_pass() {
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let data = jsonl(300, None);
        let whole = sketch_lines(&nd, Path::new("x"), "text", &data, 0).unwrap();
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
        let reader = decoder(Compression::Zstd, &packed[..], path).unwrap();
        let err = sketch_blocks(&nd, path, "text", Compression::Zstd, reader, 100).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
}
