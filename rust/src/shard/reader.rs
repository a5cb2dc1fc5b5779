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
        // Checked arithmetic first: counts near 2^64 in a header with a valid checksum must be
        // an error, not an overflow (found by the fuzz test below).
        let implied = header
            .num_frames
            .checked_mul(FRAME_ENTRY_LEN as u64)
            .zip(header.num_docs.checked_mul(DOC_ENTRY_LEN as u64))
            .and_then(|(f, d)| f.checked_add(d))
            .and_then(|l| l.checked_add(header.index_offset));
        if implied.is_none() {
            return Err(err(format!(
                "header counts overflow ({} frames, {} docs, index at {})",
                header.num_frames, header.num_docs, header.index_offset
            )));
        }
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
            expect = expect
                .checked_add(f.len)
                .ok_or_else(|| err(format!("frame {i}: length {} overflows", f.len)))?;
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
        let paths = manifest.shard_paths(manifest_path)?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut starts = vec![0u64];
        for (entry, path) in manifest.shards.iter().zip(&paths) {
            let reader = ShardReader::open(path)?;
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

/// A bounded-time mutation fuzzer for `ShardReader` (no extra crate: a seeded xorshift drives
/// the edits, so a failure names the iteration that reproduces it). Half the cases "reseal"
/// the mutated file (frame, index and header checksums recomputed) so that the structural
/// checks behind the checksums are exercised too. A damaged case must end in `Error::Shard`/`Io`
/// or in the original tokens, a resealed one in such an error or a consistent read; a panic
/// fails the test. `CPT_FUZZ_SECS` sets the budget (2 s).
#[cfg(test)]
mod fuzz {
    use super::super::format::{u64_at, HEADER_LEN};
    use super::super::writer::ShardWriter;
    use super::*;
    use crate::fuzzing::{budget, Rng};
    use std::time::Instant;

    fn mutate(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
        let mut b = good.to_vec();
        for _ in 0..=rng.below(3) {
            if b.is_empty() {
                break;
            }
            let pos = rng.below(b.len());
            match rng.below(7) {
                0 => b[pos] ^= 1 << rng.below(8),
                1 => b[pos] = rng.next() as u8,
                2 => {
                    // a whole u64 field: counts, offsets, lengths (extreme values included)
                    let v = [0, 1, u64::MAX, u64::MAX - 7, 1 << 61, rng.next()][rng.below(6)];
                    let at = pos.min(b.len().saturating_sub(8)) & !7;
                    let end = (at + 8).min(b.len());
                    b[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
                }
                3 => {
                    let n = 1 + rng.below(16);
                    let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    b.splice(pos..pos, ins);
                }
                4 => {
                    let end = (pos + 1 + rng.below(64)).min(b.len());
                    b.drain(pos..end);
                }
                5 => b.truncate(pos),
                _ => {
                    let end = (pos + 1 + rng.below(32)).min(b.len());
                    for x in &mut b[pos..end] {
                        *x = rng.next() as u8;
                    }
                }
            }
        }
        b
    }

    /// Recompute every checksum the file's own (possibly mutated) layout points at.
    fn reseal(b: &mut [u8]) {
        if b.len() < HEADER_LEN {
            return;
        }
        let index_offset = u64_at(b, 40);
        let num_frames = u64_at(b, 32);
        let Ok(start) = usize::try_from(index_offset) else {
            return;
        };
        if start > b.len() {
            return;
        }
        for i in 0..num_frames.min(((b.len() - start) / FRAME_ENTRY_LEN) as u64) as usize {
            let e = start + i * FRAME_ENTRY_LEN;
            let (off, len) = (u64_at(b, e), u64_at(b, e + 8));
            if let Some(end) = off.checked_add(len).filter(|&end| end <= b.len() as u64) {
                let sum = xxh3_64(&b[off as usize..end as usize]);
                b[e + 24..e + 32].copy_from_slice(&sum.to_le_bytes());
            }
        }
        let index_sum = xxh3_64(&b[start..]);
        b[48..56].copy_from_slice(&index_sum.to_le_bytes());
        let header_sum = xxh3_64(&b[..56]);
        b[56..64].copy_from_slice(&header_sum.to_le_bytes());
    }

    fn read_all(path: &Path) -> Result<(Vec<u32>, Vec<u64>)> {
        let mut r = ShardReader::open(path)?;
        let tokens = r.read(0, r.num_tokens())?;
        for j in 0..r.num_docs() as usize {
            r.document(j)?;
        }
        r.verify()?;
        Ok((tokens, r.doc_starts().to_vec()))
    }

    #[test]
    fn mutated_shards_error_or_read_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let good_path = dir.path().join("good.cpts");
        let mut w = ShardWriter::create(&good_path, Dtype::U16, 64, 3).unwrap();
        let docs: Vec<Vec<u32>> = (0..40u32)
            .map(|d| {
                (0..=(d * 7) % 50)
                    .map(|t| (t * 31 + d) % 1000 + 1)
                    .chain([0])
                    .collect()
            })
            .collect();
        w.push_docs(docs.iter().map(Vec::as_slice)).unwrap();
        w.finish().unwrap();
        let good = std::fs::read(&good_path).unwrap();
        let want = read_all(&good_path).unwrap();

        let budget = budget();
        let path = dir.path().join("case.cpts");
        let t0 = Instant::now();
        let (mut runs, mut rejected) = (0u64, 0u64);
        while t0.elapsed() < budget {
            let mut rng =
                Rng(0x9E37_79B9_7F4A_7C15 ^ (runs + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
            let mut bad = mutate(&mut rng, &good);
            let resealed = runs % 2 == 1;
            if resealed {
                reseal(&mut bad);
            }
            std::fs::write(&path, &bad).unwrap();
            match read_all(&path) {
                Err(Error::Shard { .. } | Error::Io { .. }) => rejected += 1,
                Err(other) => panic!("case {runs}: undocumented error {other}"),
                // A resealed file is a well-formed shard of other content: it may read, but
                // only consistently; a damaged one (checksums as they were) never reads.
                Ok((tokens, starts)) if resealed => {
                    assert!(starts.iter().all(|&d| (d as usize) < tokens.len().max(1)));
                }
                Ok(got) => assert!(got == want, "case {runs}: damaged shard read as other data"),
            }
            runs += 1;
        }
        eprintln!(
            "shard reader fuzz: {runs} executions in {:.1} s, {rejected} rejected, {} read back",
            t0.elapsed().as_secs_f64(),
            runs - rejected
        );
        assert!(runs > 100, "the fuzz budget ran only {runs} cases");
    }
}
