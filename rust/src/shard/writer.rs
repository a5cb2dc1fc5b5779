//! Writes one shard: documents go in, full frames are compressed and appended in order (the
//! tokenize stage runs this on its own thread, overlapping the tokenizer workers); `finish` writes the indexes and the header, then
//! renames the temporary file into place, so a shard on disk under its final name is complete.

use super::format::{checksum_string, Dtype, FrameEntry, Header, HEADER_LEN};
use crate::io::tmp_name;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// What a finished shard contains (one `shards` entry of the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSummary {
    pub file: String,
    pub tokens: u64,
    pub docs: u64,
    pub bytes: u64,
    pub checksum: u64,
}

pub struct ShardWriter {
    final_path: PathBuf,
    tmp_path: PathBuf,
    out: BufWriter<File>,
    dtype: Dtype,
    frame_tokens: usize,
    compressor: zstd::bulk::Compressor<'static>,
    pending: Vec<u32>,
    frames: Vec<FrameEntry>,
    doc_starts: Vec<u64>,
    tokens: u64,
    offset: u64,
}

impl ShardWriter {
    pub fn create(path: &Path, dtype: Dtype, frame_tokens: u32, level: i32) -> Result<Self> {
        let tmp_path = tmp_name(path);
        let compressor = zstd::bulk::Compressor::new(level).map_err(|e| Error::io(path, e))?;
        let file = File::create(&tmp_path).map_err(|e| Error::io(&tmp_path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        // Placeholder header; the real one is written by `finish` once the counts are known.
        out.write_all(&[0u8; HEADER_LEN])
            .map_err(|e| Error::io(&tmp_path, e))?;
        Ok(ShardWriter {
            final_path: path.to_path_buf(),
            tmp_path,
            out,
            dtype,
            frame_tokens: frame_tokens as usize,
            compressor,
            pending: Vec::with_capacity(frame_tokens as usize),
            frames: Vec::new(),
            doc_starts: Vec::new(),
            tokens: 0,
            offset: HEADER_LEN as u64,
        })
    }

    /// Tokens written so far, including those not yet compressed.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Append documents (each already ends with EOS), then compress every frame that is full.
    pub fn push_docs<'a>(&mut self, docs: impl IntoIterator<Item = &'a [u32]>) -> Result<()> {
        for doc in docs {
            self.doc_starts.push(self.tokens);
            self.tokens += doc.len() as u64;
            self.pending.extend_from_slice(doc);
        }
        let full = self.pending.len() / self.frame_tokens * self.frame_tokens;
        if full > 0 {
            self.write_frames(full)?;
            self.pending.drain(..full);
        }
        Ok(())
    }

    /// Compress `pending[..len]` as frames of `frame_tokens` and append them in order.
    fn write_frames(&mut self, len: usize) -> Result<()> {
        let mut raw = Vec::with_capacity(self.frame_tokens * self.dtype.width());
        for chunk in self.pending[..len].chunks(self.frame_tokens) {
            raw.clear();
            self.dtype.encode_into(chunk, &mut raw);
            let frame = self
                .compressor
                .compress(&raw)
                .map_err(|e| Error::io(&self.tmp_path, e))?;
            let first_token = self.frames.len() as u64 * self.frame_tokens as u64;
            self.frames.push(FrameEntry {
                offset: self.offset,
                len: frame.len() as u64,
                first_token,
                checksum: xxh3_64(&frame),
            });
            self.out
                .write_all(&frame)
                .map_err(|e| Error::io(&self.tmp_path, e))?;
            self.offset += frame.len() as u64;
        }
        Ok(())
    }

    /// Write the last partial frame, the indexes and the header; rename into place.
    pub fn finish(mut self) -> Result<ShardSummary> {
        if !self.pending.is_empty() {
            let len = self.pending.len();
            self.write_frames(len)?;
            self.pending.clear();
        }
        let mut index = Vec::with_capacity(self.frames.len() * 32 + self.doc_starts.len() * 8);
        for f in &self.frames {
            f.write_to(&mut index);
        }
        for &d in &self.doc_starts {
            index.extend_from_slice(&d.to_le_bytes());
        }
        let header = Header {
            dtype: self.dtype,
            frame_tokens: self.frame_tokens as u32,
            num_tokens: self.tokens,
            num_docs: self.doc_starts.len() as u64,
            num_frames: self.frames.len() as u64,
            index_offset: self.offset,
            index_checksum: xxh3_64(&index),
        };
        let tmp = self.tmp_path.clone();
        let io = |e| Error::io(&tmp, e);
        self.out.write_all(&index).map_err(io)?;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header.to_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        let checksum = file_checksum(&tmp)?;
        std::fs::rename(&tmp, &self.final_path).map_err(|e| Error::io(&self.final_path, e))?;
        Ok(ShardSummary {
            file: self
                .final_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            tokens: header.num_tokens,
            docs: header.num_docs,
            bytes: header.file_len(),
            checksum,
        })
    }
}

impl ShardSummary {
    pub fn checksum_string(&self) -> String {
        checksum_string(self.checksum)
    }
}

/// XXH3-64 of a whole file, streamed.
pub fn file_checksum(path: &Path) -> Result<u64> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.digest())
}
