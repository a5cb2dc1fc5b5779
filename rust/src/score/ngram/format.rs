//! The `.cptlm` binary format, version 1 (FORMAT.md, "n-gram language model"): a 96-byte
//! header (magic, version, order, smoothing, vocabulary size, n-gram counts, payload length
//! and XXH3-64 checksums of the payload and the header), then the payload: the vocabulary,
//! the unigrams by id, and each higher order's n-grams sorted by their ids. Little endian.

use super::table::Entry;
use super::{ModelData, Smoothing, MAX_ORDER, SPECIALS};
use crate::{Error, Result};
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

pub const MAGIC: &[u8; 8] = b"CPTNGRAM";
pub const VERSION: u16 = 1;
pub const HEADER_BYTES: usize = 96;

/// The file's bytes.
pub fn encode(d: &ModelData) -> Vec<u8> {
    let mut payload = Vec::new();
    for w in &d.vocab {
        payload.extend_from_slice(&(w.len() as u32).to_le_bytes());
        payload.extend_from_slice(w.as_bytes());
    }
    for e in &d.unigrams {
        payload.extend_from_slice(&e.logp.to_le_bytes());
        payload.extend_from_slice(&e.logb.to_le_bytes());
    }
    let order_of = |i: usize| i + 2;
    for (i, (ids, entries)) in d.ngrams.iter().enumerate() {
        for (g, e) in ids.chunks_exact(order_of(i)).zip(entries) {
            for id in g {
                payload.extend_from_slice(&id.to_le_bytes());
            }
            payload.extend_from_slice(&e.logp.to_le_bytes());
            payload.extend_from_slice(&e.logb.to_le_bytes());
        }
    }
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.push(d.order as u8);
    h.push(d.smoothing.code());
    h.extend_from_slice(&(d.vocab.len() as u32).to_le_bytes());
    h.extend_from_slice(&d.alpha.to_le_bytes());
    let mut counts = [0u64; MAX_ORDER];
    counts[0] = d.vocab.len() as u64;
    for (i, (_, e)) in d.ngrams.iter().enumerate() {
        counts[i + 1] = e.len() as u64;
    }
    for c in counts {
        h.extend_from_slice(&c.to_le_bytes());
    }
    h.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    h.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    let hh = xxh3_64(&h);
    h.extend_from_slice(&hh.to_le_bytes());
    debug_assert_eq!(h.len(), HEADER_BYTES);
    h.extend_from_slice(&payload);
    h
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Parse and check a model file's bytes; every problem is an error naming `path`.
pub fn decode(bytes: &[u8], path: &Path) -> Result<ModelData> {
    let bad = |msg: String| Error::Corrupt {
        path: path.to_path_buf(),
        msg: format!("not a valid cpt n-gram model (.cptlm): {msg}"),
    };
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(bad("bad magic (expected CPTNGRAM)".into()));
    }
    if bytes.len() < HEADER_BYTES {
        return Err(bad(format!(
            "truncated header ({} of {HEADER_BYTES} bytes)",
            bytes.len()
        )));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(bad(format!(
            "format version {version}, this cpt reads version {VERSION}; retrain the model with this version"
        )));
    }
    if xxh3_64(&bytes[..88]) != u64_at(bytes, 88) {
        return Err(bad("header checksum mismatch".into()));
    }
    let order = bytes[10] as usize;
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(bad(format!("order {order} is not in 1..={MAX_ORDER}")));
    }
    let smoothing = Smoothing::from_code(bytes[11])
        .ok_or_else(|| bad(format!("unknown smoothing code {}", bytes[11])))?;
    let v = u32_at(bytes, 12) as usize;
    let alpha = f64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let counts: Vec<u64> = (0..MAX_ORDER).map(|i| u64_at(bytes, 24 + 8 * i)).collect();
    let payload_len = u64_at(bytes, 64);
    let payload = &bytes[HEADER_BYTES..];
    if payload.len() as u64 != payload_len {
        return Err(bad(format!(
            "payload is {} bytes, the header says {payload_len} (truncated or appended to)",
            payload.len()
        )));
    }
    if xxh3_64(payload) != u64_at(bytes, 72) {
        return Err(bad("payload checksum mismatch (corrupt file)".into()));
    }
    if counts[0] != v as u64 || v < SPECIALS.len() {
        return Err(bad(format!("vocabulary size {v} / {}", counts[0])));
    }
    let mut at = 0usize;
    let need = |at: usize, n: usize| -> Result<()> {
        if at + n > payload.len() {
            Err(bad("payload ends early".into()))
        } else {
            Ok(())
        }
    };
    let mut vocab = Vec::with_capacity(v);
    for _ in 0..v {
        need(at, 4)?;
        let len = u32_at(payload, at) as usize;
        at += 4;
        need(at, len)?;
        let w = std::str::from_utf8(&payload[at..at + len])
            .map_err(|_| bad("a vocabulary word is not UTF-8".into()))?;
        vocab.push(w.to_string());
        at += len;
    }
    if vocab[..SPECIALS.len()] != SPECIALS {
        return Err(bad("the first words are not <unk> <s> </s>".into()));
    }
    need(at, 8 * v)?;
    let unigrams = (0..v)
        .map(|i| Entry {
            logp: f32_at(payload, at + 8 * i),
            logb: f32_at(payload, at + 8 * i + 4),
        })
        .collect();
    at += 8 * v;
    let mut ngrams = Vec::new();
    for n in 2..=order {
        let c = usize::try_from(counts[n - 1]).map_err(|_| bad("n-gram count".into()))?;
        let rec = 4 * n + 8;
        need(
            at,
            rec.checked_mul(c)
                .ok_or_else(|| bad("n-gram count".into()))?,
        )?;
        let mut ids = Vec::with_capacity(c * n);
        let mut entries = Vec::with_capacity(c);
        for _ in 0..c {
            for j in 0..n {
                let id = u32_at(payload, at + 4 * j);
                if id as usize >= v {
                    return Err(bad(format!(
                        "word id {id} of an {n}-gram >= vocabulary {v}"
                    )));
                }
                ids.push(id);
            }
            entries.push(Entry {
                logp: f32_at(payload, at + 4 * n),
                logb: f32_at(payload, at + 4 * n + 4),
            });
            at += rec;
        }
        ngrams.push((ids, entries));
    }
    if counts[order..].iter().any(|&c| c != 0) {
        return Err(bad("n-gram counts above the order".into()));
    }
    if at != payload.len() {
        return Err(bad(format!(
            "{} bytes after the last n-gram",
            payload.len() - at
        )));
    }
    Ok(ModelData {
        order,
        smoothing,
        alpha,
        vocab,
        unigrams,
        ngrams,
    })
}
