//! The near-dup config (`minhash` section): shingles, permutations, LSH banding, checks
//! and memory, with defaults in one place and every error naming its key.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// How a document is cut into shingles before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Shingle {
    /// `ngram` consecutive words of the normalized text.
    #[default]
    Word,
    /// `ngram` consecutive characters (Unicode scalar values) of the normalized text.
    Char,
}

/// A byte count that reads from YAML/JSON as an integer or a string such as
/// `"2GiB"`, `"512MB"`, `"1.5G"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parse `"2GiB"`, `"512 MB"`, `"100k"`, `"12345"`; binary and decimal units.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.parse().map_err(|_| format!("not a byte size: {s:?}"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "t" | "tb" => 1e12,
            "ki" | "kib" => 1024.0,
            "mi" | "mib" => 1024.0 * 1024.0,
            "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "ti" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("unknown byte-size unit {other:?} in {s:?}")),
        };
        let bytes = value * mult;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(format!("byte size out of range: {s:?}"));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(ByteSize(bytes as u64))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// The `minhash` section of the curation config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinHashConfig {
    /// Run near-duplicate removal at all.
    pub enabled: bool,
    /// Number of hash permutations (signature length).
    pub num_perm: usize,
    /// Shingle length, in words or characters.
    pub ngram: usize,
    /// `word` or `char` shingles.
    pub shingle: Shingle,
    /// 32: mixed affine permutations of 32-bit shingle hashes (fast, 8 per AVX2 op);
    /// 64: (a*x+b) mod (2^61-1) of 64-bit shingle hashes (fewer collisions, slower).
    pub hash_bits: u32,
    /// Jaccard similarity at and above which two documents are near-duplicates.
    pub threshold: f64,
    /// Override the band count chosen from `threshold` (give `rows` too).
    pub bands: Option<usize>,
    /// Override the rows per band chosen from `threshold` (give `bands` too).
    pub rows: Option<usize>,
    /// Check every candidate pair by the exact Jaccard of its shingle-hash sets.
    pub verify: bool,
    /// Without `verify`: keep a candidate pair only if the Jaccard estimated from a
    /// bottom-k sample of the shingle hashes (`sample_size` values, 4 bytes each; exact for
    /// documents with fewer shingles) reaches `threshold`. Lower variance than the
    /// signature's own estimate. Either check lets the bands be chosen for recall.
    pub sample_check: bool,
    /// k of the bottom-k sample used by `sample_check`.
    pub sample_size: usize,
    /// Largest cluster expected; bigger merges are reported (and refused if `refuse_oversize`).
    pub max_cluster_size: Option<usize>,
    /// Refuse (skip) a merge that would make a cluster larger than `max_cluster_size`.
    pub refuse_oversize: bool,
    /// Memory budget for the band tables; above it they are spilled to disk and merged.
    pub mem_limit: Option<ByteSize>,
    /// Seed of the permutations and band hashes.
    pub seed: u64,
}

impl Default for MinHashConfig {
    fn default() -> Self {
        MinHashConfig {
            enabled: true,
            num_perm: 128,
            ngram: 5,
            shingle: Shingle::Word,
            hash_bits: 32,
            threshold: 0.8,
            bands: None,
            rows: None,
            verify: false,
            sample_check: true,
            sample_size: 256,
            max_cluster_size: None,
            refuse_oversize: false,
            mem_limit: None,
            seed: 42,
        }
    }
}

impl MinHashConfig {
    /// A config from a mapping of `minhash` keys (the Python keywords): unset keys keep
    /// their defaults; the result is validated, and every error names its key.
    pub fn from_keys(keys: serde_json::Value) -> Result<Self> {
        let cfg: MinHashConfig = crate::keywords::from_keys("minhash", keys)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check every value; errors name the offending key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: String| Err(Error::Config(format!("minhash.{key}: {msg}")));
        if self.num_perm == 0 || self.num_perm > 4096 {
            return bad(
                "num_perm",
                format!("must be in 1..=4096, got {}", self.num_perm),
            );
        }
        if self.ngram == 0 || self.ngram > 64 {
            return bad("ngram", format!("must be in 1..=64, got {}", self.ngram));
        }
        if self.hash_bits != 32 && self.hash_bits != 64 {
            return bad(
                "hash_bits",
                format!("must be 32 or 64, got {}", self.hash_bits),
            );
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return bad(
                "threshold",
                format!("must be in (0, 1), got {}", self.threshold),
            );
        }
        match (self.bands, self.rows) {
            (None, None) => {}
            (Some(b), Some(r)) => {
                if b == 0 || r == 0 {
                    return bad(
                        "bands",
                        format!("bands and rows must be >= 1, got {b} x {r}"),
                    );
                }
                if b > u16::MAX as usize {
                    return bad("bands", format!("at most {} bands, got {b}", u16::MAX));
                }
                if b * r > self.num_perm {
                    return bad(
                        "bands",
                        format!(
                            "bands x rows = {b} x {r} = {} exceeds num_perm {}",
                            b * r,
                            self.num_perm
                        ),
                    );
                }
            }
            (Some(_), None) => return bad("rows", "must be given together with bands".into()),
            (None, Some(_)) => return bad("bands", "must be given together with rows".into()),
        }
        if self.sample_size < 16 || self.sample_size > 65_535 {
            return bad(
                "sample_size",
                format!("must be in 16..=65535, got {}", self.sample_size),
            );
        }
        if let Some(m) = self.max_cluster_size {
            if m < 2 {
                return bad("max_cluster_size", format!("must be >= 2, got {m}"));
            }
        }
        if self.refuse_oversize && self.max_cluster_size.is_none() {
            return bad("refuse_oversize", "needs max_cluster_size".into());
        }
        if let Some(ByteSize(m)) = self.mem_limit {
            if m < 1 << 16 {
                return bad(
                    "mem_limit",
                    format!("must be at least 64KiB, got {m} bytes"),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_keys_names_the_key() {
        let cfg =
            MinHashConfig::from_keys(serde_json::json!({"threshold": 0.7, "bands": null})).unwrap();
        assert!((cfg.threshold - 0.7).abs() < 1e-12);
        assert_eq!(cfg.num_perm, MinHashConfig::default().num_perm);
        for (keys, key) in [
            (
                serde_json::json!({"shingle": "sentence"}),
                "minhash.shingle: unknown variant",
            ),
            (
                serde_json::json!({"num_perm": 1.5}),
                "minhash.num_perm: invalid type",
            ),
            (
                serde_json::json!({"treshold": 0.7}),
                "minhash.treshold: unknown field",
            ),
            (
                serde_json::json!({"threshold": 1.5}),
                "minhash.threshold: must be in",
            ),
        ] {
            let err = MinHashConfig::from_keys(keys).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn byte_sizes_parse() {
        assert_eq!(ByteSize::parse("2GiB").unwrap().0, 2 << 30);
        assert_eq!(ByteSize::parse("512 MB").unwrap().0, 512_000_000);
        assert_eq!(ByteSize::parse("100").unwrap().0, 100);
        assert!(ByteSize::parse("2 parsecs").is_err());
    }

    #[test]
    fn config_errors_name_the_key() {
        let cfg = MinHashConfig {
            bands: Some(20),
            rows: Some(10),
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("minhash.bands"), "{err}");
        let cfg = MinHashConfig {
            hash_bits: 16,
            ..Default::default()
        };
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("minhash.hash_bits"));
        let cfg: std::result::Result<MinHashConfig, _> =
            serde_yaml::from_str("mem_limit: 2GiB\nthreshold: 0.7\n");
        let cfg = cfg.unwrap();
        assert_eq!(cfg.mem_limit, Some(ByteSize(2 << 30)));
        let bad: std::result::Result<MinHashConfig, _> = serde_yaml::from_str("treshold: 0.7\n");
        assert!(bad.unwrap_err().to_string().contains("treshold"));
    }
}
