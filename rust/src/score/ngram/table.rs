//! The loaded model's lookup tables: open addressing with linear probing over 16-byte
//! slots (a 64-bit key, the log10 probability and the log10 backoff), at most 60 % full.
//! Keys are seeded 64-bit hashes of the n-gram's word ids; the loader retries with the
//! next seed when two n-grams of one order share a key, so every stored n-gram is found
//! exactly (an unseen n-gram matches a stored key with probability about n / 2^64).

/// A probability and a backoff, both log10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub logp: f32,
    pub logb: f32,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    key: u64,
    entry: Entry,
}

const EMPTY: u64 = 0;

/// A fixed-size hash table from 64-bit keys to [`Entry`]; key 0 is stored as 1.
pub struct Table {
    slots: Vec<Slot>,
    mask: usize,
}

/// Two entries of one table hashed to the same key: the caller reseeds and rebuilds.
#[derive(Debug)]
pub struct Collision;

impl Table {
    /// A table sized for `n` entries (at most 60 % full).
    pub fn with_capacity(n: usize) -> Self {
        let cap = ((n * 5 / 3) + 1).next_power_of_two().max(2);
        Table {
            slots: vec![
                Slot {
                    key: EMPTY,
                    entry: Entry {
                        logp: 0.0,
                        logb: 0.0
                    }
                };
                cap
            ],
            mask: cap - 1,
        }
    }

    #[inline(always)]
    fn fix(key: u64) -> u64 {
        if key == EMPTY {
            1
        } else {
            key
        }
    }

    /// Insert a new key; `Err(Collision)` when the key is already present.
    pub fn insert(&mut self, key: u64, entry: Entry) -> Result<(), Collision> {
        let key = Self::fix(key);
        let mut i = (key as usize) & self.mask;
        loop {
            let s = &mut self.slots[i];
            if s.key == EMPTY {
                *s = Slot { key, entry };
                return Ok(());
            }
            if s.key == key {
                return Err(Collision);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    pub fn get(&self, key: u64) -> Option<Entry> {
        let key = Self::fix(key);
        let mut i = (key as usize) & self.mask;
        loop {
            let s = &self.slots[i];
            if s.key == key {
                return Some(s.entry);
            }
            if s.key == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Bytes of memory the slots take.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

#[inline(always)]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The key of an n-gram of word ids under `seed`.
#[inline(always)]
pub fn ngram_key(ids: &[u32], seed: u64) -> u64 {
    let mut h = seed ^ K2;
    for &id in ids {
        h = (h ^ u64::from(id)).wrapping_mul(K1).rotate_left(29);
    }
    fmix64(h ^ ids.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut t = Table::with_capacity(1000);
        for i in 0..1000u32 {
            let e = Entry {
                logp: -(i as f32),
                logb: i as f32,
            };
            t.insert(ngram_key(&[i, i + 1], 7), e).unwrap();
        }
        for i in 0..1000u32 {
            let want = Entry {
                logp: -(i as f32),
                logb: i as f32,
            };
            assert_eq!(t.get(ngram_key(&[i, i + 1], 7)), Some(want));
            assert!(t.get(ngram_key(&[i + 1, i], 7)).is_none());
        }
        assert!(t
            .insert(
                ngram_key(&[3, 4], 7),
                t.get(0).unwrap_or(Entry {
                    logp: 0.0,
                    logb: 0.0
                })
            )
            .is_err());
        // Key 0 is stored (as 1).
        let mut z = Table::with_capacity(1);
        z.insert(
            0,
            Entry {
                logp: -1.0,
                logb: 0.0,
            },
        )
        .unwrap();
        assert_eq!(
            z.get(0),
            Some(Entry {
                logp: -1.0,
                logb: 0.0
            })
        );
    }
}
