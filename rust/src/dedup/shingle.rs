//! Shingle hashes. Word shingles hash each word once, folding case and punctuation in
//! the same byte pass, and combine the hashes of the last `n` words; so raw ASCII text
//! needs no normalized copy and no per-shingle pass over its bytes. Character shingles
//! hash the `n`-character substrings of the normalized text with xxh3.

use xxhash_rust::xxh3::xxh3_64_with_seed;

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// MurmurHash3's 64-bit finalizer: a bijection that spreads every bit over the word.
#[inline(always)]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// Whether a byte belongs to a word: ASCII `[A-Za-z0-9]`, which is what `crate::normalize`
/// keeps of ASCII text, or any byte >= 0x80, which only occurs in normalized text,
/// inside words.
#[inline(always)]
fn is_word_byte(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric()
}

/// Lowercase the ASCII letters among 8 word bytes (digits already have bit 5 set,
/// and bytes >= 0x80 are left alone).
#[inline(always)]
fn lower8(x: u64) -> u64 {
    x | ((!x >> 2) & 0x2020_2020_2020_2020)
}

/// Builds the word hashes of text and turns them into shingle hashes.
pub struct WordShingler<'a> {
    n: usize,
    seed: u64,
    /// The last n word hashes, stored twice so the window is one slice (`ring[pos..pos+n]`).
    ring: [u64; 128],
    pos: usize,
    filled: usize,
    /// Bit i of word j: byte 64j+i of the text being fed is a word byte.
    mask: Vec<u64>,
    out: &'a mut Vec<u64>,
}

impl<'a> WordShingler<'a> {
    pub fn new(n: usize, seed: u64, out: &'a mut Vec<u64>) -> Self {
        WordShingler {
            n: n.clamp(1, 64),
            seed,
            ring: [0; 128],
            pos: 0,
            filled: 0,
            mask: Vec::new(),
            out,
        }
    }

    /// Feed text whose words end at its end: normalized text, or a raw ASCII piece
    /// cut at whitespace. Case is folded and ASCII punctuation separates words.
    pub fn feed(&mut self, text: &[u8]) {
        word_mask(text, &mut self.mask);
        let mut p = 0;
        while let Some(start) = next_bit(&self.mask, p, text.len(), true) {
            let end = next_bit(&self.mask, start, text.len(), false).unwrap_or(text.len());
            let w = hash_word(text, start, end, self.seed);
            self.push(w);
            p = end;
        }
    }

    fn push(&mut self, w: u64) {
        let n = self.n;
        self.ring[self.pos] = w;
        self.ring[self.pos + n] = w;
        self.pos = if self.pos + 1 == n { 0 } else { self.pos + 1 };
        if self.filled < n {
            self.filled += 1;
            if self.filled < n {
                return;
            }
        }
        self.out
            .push(combine(&self.ring[self.pos..self.pos + n], self.seed));
    }

    /// A text of fewer than n words gives one shingle of all of them.
    pub fn finish(self) {
        if self.filled > 0 && self.filled < self.n {
            self.out.push(combine(&self.ring[..self.filled], self.seed));
        }
    }
}

/// Hashes of the word `n`-grams of `text`, which is either normalized text or raw
/// ASCII text (both give the words of the normalized text). A text of fewer than `n`
/// words gives one shingle of all its words; a text without words gives none.
pub fn word_shingle_hashes(text: &[u8], n: usize, seed: u64, out: &mut Vec<u64>) {
    let mut sh = WordShingler::new(n, seed, out);
    sh.feed(text);
    sh.finish();
}

/// Call `each(start, end, hash)` for every word of `text` (normalized text, or raw ASCII
/// text), in order: the word hashes the word shingles combine, so a caller that needs the
/// words anyway (the shared document analysis) hashes them once for every stage.
pub fn word_hashes(
    text: &[u8],
    seed: u64,
    mask: &mut Vec<u64>,
    mut each: impl FnMut(usize, usize, u64),
) {
    word_mask(text, mask);
    let mut p = 0;
    while let Some(start) = next_bit(mask, p, text.len(), true) {
        let end = next_bit(mask, start, text.len(), false).unwrap_or(text.len());
        each(start, end, hash_word(text, start, end, seed));
        p = end;
    }
}

/// [`word_shingle_hashes`] from the word hashes [`word_hashes`] gave (same seed).
pub fn word_shingles_of_hashes(words: &[u64], n: usize, seed: u64, out: &mut Vec<u64>) {
    let mut sh = WordShingler::new(n, seed, out);
    for &w in words {
        sh.push(w);
    }
    sh.finish();
}

/// One shingle's hash from its words' hashes, each rotated by its place (so order counts).
#[inline(always)]
fn combine(words: &[u64], seed: u64) -> u64 {
    let mut h = seed ^ K2;
    for (j, w) in words.iter().enumerate() {
        #[allow(clippy::cast_possible_truncation)] // j < 64
        let r = (23 * j as u32) % 64;
        h ^= w.rotate_left(r);
    }
    fmix64(h ^ words.len() as u64)
}

/// The hash of the word `text[start..end]`, lowercased, read 8 bytes at a time.
#[inline(always)]
fn hash_word(text: &[u8], start: usize, end: usize, seed: u64) -> u64 {
    let mut h = seed;
    let mut i = start;
    while i + 8 <= end {
        let chunk = u64::from_le_bytes(text[i..i + 8].try_into().unwrap_or([0; 8]));
        h = (h ^ lower8(chunk)).wrapping_mul(K1).rotate_left(29);
        i += 8;
    }
    let rest = end - i;
    let mut tail = 0u64;
    if rest > 0 {
        let chunk = if i + 8 <= text.len() {
            u64::from_le_bytes(text[i..i + 8].try_into().unwrap_or([0; 8]))
        } else {
            let mut b = [0u8; 8];
            b[..text.len() - i].copy_from_slice(&text[i..]);
            u64::from_le_bytes(b)
        };
        tail = lower8(chunk) & (u64::MAX >> (64 - 8 * rest));
    }
    // A word of under 8 bytes fills at most 56 bits of `tail`, so (tail, length) is
    // injective for short words.
    fmix64(h ^ tail ^ ((end - start) as u64) << 56)
}

/// The first position >= `from` (and < `len`) whose bit equals `set`.
#[inline(always)]
fn next_bit(mask: &[u64], from: usize, len: usize, set: bool) -> Option<usize> {
    let mut j = from / 64;
    let flip = if set { 0 } else { u64::MAX };
    let mut m = mask
        .get(j)
        .map_or(0, |&w| (w ^ flip) >> (from % 64) << (from % 64));
    loop {
        if m != 0 {
            let pos = j * 64 + m.trailing_zeros() as usize;
            return (pos < len).then_some(pos);
        }
        j += 1;
        if j >= mask.len() {
            return None;
        }
        m = mask[j] ^ flip;
    }
}

/// Bit i of `mask[j]` = whether `text[64j + i]` is a word byte (16 bytes per SSE2 step).
fn word_mask(text: &[u8], mask: &mut Vec<u64>) {
    mask.clear();
    let mut chunks = text.chunks_exact(64);
    for chunk in &mut chunks {
        mask.push(word_mask64(chunk));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut m = 0u64;
        for (i, &b) in rest.iter().enumerate() {
            m |= u64::from(is_word_byte(b)) << i;
        }
        mask.push(m);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn word_mask64(chunk: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128, _mm_sub_epi8,
    };
    debug_assert_eq!(chunk.len(), 64);
    let mut m = 0u64;
    for k in 0..4 {
        // SAFETY: SSE2 is part of x86_64; the load reads 16 of the chunk's 64 bytes.
        let bits = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * k).cast::<__m128i>());
            // Signed compares on shifted ranges: x - lo + (-128) < -128 + width.
            let high = _mm_cmplt_epi8(v, _mm_setzero_si128());
            let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let letter = _mm_cmplt_epi8(
                _mm_sub_epi8(lower, _mm_set1_epi8((b'a' as i8).wrapping_add(-128))),
                _mm_set1_epi8(-128 + 26),
            );
            let digit = _mm_cmplt_epi8(
                _mm_sub_epi8(v, _mm_set1_epi8((b'0' as i8).wrapping_add(-128))),
                _mm_set1_epi8(-128 + 10),
            );
            _mm_movemask_epi8(_mm_or_si128(high, _mm_or_si128(letter, digit)))
        };
        #[allow(clippy::cast_sign_loss)]
        {
            m |= u64::from(bits as u16) << (16 * k);
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn word_mask64(chunk: &[u8]) -> u64 {
    let mut m = 0u64;
    for (i, &b) in chunk.iter().enumerate() {
        m |= u64::from(is_word_byte(b)) << i;
    }
    m
}

/// Hashes of the character `n`-grams of normalized `text` (xxh3 of each substring).
/// A text shorter than `n` characters gives one shingle; an empty one gives none.
pub fn char_shingle_hashes(text: &str, n: usize, seed: u64, out: &mut Vec<u64>) {
    let n = n.clamp(1, 64);
    let bytes = text.as_bytes();
    let mut starts = [0usize; 64];
    let mut count = 0usize;
    for (pos, _) in text.char_indices() {
        if count >= n {
            // starts[count % n] still holds the start of char count-n.
            out.push(xxh3_64_with_seed(&bytes[starts[count % n]..pos], seed));
        }
        starts[count % n] = pos;
        count += 1;
    }
    if count >= n {
        out.push(xxh3_64_with_seed(&bytes[starts[count % n]..], seed));
    } else if count > 0 {
        out.push(xxh3_64_with_seed(bytes, seed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn words(text: &str, n: usize) -> Vec<u64> {
        let mut v = Vec::new();
        word_shingle_hashes(text.as_bytes(), n, 7, &mut v);
        v
    }

    #[test]
    fn word_shingles_follow_the_normalized_words() {
        assert_eq!(words("a b c d", 2).len(), 3);
        assert_eq!(words("A, b!  C-d", 2), words("a b c d", 2));
        assert_eq!(words("a b", 5).len(), 1);
        assert!(words(" ,; ", 3).is_empty());
        // Order matters inside a shingle, and repeats give equal hashes.
        let v = words("x y x y x", 2);
        assert_eq!(v[0], v[2]);
        assert_ne!(v[0], v[1]);
        // Long words (several 8-byte chunks) and prefixes stay distinct.
        let long = words("abcdefghijklmnopq abcdefghijklmnop abcdefgh abcdefghi", 1);
        assert_eq!(long.iter().collect::<HashSet<_>>().len(), 4);
    }

    #[test]
    fn word_mask_matches_the_byte_rule() {
        let text: Vec<u8> = (0..=255u8)
            .chain(0..=255u8)
            .chain(b"xyz".iter().copied())
            .collect();
        let mut mask = Vec::new();
        word_mask(&text, &mut mask);
        for (i, &b) in text.iter().enumerate() {
            assert_eq!(
                mask[i / 64] >> (i % 64) & 1 == 1,
                is_word_byte(b),
                "byte {b:#x}"
            );
        }
    }

    #[test]
    fn word_hashes_depend_on_the_seed() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        word_shingle_hashes(b"one two three", 2, 1, &mut a);
        word_shingle_hashes(b"one two three", 2, 2, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn char_shingles_follow_chars() {
        let mut v = Vec::new();
        char_shingle_hashes("aéb c", 3, 0, &mut v);
        let expect: Vec<u64> = ["aéb", "éb ", "b c"]
            .iter()
            .map(|s| xxh3_64_with_seed(s.as_bytes(), 0))
            .collect();
        assert_eq!(v, expect);
        v.clear();
        char_shingle_hashes("ab", 3, 0, &mut v);
        assert_eq!(v, vec![xxh3_64_with_seed(b"ab", 0)]);
    }
}
