//! MinHash signatures and the permutation kernel (the config is in `config`). The hot path
//! (text -> signature) allocates nothing per shingle: shingle hashes come from
//! `shingle` (each word hashed once), and the permutations run as a branch-free min
//! over blocks of 16 lanes kept in registers, which LLVM vectorizes (AVX-512 or AVX2
//! builds chosen at run time where the CPU has them).

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::shingle::{char_shingle_hashes, word_shingle_hashes, word_shingles_of_hashes};
use super::textprep::{normalize_into, words_text_into};

use crate::{Error, Result};

mod config;
pub use config::{ByteSize, MinHashConfig, Shingle};

/// SplitMix64: a small, well-mixed generator for the permutation parameters.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const MERSENNE61: u64 = (1 << 61) - 1;

/// A MinHash signature, 32- or 64-bit values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    U32(Vec<u32>),
    U64(Vec<u64>),
}

impl Signature {
    /// Decode `num_perm` little-endian values of `hash_bits` bits (the byte form of
    /// `as_bytes_le`, and of the Python side's numpy rows).
    pub fn from_le_bytes(bytes: &[u8], num_perm: usize, hash_bits: u32) -> Result<Self> {
        let width = hash_bits as usize / 8;
        if bytes.len() != num_perm * width {
            return Err(Error::Config(format!(
                "minhash.num_perm: a signature of {} bytes does not hold {num_perm} values of {hash_bits} bits ({} bytes)",
                bytes.len(),
                num_perm * width
            )));
        }
        Ok(if hash_bits == 32 {
            Signature::U32(
                bytes
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4-byte chunk")))
                    .collect(),
            )
        } else {
            Signature::U64(
                bytes
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8-byte chunk")))
                    .collect(),
            )
        })
    }

    /// Little-endian bytes of the values (what band hashes are computed from).
    pub fn as_bytes_le(&self) -> Vec<u8> {
        match self {
            Signature::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Signature::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// Turns normalized text into shingle hashes and MinHash signatures.
#[derive(Debug, Clone)]
pub struct MinHasher {
    num_perm: usize,
    ngram: usize,
    shingle: Shingle,
    hash_bits: u32,
    seed: u64,
    /// 64-bit path: (a, b) of (a*x+b) mod (2^61-1).
    a: Vec<u64>,
    b: Vec<u64>,
    /// 32-bit path: (a odd, b) of `perm32`.
    a32: Vec<u32>,
    b32: Vec<u32>,
}

impl MinHasher {
    /// Permutation parameters are drawn from `seed`; the same seed gives the same signatures.
    pub fn new(num_perm: usize, ngram: usize, shingle: Shingle, hash_bits: u32, seed: u64) -> Self {
        // Shingle buffers are fixed arrays of 64 starts; validate() keeps ngram in range.
        let ngram = ngram.clamp(1, 64);
        let mut state = seed ^ 0x6D69_6E68_6173_6821; // "minhash!"
        let mut a = Vec::with_capacity(num_perm);
        let mut b = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            if hash_bits == 64 {
                a.push(1 + splitmix64(&mut state) % (MERSENNE61 - 1));
                b.push(splitmix64(&mut state) % MERSENNE61);
            }
        }
        #[allow(clippy::cast_possible_truncation)]
        let (a32, b32) = if hash_bits == 64 {
            (Vec::new(), Vec::new())
        } else {
            (0..num_perm)
                .map(|_| {
                    (
                        (splitmix64(&mut state) as u32) | 1,
                        splitmix64(&mut state) as u32,
                    )
                })
                .unzip()
        };
        MinHasher {
            num_perm,
            ngram,
            shingle,
            hash_bits,
            seed,
            a,
            b,
            a32,
            b32,
        }
    }

    pub fn from_config(cfg: &MinHashConfig) -> Self {
        Self::new(
            cfg.num_perm,
            cfg.ngram,
            cfg.shingle,
            cfg.hash_bits,
            cfg.seed,
        )
    }

    pub fn num_perm(&self) -> usize {
        self.num_perm
    }

    pub fn hash_bits(&self) -> u32 {
        self.hash_bits
    }

    /// Append the 64-bit hash of every shingle of normalized `text` (with repeats) to
    /// `out`. Texts shorter than one shingle give one shingle; empty text gives none.
    pub fn shingle_hashes(&self, normalized: &str, out: &mut Vec<u64>) {
        match self.shingle {
            Shingle::Word => word_shingle_hashes(normalized.as_bytes(), self.ngram, self.seed, out),
            Shingle::Char => char_shingle_hashes(normalized, self.ngram, self.seed, out),
        }
    }

    /// The seed word hashes must be made with for [`Self::shingle_hashes_of_words`]
    /// (`None` for character shingles, which do not use word hashes).
    pub fn word_seed(&self) -> Option<u64> {
        (self.shingle == Shingle::Word).then_some(self.seed)
    }

    /// `shingle_hashes(normalized)` from its word hashes (`shingle::word_hashes` with
    /// [`Self::word_seed`]) when shingles are words; else from the text.
    pub fn shingle_hashes_of_words(&self, normalized: &str, words: &[u64], out: &mut Vec<u64>) {
        match self.shingle {
            Shingle::Word => word_shingles_of_hashes(words, self.ngram, self.seed, out),
            Shingle::Char => char_shingle_hashes(normalized, self.ngram, self.seed, out),
        }
    }

    /// `shingle_hashes(&normalize(raw))`, cheaper: for word shingles only the pieces
    /// with non-ASCII characters are normalized (the word scanner folds ASCII itself).
    pub fn shingle_hashes_raw(&self, raw: &str, scratch: &mut String, out: &mut Vec<u64>) {
        if self.shingle == Shingle::Char {
            normalize_into(raw, scratch);
            return self.shingle_hashes(scratch, out);
        }
        if raw.is_ascii() {
            return word_shingle_hashes(raw.as_bytes(), self.ngram, self.seed, out);
        }
        words_text_into(raw, scratch);
        word_shingle_hashes(scratch.as_bytes(), self.ngram, self.seed, out);
    }

    /// The signature of a set of shingle hashes; all values are MAX for an empty set.
    pub fn signature_of_hashes(&self, hashes: &[u64]) -> Signature {
        if self.hash_bits == 64 {
            let mut sig = vec![u64::MAX; self.num_perm];
            for &x in hashes {
                let x = u128::from(x % MERSENNE61);
                for ((s, &a), &b) in sig.iter_mut().zip(&self.a).zip(&self.b) {
                    let h = mod_mersenne61(u128::from(a) * x + u128::from(b));
                    *s = (*s).min(h);
                }
            }
            Signature::U64(sig)
        } else {
            let mut sig = vec![u32::MAX; self.num_perm];
            fold32(&mut sig, &self.a32, &self.b32, hashes);
            Signature::U32(sig)
        }
    }

    /// Signature of normalized text (a convenience over the two steps above).
    pub fn signature(&self, text: &str) -> Signature {
        let mut hashes = Vec::new();
        self.shingle_hashes(text, &mut hashes);
        self.signature_of_hashes(&hashes)
    }
}

#[inline]
fn mod_mersenne61(x: u128) -> u64 {
    // x < 2^125 here; two folds bring it below 2^61 + small, one subtract finishes.
    #[allow(clippy::cast_possible_truncation)]
    let mut r = ((x & u128::from(MERSENNE61)) + (x >> 61)) as u64;
    r = (r & MERSENNE61) + (r >> 61);
    if r >= MERSENNE61 {
        r - MERSENNE61
    } else {
        r
    }
}

/// One 32-bit permutation: `a*x + b` mod 2^32 with `a` odd, a bijection of u32. The
/// inputs are already uniform hashes, and the minimum is decided by the high bits of
/// the product, which depend on every bit of `x`; so this multiply-add family behaves
/// like random permutations here (the estimator test checks it). Two vector
/// instructions and a min per 8 (AVX2) or 16 (AVX-512) permutations.
#[inline(always)]
fn perm32(x: u32, a: u32, b: u32) -> u32 {
    x.wrapping_mul(a).wrapping_add(b)
}

/// sig[i] = min(sig[i], perm32(x, a[i], b[i])) over the low 32 bits x of every shingle hash.
fn fold32(sig: &mut [u32], a: &[u32], b: &[u32], xs: &[u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe { fold32_avx512(sig, a, b, xs) };
            return;
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { fold32_avx2(sig, a, b, xs) };
            return;
        }
    }
    fold32_kernel(sig, a, b, xs);
}

/// Vectors of minima one pass over the shingles keeps in registers (4 x 16 lanes).
#[cfg(target_arch = "x86_64")]
const ZMM_BLOCK: usize = 64;

/// [`fold32_kernel`] written with AVX-512 intrinsics: for each block of 64 permutations,
/// four vectors of minima stay in registers while every shingle is broadcast and folded in
/// (a multiply, an add and a min per 16 lanes). The auto-vectorized generic kernel spilled
/// to the stack and ran 3x slower (same results: the same wrapping arithmetic, lane by lane).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fold32_avx512(sig: &mut [u32], a: &[u32], b: &[u32], xs: &[u64]) {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_min_epu32, _mm512_mullo_epi32,
        _mm512_set1_epi32, _mm512_storeu_si512,
    };
    const W: usize = 16;
    let n = sig.len().min(a.len()).min(b.len());
    let blocks = n / ZMM_BLOCK * ZMM_BLOCK;
    // SAFETY (all loads and stores): each reads or writes the 16 u32 of a checked subslice.
    let load = |s: &[u32], at: usize| unsafe { _mm512_loadu_si512(s[at..at + W].as_ptr().cast()) };
    for start in (0..blocks).step_by(ZMM_BLOCK) {
        let av: [__m512i; 4] = std::array::from_fn(|k| load(a, start + k * W));
        let bv: [__m512i; 4] = std::array::from_fn(|k| load(b, start + k * W));
        let mut m = [_mm512_set1_epi32(-1); 4];
        for &x in xs {
            #[allow(clippy::cast_possible_truncation)] // the low 32 bits, as the kernel takes them
            let xv = _mm512_set1_epi32(x as u32 as i32);
            for ((mk, &ak), &bk) in m.iter_mut().zip(&av).zip(&bv) {
                *mk = _mm512_min_epu32(*mk, _mm512_add_epi32(_mm512_mullo_epi32(xv, ak), bk));
            }
        }
        for (k, mk) in m.into_iter().enumerate() {
            let at = start + k * W;
            let merged = _mm512_min_epu32(load(sig, at), mk);
            unsafe { _mm512_storeu_si512(sig[at..at + W].as_mut_ptr().cast(), merged) };
        }
    }
    fold32_kernel(&mut sig[blocks..n], &a[blocks..n], &b[blocks..n], xs);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold32_avx2(sig: &mut [u32], a: &[u32], b: &[u32], xs: &[u64]) {
    fold32_kernel(sig, a, b, xs);
}

/// Lanes per block: a block of running minima stays in registers over all shingles.
const LANES: usize = 16;

#[inline(always)]
fn fold32_kernel(sig: &mut [u32], a: &[u32], b: &[u32], xs: &[u64]) {
    let n = sig.len().min(a.len()).min(b.len());
    let (sig, a, b) = (&mut sig[..n], &a[..n], &b[..n]);
    let blocks = n / LANES * LANES;
    for ((sc, ac), bc) in sig[..blocks]
        .chunks_exact_mut(LANES)
        .zip(a[..blocks].chunks_exact(LANES))
        .zip(b[..blocks].chunks_exact(LANES))
    {
        let mut m = [u32::MAX; LANES];
        let mut av = [0u32; LANES];
        let mut bv = [0u32; LANES];
        av.copy_from_slice(ac);
        bv.copy_from_slice(bc);
        for &x in xs {
            #[allow(clippy::cast_possible_truncation)]
            let x = x as u32;
            for l in 0..LANES {
                m[l] = m[l].min(perm32(x, av[l], bv[l]));
            }
        }
        for (s, v) in sc.iter_mut().zip(m) {
            *s = (*s).min(v);
        }
    }
    for &x in xs {
        #[allow(clippy::cast_possible_truncation)]
        let x = x as u32;
        for ((s, &a), &b) in sig[blocks..].iter_mut().zip(&a[blocks..]).zip(&b[blocks..]) {
            *s = (*s).min(perm32(x, a, b));
        }
    }
}

/// Band hashes of a signature: band j hashes its `rows` values with seed `j`.
pub fn band_hashes(sig: &Signature, bands: usize, rows: usize, out: &mut Vec<u64>) {
    let width = match sig {
        Signature::U32(_) => 4,
        Signature::U64(_) => 8,
    };
    let bytes = sig.as_bytes_le();
    for j in 0..bands {
        let band = &bytes[j * rows * width..(j + 1) * rows * width];
        out.push(xxh3_64_with_seed(band, j as u64));
    }
}

/// Estimated Jaccard similarity: the fraction of equal signature positions.
pub fn jaccard_estimate(a: &Signature, b: &Signature) -> Option<f64> {
    let (eq, n) = match (a, b) {
        (Signature::U32(x), Signature::U32(y)) if x.len() == y.len() => {
            (x.iter().zip(y).filter(|(p, q)| p == q).count(), x.len())
        }
        (Signature::U64(x), Signature::U64(y)) if x.len() == y.len() => {
            (x.iter().zip(y).filter(|(p, q)| p == q).count(), x.len())
        }
        _ => return None,
    };
    if n == 0 {
        return None;
    }
    Some(eq as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_gives_the_shingles_of_its_normalized_form() {
        let samples = [
            "  Hello,   WORLD!\n\tIt's  x ",
            "ＡＢＣ… déjà Vu, and then ASCII words",
            "cafe\u{301} e\u{301}t\u{e9} < \u{338} <\u{338} =\u{338}x",
            "\u{301}lead ﬁne İstanbul ǅemal",
            "Copyright © 2020 “quoted” text—dash\u{a0}nbsp and_more",
            "a\u{3000}b\u{2028}c d e f",
            "one",
            "",
        ];
        for shingle in [Shingle::Word, Shingle::Char] {
            let h = MinHasher::new(16, 3, shingle, 32, 5);
            let (mut raw, mut norm, mut scratch) = (Vec::new(), Vec::new(), String::new());
            for t in samples {
                raw.clear();
                norm.clear();
                h.shingle_hashes_raw(t, &mut scratch, &mut raw);
                h.shingle_hashes(&crate::normalize::normalize(t), &mut norm);
                assert_eq!(raw, norm, "{shingle:?} {t:?}");
            }
        }
    }

    #[test]
    fn signatures_round_trip_through_le_bytes() {
        for bits in [32, 64] {
            let h = MinHasher::new(24, 2, Shingle::Word, bits, 3);
            let sig = h.signature("a b c d e f");
            let back = Signature::from_le_bytes(&sig.as_bytes_le(), 24, bits).unwrap();
            assert_eq!(back, sig);
            let err = Signature::from_le_bytes(&sig.as_bytes_le()[1..], 24, bits).unwrap_err();
            assert!(err.to_string().contains("does not hold 24 values"), "{err}");
        }
    }

    #[test]
    fn mersenne_reduction_matches_modulo() {
        for x in [
            0u128,
            1,
            u128::from(MERSENNE61),
            u128::from(MERSENNE61) * 3 + 7,
            (1u128 << 124) + 12345,
        ] {
            assert_eq!(u128::from(mod_mersenne61(x)), x % u128::from(MERSENNE61));
        }
    }

    #[test]
    fn vector_fold_matches_the_scalar_definition() {
        // Lane counts around the 64-lane blocks, so the blocks and the tail are both checked.
        let mut rng = crate::fuzzing::Rng(3);
        for n in [1, 15, 63, 64, 65, 100, 128, 200] {
            let a: Vec<u32> = (0..n).map(|_| rng.next() as u32 | 1).collect();
            let b: Vec<u32> = (0..n).map(|_| rng.next() as u32).collect();
            let xs: Vec<u64> = (0..=rng.below(300)).map(|_| rng.next()).collect();
            let mut got = vec![u32::MAX; n];
            got[0] = 5; // an existing minimum must survive the merge
            let mut want = got.clone();
            fold32(&mut got, &a, &b, &xs);
            for &x in &xs {
                for ((s, &a), &b) in want.iter_mut().zip(&a).zip(&b) {
                    *s = (*s).min(perm32(x as u32, a, b));
                }
            }
            assert_eq!(got, want, "{n} lanes");
        }
    }
}
