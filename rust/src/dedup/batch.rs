//! In-memory batch entry points for library users (the Python `cpt.minhash`
//! module): signatures of many texts, near-dup of a list of texts, and running
//! work on a thread pool of a chosen size.

use rayon::prelude::*;

use super::minhash::{MinHasher, Signature};
use super::neardup::{NearDup, NearDupOutcome};
use crate::{Error, Result};

/// Run `f` on a rayon pool of `threads` threads (0 = one per core).
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Config(format!("threads: cannot start {threads} threads: {e}")))?;
    Ok(pool.install(f))
}

/// Signatures of raw texts (normalized here), as one little-endian row-major
/// matrix of `texts.len()` x `num_perm` values of `hash_bits / 8` bytes.
pub fn signatures_le<S: AsRef<str> + Sync>(hasher: &MinHasher, texts: &[S]) -> Vec<u8> {
    let width = hasher.num_perm() * (hasher.hash_bits() as usize / 8);
    let mut out = vec![0u8; texts.len() * width];
    if width == 0 {
        return out;
    }
    out.par_chunks_mut(width)
        .zip(texts.par_iter())
        .with_min_len(16)
        .for_each_init(
            || (String::new(), Vec::new()),
            |(scratch, hashes), (row, text)| {
                hashes.clear();
                hasher.shingle_hashes_raw(text.as_ref(), scratch, hashes);
                match hasher.signature_of_hashes(hashes) {
                    Signature::U32(v) => {
                        for (dst, x) in row.chunks_exact_mut(4).zip(v) {
                            dst.copy_from_slice(&x.to_le_bytes());
                        }
                    }
                    Signature::U64(v) => {
                        for (dst, x) in row.chunks_exact_mut(8).zip(v) {
                            dst.copy_from_slice(&x.to_le_bytes());
                        }
                    }
                }
            },
        );
    out
}

/// Near-dup of raw texts (normalized here); ordinals in the outcome are list indices.
pub fn dedup_texts<S: AsRef<str> + Sync>(
    nd: &NearDup,
    texts: &[S],
    spill_dir: Option<&std::path::Path>,
) -> Result<NearDupOutcome> {
    let sketches: Vec<Vec<u8>> = texts
        .par_iter()
        .with_min_len(16)
        .map(|t| nd.sketch_raw(t.as_ref()))
        .collect();
    nd.cluster(
        sketches.iter().enumerate().map(|(i, s)| (i as u64, s)),
        spill_dir,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::Shingle;

    #[test]
    fn signatures_match_single_calls_for_any_pool() {
        let h = MinHasher::new(16, 3, Shingle::Word, 32, 1);
        let texts = [
            "Alpha beta, gamma delta!",
            "",
            "one two",
            "Ünïcode tëxt here now",
        ];
        let one = in_pool(1, || signatures_le(&h, &texts)).unwrap();
        let two = in_pool(2, || signatures_le(&h, &texts)).unwrap();
        assert_eq!(one, two);
        let direct = h
            .signature(&crate::normalize::normalize(texts[3]))
            .as_bytes_le();
        assert_eq!(&one[3 * 64..], direct.as_slice());
    }
}
