//! Set similarities of shingle-key sets: exact Jaccard, and its bottom-k estimate.

use super::sketch::read_u32;

/// A sorted set of u32 values, read as a slice or as little-endian bytes in place.
pub trait SortedU32s {
    fn len(&self) -> usize;
    fn at(&self, i: usize) -> u32;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SortedU32s for [u32] {
    fn len(&self) -> usize {
        <[u32]>::len(self)
    }
    fn at(&self, i: usize) -> u32 {
        self[i]
    }
}

/// Little-endian u32 values stored in a byte slice.
pub struct LeU32s<'a>(pub(super) &'a [u8]);

impl<'a> LeU32s<'a> {
    /// The set stored in `bytes` (a sketch's shingle set, as [`super::NearDup::sketch_parts`] gives it).
    pub fn new(bytes: &'a [u8]) -> Self {
        LeU32s(bytes)
    }
}

impl SortedU32s for LeU32s<'_> {
    fn len(&self) -> usize {
        self.0.len() / 4
    }
    fn at(&self, i: usize) -> u32 {
        read_u32(&self.0[4 * i..])
    }
}

/// Keep the k smallest distinct values of `v`, sorted ascending (a bottom-k sketch).
pub(super) fn bottom_k(v: &mut Vec<u32>, k: usize) {
    // Partition first so only about 2k values are sorted; the partition keeps every
    // value, so heavy repeats can still fall back to sorting all of them.
    if v.len() > 2 * k + 1 {
        v.select_nth_unstable(2 * k);
        let head = &mut v[..=2 * k];
        head.sort_unstable();
        let mut distinct = 1;
        for i in 1..head.len() {
            if head[i] != head[distinct - 1] {
                head[distinct] = head[i];
                distinct += 1;
            }
        }
        if distinct >= k {
            v.truncate(k);
            return;
        }
    }
    v.sort_unstable();
    v.dedup();
    v.truncate(k);
}

/// Jaccard estimated from two bottom-k sketches: among the k smallest values of their
/// union, the share present in both (exact when both sets have fewer than k values).
pub(super) fn bottom_k_jaccard<S: SortedU32s + ?Sized>(a: &S, b: &S, k: usize) -> f64 {
    let (mut i, mut j, mut union, mut both) = (0, 0, 0usize, 0usize);
    while union < k && (i < a.len() || j < b.len()) {
        if i < a.len() && j < b.len() {
            let (x, y) = (a.at(i), b.at(j));
            if x == y {
                both += 1;
                i += 1;
                j += 1;
            } else if x < y {
                i += 1;
            } else {
                j += 1;
            }
        } else if i < a.len() {
            i += 1;
        } else {
            j += 1;
        }
        union += 1;
    }
    if union == 0 {
        return 1.0;
    }
    both as f64 / union as f64
}

/// |A ∩ B| / |A ∪ B| of two sorted sets without repeats.
pub fn exact_jaccard<S: SortedU32s + ?Sized>(a: &S, b: &S) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a.at(i).cmp(&b.at(j)) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_jaccard_of_sets() {
        assert!((exact_jaccard(&[1, 2, 3][..], &[2, 3, 4][..]) - 0.5).abs() < 1e-12);
        assert!((exact_jaccard(&[1][..], &[1][..]) - 1.0).abs() < 1e-12);
        assert!(exact_jaccard(&[1][..], &[2][..]).abs() < 1e-12);
    }

    #[test]
    fn bottom_k_sketches() {
        let mut v = vec![9, 3, 3, 7, 1, 8, 2, 2, 6];
        bottom_k(&mut v, 3);
        assert_eq!(v, vec![1, 2, 3]);
        let mut big: Vec<u32> = (0..1000).rev().chain(0..1000).collect();
        bottom_k(&mut big, 10);
        assert_eq!(big, (0..10).collect::<Vec<_>>());
        // Small sets: exact Jaccard.
        assert!((bottom_k_jaccard(&[1, 2, 3][..], &[2, 3, 4][..], 16) - 0.5).abs() < 1e-12);
        // k = 2 of the union {1,2,...}: {1,2}, of which only 2 is in both.
        assert!((bottom_k_jaccard(&[1, 2, 3][..], &[2, 3, 4][..], 2) - 0.5).abs() < 1e-12);
    }
}
