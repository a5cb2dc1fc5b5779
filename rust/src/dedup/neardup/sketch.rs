//! The sketch: the compact per-document blob the scan stores and clustering reads.
//! Layout: magic, flags, band count (u16), the band hashes (u64 each) when the document has
//! a shingle, then, when candidates are checked, the shingle set (count, then u32 keys:
//! all of them sorted for `verify`, the bottom-k for `sample_check`).

use std::cell::RefCell;

use super::similarity::{bottom_k, LeU32s};
use super::{Check, NearDup};
use crate::{Error, Result};

// 0xB2: word shingles hash each word once (0xB1 sketches hashed whole shingles).
const SKETCH_MAGIC: u8 = 0xB2;
const FLAG_NONEMPTY: u8 = 1;
const FLAG_VERIFY: u8 = 2;
const FLAG_SAMPLE: u8 = 4;
const HEADER: usize = 4;

thread_local! {
    static SCRATCH: RefCell<(Vec<u64>, String)> = const { RefCell::new((Vec::new(), String::new())) };
}

impl NearDup {
    /// The compact per-document blob the scan stores: header, band hashes, and the
    /// shingle-hash set when `verify` is on. `normalized` comes from `crate::normalize`.
    pub fn sketch(&self, normalized: &str) -> Vec<u8> {
        SCRATCH.with(|cell| {
            let (hashes, _) = &mut *cell.borrow_mut();
            hashes.clear();
            self.hasher.shingle_hashes(normalized, hashes);
            self.sketch_of_hashes(hashes)
        })
    }

    /// `sketch(normalized)` from the document's word hashes (made with
    /// `hasher().word_seed()`), so the words are not scanned again.
    pub fn sketch_of_words(&self, normalized: &str, words: &[u64]) -> Vec<u8> {
        SCRATCH.with(|cell| {
            let (hashes, _) = &mut *cell.borrow_mut();
            hashes.clear();
            self.hasher
                .shingle_hashes_of_words(normalized, words, hashes);
            self.sketch_of_hashes(hashes)
        })
    }

    /// `sketch(&normalize(raw))`, without the normalized copy for ASCII text.
    pub fn sketch_raw(&self, raw: &str) -> Vec<u8> {
        SCRATCH.with(|cell| {
            let (hashes, scratch) = &mut *cell.borrow_mut();
            hashes.clear();
            self.hasher.shingle_hashes_raw(raw, scratch, hashes);
            self.sketch_of_hashes(hashes)
        })
    }

    fn sketch_of_hashes(&self, hashes: &[u64]) -> Vec<u8> {
        let verify = self.check == Check::Exact;
        let with_sample = self.check == Check::Sample;
        let extra = if verify || with_sample {
            4 + 4 * hashes.len()
        } else {
            0
        };
        let mut out = Vec::with_capacity(HEADER + 8 * self.bands + extra);
        let mut flags = if hashes.is_empty() { 0 } else { FLAG_NONEMPTY };
        if verify {
            flags |= FLAG_VERIFY;
        }
        if with_sample {
            flags |= FLAG_SAMPLE;
        }
        out.push(SKETCH_MAGIC);
        out.push(flags);
        #[allow(clippy::cast_possible_truncation)] // validate() caps bands at u16::MAX
        out.extend_from_slice(&(self.bands as u16).to_le_bytes());
        if hashes.is_empty() {
            if verify || with_sample {
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            return out;
        }
        let sig = self.hasher.signature_of_hashes(hashes);
        for h in self.band_hashes(&sig) {
            out.extend_from_slice(&h.to_le_bytes());
        }
        if verify || with_sample {
            let mut set: Vec<u32> = hashes.iter().map(|&h| shingle_key(h)).collect();
            if with_sample {
                bottom_k(&mut set, self.cfg.sample_size);
            } else {
                set.sort_unstable();
                set.dedup();
            }
            #[allow(clippy::cast_possible_truncation)]
            out.extend_from_slice(&(set.len() as u32).to_le_bytes());
            for v in set {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// A sketch's band hashes (8 bytes each; `None` for a document without shingles) and
    /// its shingle set (little-endian u32s; empty when candidates are not checked).
    pub fn sketch_parts<'a>(
        &self,
        blob: &'a [u8],
        ordinal: u64,
    ) -> Result<(Option<&'a [u8]>, &'a [u8])> {
        let p = self.parse_sketch(blob, ordinal)?;
        Ok((p.bands, p.set))
    }

    pub(super) fn parse_sketch<'a>(
        &self,
        blob: &'a [u8],
        ordinal: u64,
    ) -> Result<ParsedSketch<'a>> {
        let bad =
            |msg: &str| Error::Config(format!("near-dup: sketch of document {ordinal}: {msg}"));
        if blob.len() < HEADER || blob[0] != SKETCH_MAGIC {
            return Err(bad("not a cpt near-dup sketch"));
        }
        let flags = blob[1];
        let bands = usize::from(u16::from_le_bytes([blob[2], blob[3]]));
        if bands != self.bands {
            return Err(bad(&format!(
                "made with {bands} bands, clustering uses {}",
                self.bands
            )));
        }
        let mut pos = HEADER;
        let band_bytes = if flags & FLAG_NONEMPTY != 0 {
            let end = pos + 8 * bands;
            let slice = blob
                .get(pos..end)
                .ok_or_else(|| bad("truncated band hashes"))?;
            pos = end;
            Some(slice)
        } else {
            None
        };
        let set = if self.check != Check::None {
            let needed = if self.check == Check::Exact {
                FLAG_VERIFY
            } else {
                FLAG_SAMPLE
            };
            if flags & needed == 0 {
                return Err(bad(
                    "sketched with another check (verify / sample_check) than clustering uses",
                ));
            }
            let count = blob
                .get(pos..pos + 4)
                .ok_or_else(|| bad("truncated shingle set"))?;
            let count = read_u32(count) as usize;
            blob.get(pos + 4..pos + 4 + 4 * count)
                .ok_or_else(|| bad("truncated shingle set"))?
        } else {
            &[][..]
        };
        Ok(ParsedSketch {
            bands: band_bytes,
            set,
        })
    }
}

pub(super) struct ParsedSketch<'a> {
    pub(super) bands: Option<&'a [u8]>,
    pub(super) set: &'a [u8],
}

/// The shingle sets of the clustered documents: each a range of its own sketch.
pub(super) struct SketchSets<B> {
    sketches: Vec<B>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl<B> Default for SketchSets<B> {
    fn default() -> Self {
        SketchSets {
            sketches: Vec::new(),
            ranges: Vec::new(),
        }
    }
}

impl<B: AsRef<[u8]>> SketchSets<B> {
    pub(super) fn push(&mut self, sketch: B, range: std::ops::Range<usize>) {
        self.sketches.push(sketch);
        self.ranges.push(range);
    }

    pub(super) fn get(&self, i: u32) -> LeU32s<'_> {
        let i = i as usize;
        LeU32s(&self.sketches[i].as_ref()[self.ranges[i].clone()])
    }
}

/// The verification key of a shingle: 32 bits of its hash (collisions ~ 2^-32 per pair of shingles).
#[allow(clippy::cast_possible_truncation)]
fn shingle_key(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

pub(super) fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

pub(super) fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}
