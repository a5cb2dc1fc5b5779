//! The training tables: n-grams as u128 keys (word ids packed 25 bits each, first id
//! highest, so keys sort like the id sequences) in maps with a fixed, seedless hasher (so
//! training is deterministic), their counts and estimates, the counting of one document,
//! and the Kneser-Ney pieces that read the tables (discounts, the backoff lookup).

use super::{BOS, EOS, LOG_ZERO};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(super) const BITS: u32 = 25;
pub(super) const ID_MASK: u128 = (1 << BITS) - 1;
pub(super) const K1: u64 = 0x9E37_79B9_7F4A_7C15;

/// A fixed (seedless, so deterministic) hasher for packed keys.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K1);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = ((self.0 ^ v as u64).wrapping_mul(K1) ^ (v >> 64) as u64).wrapping_mul(K1);
    }
}

pub(super) type Map<V> = HashMap<u128, V, BuildHasherDefault<KeyHasher>>;

pub(super) fn mask(n: usize) -> u128 {
    if n as u32 * BITS >= 128 {
        u128::MAX
    } else {
        (1u128 << (n as u32 * BITS)) - 1
    }
}

pub(super) fn pack(ids: &[u32]) -> u128 {
    ids.iter()
        .fold(0u128, |k, &id| (k << BITS) | u128::from(id))
}

pub(super) fn unpack(key: u128, n: usize, out: &mut Vec<u32>) {
    for j in (0..n).rev() {
        out.push(((key >> (j as u32 * BITS)) & ID_MASK) as u32);
    }
}

/// Counts and estimates of one n-gram while training.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Gram {
    pub(super) raw: u64,
    /// Kneser-Ney adjusted count: distinct left extensions (raw for `<s>`-initial and top order).
    pub(super) adj: u32,
    pub(super) keep: bool,
    pub(super) logp: f32,
    pub(super) logb: f32,
}

/// Count, per order, the longest n-gram ending at each position of `<s> ids.. </s>`.
pub(super) fn count_doc(ids: &[u32], order: usize, counts: &mut [Map<u64>]) {
    let m = mask(order);
    let mut roll = u128::from(BOS);
    let mut len = 1usize;
    for &id in ids.iter().chain(std::iter::once(&EOS)) {
        roll = ((roll << BITS) | u128::from(id)) & m;
        len = (len + 1).min(order);
        *counts[len - 1].entry(roll).or_insert(0) += 1;
    }
}

pub(super) fn merge_maps(mut a: Vec<Map<u64>>, b: Vec<Map<u64>>) -> Vec<Map<u64>> {
    for (x, y) in a.iter_mut().zip(b) {
        let (mut big, small) = if x.len() >= y.len() {
            (std::mem::take(x), y)
        } else {
            (y, std::mem::take(x))
        };
        for (k, v) in small {
            *big.entry(k).or_insert(0) += v;
        }
        *x = big;
    }
    a
}

pub(super) fn log10_f32(p: f64) -> f32 {
    if p > 0.0 {
        (p.log10() as f32).max(LOG_ZERO)
    } else {
        LOG_ZERO
    }
}

/// log10 p(last | rest) under the orders estimated so far (Kneser-Ney backoff form).
pub(super) fn lookup(grams: &[Map<Gram>], ids: &[u32]) -> f64 {
    let n = ids.len();
    if n == 1 {
        return f64::from(grams[0][&u128::from(ids[0])].logp);
    }
    if let Some(g) = grams[n - 1].get(&pack(ids)).filter(|g| g.keep) {
        return f64::from(g.logp);
    }
    let b = grams[n - 2]
        .get(&pack(&ids[..n - 1]))
        .filter(|g| g.keep)
        .map_or(0.0, |g| f64::from(g.logb));
    b + lookup(grams, &ids[1..])
}

/// Modified Kneser-Ney discounts from the count-of-counts (Chen & Goodman): `Y = t1 / (t1 +
/// 2 t2)`, `D_k = k - (k + 1) Y t_{k+1} / t_k`; 0.5 / 1.0 / 1.5 when they are undefined or
/// out of range (tiny corpora), with the fallback flagged.
pub(super) fn kn_discounts(adj: impl Iterator<Item = u32>) -> ([f64; 3], bool) {
    let mut t = [0f64; 5];
    for a in adj {
        if (1..=4).contains(&a) {
            t[a as usize] += 1.0;
        }
    }
    const FALLBACK: [f64; 3] = [0.5, 1.0, 1.5];
    if t[1] == 0.0 || t[2] == 0.0 || t[3] == 0.0 || t[4] == 0.0 {
        return (FALLBACK, true);
    }
    let y = t[1] / (t[1] + 2.0 * t[2]);
    let d = [
        1.0 - 2.0 * y * t[2] / t[1],
        2.0 - 3.0 * y * t[3] / t[2],
        3.0 - 4.0 * y * t[4] / t[3],
    ];
    if d.iter()
        .enumerate()
        .all(|(i, &x)| x > 0.0 && x < (i + 1) as f64 + 1e-9)
    {
        (d, false)
    } else {
        (FALLBACK, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_sorts_lexicographically() {
        let mut out = Vec::new();
        unpack(pack(&[5, 1, 33_000_000]), 3, &mut out);
        assert_eq!(out, [5, 1, 33_000_000]);
        assert!(pack(&[1, 9, 9]) < pack(&[2, 0, 0]));
        assert_eq!(pack(&[7, 8, 9]) & mask(2), pack(&[8, 9]));
        assert_eq!(pack(&[7, 8, 9]) >> BITS, pack(&[7, 8]));
    }

    #[test]
    fn discounts_follow_chen_and_goodman() {
        // t1..t4 = 4, 2, 1, 1: Y = 4 / 8 = 0.5.
        let adj = [1, 1, 1, 1, 2, 2, 3, 4];
        let (d, fb) = kn_discounts(adj.into_iter());
        assert!(!fb);
        let want = [
            1.0 - 2.0 * 0.5 * 2.0 / 4.0,
            2.0 - 3.0 * 0.5 * 1.0 / 2.0,
            3.0 - 4.0 * 0.5,
        ];
        for (a, b) in d.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{d:?}");
        }
        assert!(kn_discounts([1, 1, 2].into_iter()).1);
    }
}
