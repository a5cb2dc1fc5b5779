//! The classifier's features (hashed words and word bigrams of the normalized text) and
//! its model file (FORMAT.md: header, feature config, weights, xxh3 checksum).

use crate::config::DomainClassifierConfig;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The feature scheme this engine computes (a model of another scheme is refused).
pub const SCHEME: u32 = 1;
const MAGIC: &[u8; 8] = b"CPTCLF\0\0";
const VERSION: u32 = 1;
// magic, version, scheme, bits, ngrams, seed, positives, negatives, epochs, bias (FORMAT.md).
pub(super) const HEADER: usize = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 4 + 4;

/// How a text becomes features (stored in the model's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    pub scheme: u32,
    /// The hash table has `2^bits` buckets.
    pub bits: u32,
    /// 1 = words, 2 = words and word bigrams.
    pub ngrams: u32,
    pub seed: u64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            scheme: SCHEME,
            bits: 20,
            ngrams: 2,
            seed: 0x6370_745f_636c_6631,
        }
    }
}

impl FeatureConfig {
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.scheme != SCHEME {
            return Err(format!(
                "feature scheme {} (this engine computes scheme {SCHEME})",
                self.scheme
            ));
        }
        if !(8..=26).contains(&self.bits) {
            return Err(format!("bits {} is not in 8..=26", self.bits));
        }
        if !(1..=2).contains(&self.ngrams) {
            return Err(format!("ngrams {} is not 1 or 2", self.ngrams));
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        format!(
            "scheme {}, 2^{} buckets, word {}-grams, seed {:#x}",
            self.scheme, self.bits, self.ngrams, self.seed
        )
    }

    /// The sparse feature vector of a normalized text: sorted bucket indices and values.
    pub fn features(&self, normalized: &str, out: &mut Vec<(u32, f32)>) {
        out.clear();
        let shift = 64 - self.bits;
        let mut idx: Vec<u32> = Vec::with_capacity(normalized.len() / 3);
        let mut prev: Option<u64> = None;
        for w in crate::normalize::words(normalized) {
            let h = xxh3_64_with_seed(w.as_bytes(), self.seed);
            idx.push((h >> shift) as u32);
            if self.ngrams >= 2 {
                if let Some(p) = prev {
                    let b = splitmix(p.rotate_left(23) ^ h ^ 0x9e37_79b9_7f4a_7c15);
                    idx.push((b >> shift) as u32);
                }
            }
            prev = Some(h);
        }
        idx.sort_unstable();
        let mut norm = 0.0f64;
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j < idx.len() && idx[j] == idx[i] {
                j += 1;
            }
            let v = (1.0 + (j - i) as f64).ln();
            norm += v * v;
            out.push((idx[i], v as f32));
            i = j;
        }
        if norm > 0.0 {
            let inv = (1.0 / norm.sqrt()) as f32;
            for (_, v) in out.iter_mut() {
                *v *= inv;
            }
        }
    }
}

pub(super) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A trained linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub features: FeatureConfig,
    pub positives: u64,
    pub negatives: u64,
    pub epochs: u32,
    pub bias: f32,
    pub weights: Vec<f32>,
}

impl Model {
    /// P(domain | text).
    pub fn score_normalized(&self, normalized: &str, scratch: &mut Vec<(u32, f32)>) -> f64 {
        self.features.features(normalized, scratch);
        let mut z = f64::from(self.bias);
        for &(i, v) in scratch.iter() {
            z += f64::from(self.weights[i as usize]) * f64::from(v);
        }
        sigmoid(z)
    }

    pub fn score(&self, text: &str) -> f64 {
        self.score_normalized(&crate::normalize::normalize(text), &mut Vec::new())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER + self.weights.len() * 4 + 8);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&self.features.scheme.to_le_bytes());
        b.extend_from_slice(&self.features.bits.to_le_bytes());
        b.extend_from_slice(&self.features.ngrams.to_le_bytes());
        b.extend_from_slice(&self.features.seed.to_le_bytes());
        b.extend_from_slice(&self.positives.to_le_bytes());
        b.extend_from_slice(&self.negatives.to_le_bytes());
        b.extend_from_slice(&self.epochs.to_le_bytes());
        b.extend_from_slice(&self.bias.to_le_bytes());
        for w in &self.weights {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let sum = xxh3_64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Decode a model file's bytes; the error says what is wrong (the caller names the file).
    pub fn decode(b: &[u8]) -> std::result::Result<Model, String> {
        if b.len() < 8 || &b[..8] != MAGIC {
            return Err("not a cpt classifier model (bad magic)".into());
        }
        if b.len() < HEADER + 8 {
            return Err(format!(
                "truncated ({} bytes, header alone is {HEADER})",
                b.len()
            ));
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let version = u32_at(8);
        if version != VERSION {
            return Err(format!(
                "model format version {version} (this engine reads version {VERSION})"
            ));
        }
        let features = FeatureConfig {
            scheme: u32_at(12),
            bits: u32_at(16),
            ngrams: u32_at(20),
            seed: u64_at(24),
        };
        if features.scheme == SCHEME && (8..=26).contains(&features.bits) {
            let want = HEADER + (4usize << features.bits) + 8;
            if b.len() != want {
                return Err(format!(
                    "{} bytes where 2^{} weights make {want}: truncated or corrupt",
                    b.len(),
                    features.bits
                ));
            }
        }
        let (body, sum) = b.split_at(b.len() - 8);
        if xxh3_64(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
            return Err("checksum mismatch: the file is corrupt".into());
        }
        features
            .check()
            .map_err(|e| format!("trained with an unsupported feature config: {e}"))?;
        let weights = body[HEADER..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok(Model {
            features,
            positives: u64_at(32),
            negatives: u64_at(40),
            epochs: u32_at(48),
            bias: f32::from_le_bytes(b[52..56].try_into().unwrap()),
            weights,
        })
    }

    pub fn load(path: &Path) -> Result<Model> {
        let bytes = crate::io::read_all(path)?;
        Model::decode(&bytes).map_err(|msg| Error::Corrupt {
            path: path.to_path_buf(),
            msg,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, &self.encode())
    }

    /// The stage's model, checked against the features the config expects.
    pub fn for_stage(c: &DomainClassifierConfig) -> Result<Model> {
        let path = PathBuf::from(c.model.as_deref().unwrap_or_default());
        let m = Model::load(&path)?;
        let f = m.features;
        if c.bits.is_some_and(|b| b != f.bits) || c.ngrams.is_some_and(|n| n != f.ngrams) {
            return Err(Error::Corrupt {
                path,
                msg: format!(
                    "trained with another feature config ({}) than domain_classifier expects \
                     (bits {}, ngrams {}); retrain it or change the config",
                    f.describe(),
                    c.bits.map_or("any".into(), |b| b.to_string()),
                    c.ngrams.map_or("any".into(), |n| n.to_string())
                ),
            });
        }
        Ok(m)
    }
}
