//! Reads shards written to FORMAT.md: checks header, length and index checksums on open, and
//! each frame's checksum before decompressing it, naming the shard and frame on any mismatch.

use super::format::{Dtype, FrameEntry, Header, DOC_ENTRY_LEN, FRAME_ENTRY_LEN, HEADER_LEN};
use super::manifest::Manifest;
use crate::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

pub struct ShardReader {
    path: PathBuf,
    file: File,
    header: Header,
    frames: Vec<FrameEntry>,
    doc_starts: Vec<u64>,
    /// The last decoded frame: sequential reads decode each frame once.
    cached: Option<(usize, Vec<u32>)>,
}

impl ShardReader {
    pub fn open(path: &Path) -> Result<Self> {
        let err = |msg: String| Error::Shard {
            path: path.to_path_buf(),
            msg,
        };
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
        file.read_exact(&mut head).map_err(|e| Error::io(path, e))?;
        let header = Header::parse(&head).map_err(err)?;
        if len != header.file_len() {
            return Err(err(format!(
                "truncated or padded: file is {len} bytes, its header implies {} (index at {}, {} frames, {} docs)",
                header.file_len(),
                header.index_offset,
                header.num_frames,
                header.num_docs
            )));
        }
        let mut index = vec![0u8; header.index_len() as usize];
        file.seek(SeekFrom::Start(header.index_offset))
            .map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut index)
            .map_err(|e| Error::io(path, e))?;
        if xxh3_64(&index) != header.index_checksum {
            return Err(err(
                "index checksum mismatch (corrupt frame or document index)".into(),
            ));
        }
        let split = header.num_frames as usize * FRAME_ENTRY_LEN;
        let frames: Vec<FrameEntry> = index[..split]
            .chunks_exact(FRAME_ENTRY_LEN)
            .map(FrameEntry::parse)
            .collect();
        let doc_starts: Vec<u64> = index[split..]
            .chunks_exact(DOC_ENTRY_LEN)
            .map(|c| super::format::u64_at(c, 0))
            .collect();
        let mut expect = HEADER_LEN as u64;
        for (i, f) in frames.iter().enumerate() {
            if f.offset != expect || f.first_token != i as u64 * u64::from(header.frame_tokens) {
                return Err(err(format!("frame {i}: index entry out of place")));
            }
            expect += f.len;
        }
        if expect != header.index_offset {
            return Err(err("frames do not end at the index".into()));
        }
        if doc_starts.first().is_some_and(|&d| d != 0)
            || doc_starts.windows(2).any(|w| w[0] >= w[1])
            || doc_starts.last().is_some_and(|&d| d >= header.num_tokens)
        {
            return Err(err(
                "document index is not strictly increasing from 0".into()
            ));
        }
        Ok(ShardReader {
            path: path.to_path_buf(),
            file,
            header,
            frames,
            doc_starts,
            cached: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn num_tokens(&self) -> u64 {
        self.header.num_tokens
    }
    pub fn num_docs(&self) -> u64 {
        self.header.num_docs
    }
    pub fn num_frames(&self) -> usize {
        self.frames.len()
    }
    pub fn dtype(&self) -> Dtype {
        self.header.dtype
    }
    pub fn doc_starts(&self) -> &[u64] {
        &self.doc_starts
    }

    /// Token range `[start, end)` of document `j` within this shard.
    pub fn doc_range(&self, j: usize) -> (u64, u64) {
        let end = self
            .doc_starts
            .get(j + 1)
            .copied()
            .unwrap_or(self.header.num_tokens);
        (self.doc_starts[j], end)
    }

    /// Read, check and decompress frame `i`.
    pub fn decode_frame(&mut self, i: usize) -> Result<Vec<u32>> {
        let f = self.frames[i];
        let err = |msg: String| Error::Shard {
            path: self.path.clone(),
            msg: format!("frame {i}: {msg}"),
        };
        let mut buf = vec![0u8; f.len as usize];
        self.file
            .seek(SeekFrom::Start(f.offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| err(format!("read failed: {e}")))?;
        if xxh3_64(&buf) != f.checksum {
            return Err(err("checksum mismatch (corrupt data)".into()));
        }
        let ft = u64::from(self.header.frame_tokens);
        let ntok = (self.header.num_tokens - f.first_token).min(ft) as usize;
        let width = self.header.dtype.width();
        let raw =
            zstd::bulk::decompress(&buf, ntok * width).map_err(|e| err(format!("zstd: {e}")))?;
        if raw.len() != ntok * width {
            return Err(err(format!(
                "decompressed to {} bytes, expected {}",
                raw.len(),
                ntok * width
            )));
        }
        let mut out = Vec::with_capacity(ntok);
        self.header.dtype.decode_into(&raw, &mut out);
        Ok(out)
    }

    fn frame(&mut self, i: usize) -> Result<&[u32]> {
        if self.cached.as_ref().map(|c| c.0) != Some(i) {
            let tokens = self.decode_frame(i)?;
            self.cached = Some((i, tokens));
        }
        Ok(&self.cached.as_ref().expect("just filled").1)
    }

    /// Tokens `[start, start + count)` of this shard, crossing frames as needed.
    pub fn read(&mut self, start: u64, count: u64) -> Result<Vec<u32>> {
        let end = start
            .checked_add(count)
            .filter(|&e| e <= self.header.num_tokens)
            .ok_or_else(|| Error::Shard {
                path: self.path.clone(),
                msg: format!(
                    "read of {count} tokens at {start} past the end ({} tokens)",
                    self.header.num_tokens
                ),
            })?;
        let ft = u64::from(self.header.frame_tokens);
        let mut out = Vec::with_capacity(count as usize);
        let mut pos = start;
        while pos < end {
            let i = (pos / ft) as usize;
            let base = i as u64 * ft;
            let frame = self.frame(i)?;
            let lo = (pos - base) as usize;
            let hi = ((end - base) as usize).min(frame.len());
            out.extend_from_slice(&frame[lo..hi]);
            pos = base + hi as u64;
        }
        Ok(out)
    }

    /// Tokens of document `j` (EOS included).
    pub fn document(&mut self, j: usize) -> Result<Vec<u32>> {
        let (s, e) = self.doc_range(j);
        self.read(s, e - s)
    }

    /// Decode every frame, checking every checksum and size.
    pub fn verify(&mut self) -> Result<()> {
        for i in 0..self.frames.len() {
            self.decode_frame(i)?;
        }
        Ok(())
    }
}

/// A whole dataset (all shards of a manifest), addressed by global token position.
pub struct Dataset {
    pub manifest: Manifest,
    shards: Vec<ShardReader>,
    /// Global first token of each shard, plus the total at the end.
    starts: Vec<u64>,
}

impl Dataset {
    /// Open `manifest.json`; refuse a dataset made with another tokenizer than `expected_hash`.
    pub fn open(manifest_path: &Path, expected_hash: Option<&str>) -> Result<Self> {
        let manifest = Manifest::load(manifest_path)?;
        if let Some(want) = expected_hash {
            if manifest.tokenizer.hash != want {
                return Err(Error::Tokenizer(format!(
                    "{} was tokenized with tokenizer {}, expected {want}",
                    manifest_path.display(),
                    manifest.tokenizer.hash
                )));
            }
        }
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut starts = vec![0u64];
        for entry in &manifest.shards {
            let reader = ShardReader::open(&dir.join(&entry.file))?;
            if reader.num_tokens() != entry.tokens
                || reader.num_docs() != entry.docs
                || reader.dtype().name() != manifest.dtype
            {
                return Err(Error::Shard {
                    path: reader.path().to_path_buf(),
                    msg: format!(
                        "does not match its manifest entry in {}",
                        manifest_path.display()
                    ),
                });
            }
            starts.push(starts.last().copied().unwrap_or(0) + reader.num_tokens());
            shards.push(reader);
        }
        Ok(Dataset {
            manifest,
            shards,
            starts,
        })
    }

    pub fn num_tokens(&self) -> u64 {
        *self.starts.last().unwrap_or(&0)
    }
    pub fn num_docs(&self) -> u64 {
        self.shards.iter().map(ShardReader::num_docs).sum()
    }
    pub fn shards_mut(&mut self) -> &mut [ShardReader] {
        &mut self.shards
    }

    /// Tokens `[start, start + count)` across shards.
    pub fn read(&mut self, start: u64, count: u64) -> Result<Vec<u32>> {
        let total = self.num_tokens();
        let end = start
            .checked_add(count)
            .filter(|&e| e <= total)
            .ok_or_else(|| Error::Shard {
                path: PathBuf::from("manifest.json"),
                msg: format!("read of {count} tokens at {start} past the end ({total} tokens)"),
            })?;
        let mut out = Vec::with_capacity(count as usize);
        let mut pos = start;
        while pos < end {
            let s = self.starts.partition_point(|&x| x <= pos) - 1;
            let local = pos - self.starts[s];
            let n = (end - pos).min(self.shards[s].num_tokens() - local);
            out.extend(self.shards[s].read(local, n)?);
            pos += n;
        }
        Ok(out)
    }
}
