//! The config sections of the stages: each struct's `Default` is the one place its
//! defaults live (`--help`, `--dry-run` and the Python keywords read them from here).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExactDedupConfig {
    pub enabled: bool,
}

impl Default for ExactDedupConfig {
    fn default() -> Self {
        ExactDedupConfig { enabled: true }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FiltersConfig {
    pub length: LengthConfig,
    pub repetition: RepetitionConfig,
    pub quality: QualityConfig,
}

/// Gopher's document length rule (50..100,000 words); characters unbounded by default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LengthConfig {
    pub enabled: bool,
    pub min_words: u64,
    pub max_words: u64,
    pub min_chars: u64,
    pub max_chars: u64,
}

impl Default for LengthConfig {
    fn default() -> Self {
        LengthConfig {
            enabled: true,
            min_words: 50,
            max_words: 100_000,
            min_chars: 0,
            max_chars: u64::MAX,
        }
    }
}

/// Gopher's repetition thresholds (Rae et al. 2021, table A1): a document is rejected
/// when a fraction exceeds its maximum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RepetitionConfig {
    pub enabled: bool,
    pub max_dup_line_frac: f64,
    pub max_dup_para_frac: f64,
    pub max_dup_line_char_frac: f64,
    pub max_dup_para_char_frac: f64,
    /// Maximum character fraction of the most frequent 2-, 3- and 4-gram.
    pub max_top_ngram_char_frac: TopNgramConfig,
    /// Maximum character fraction covered by repeated 5..10-grams.
    pub max_dup_ngram_char_frac: DupNgramConfig,
}

impl Default for RepetitionConfig {
    fn default() -> Self {
        RepetitionConfig {
            enabled: true,
            max_dup_line_frac: 0.30,
            max_dup_para_frac: 0.30,
            max_dup_line_char_frac: 0.20,
            max_dup_para_char_frac: 0.20,
            max_top_ngram_char_frac: TopNgramConfig::default(),
            max_dup_ngram_char_frac: DupNgramConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopNgramConfig {
    #[serde(rename = "2")]
    pub n2: f64,
    #[serde(rename = "3")]
    pub n3: f64,
    #[serde(rename = "4")]
    pub n4: f64,
}

impl Default for TopNgramConfig {
    fn default() -> Self {
        TopNgramConfig {
            n2: 0.20,
            n3: 0.18,
            n4: 0.16,
        }
    }
}

impl TopNgramConfig {
    pub fn by_n(&self) -> [(usize, f64); 3] {
        [(2, self.n2), (3, self.n3), (4, self.n4)]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DupNgramConfig {
    #[serde(rename = "5")]
    pub n5: f64,
    #[serde(rename = "6")]
    pub n6: f64,
    #[serde(rename = "7")]
    pub n7: f64,
    #[serde(rename = "8")]
    pub n8: f64,
    #[serde(rename = "9")]
    pub n9: f64,
    #[serde(rename = "10")]
    pub n10: f64,
}

impl Default for DupNgramConfig {
    fn default() -> Self {
        DupNgramConfig {
            n5: 0.15,
            n6: 0.14,
            n7: 0.13,
            n8: 0.12,
            n9: 0.11,
            n10: 0.10,
        }
    }
}

impl DupNgramConfig {
    pub fn by_n(&self) -> [(usize, f64); 6] {
        [
            (5, self.n5),
            (6, self.n6),
            (7, self.n7),
            (8, self.n8),
            (9, self.n9),
            (10, self.n10),
        ]
    }
}

/// Gopher's quality heuristics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    pub enabled: bool,
    pub min_mean_word_len: f64,
    pub max_mean_word_len: f64,
    /// Maximum ratio of '#' and '...' (or '…') occurrences to words.
    pub max_symbol_word_ratio: f64,
    pub max_bullet_lines_frac: f64,
    pub max_ellipsis_lines_frac: f64,
    pub min_alpha_words_frac: f64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            enabled: true,
            min_mean_word_len: 3.0,
            max_mean_word_len: 10.0,
            max_symbol_word_ratio: 0.1,
            max_bullet_lines_frac: 0.9,
            max_ellipsis_lines_frac: 0.3,
            min_alpha_words_frac: 0.8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    pub enabled: bool,
    pub email: bool,
    pub ip_address: bool,
    pub phone: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            enabled: true,
            email: true,
            ip_address: true,
            phone: true,
        }
    }
}

/// The tokenize stage run after curation; defaults are `tokenize::TokenizeOptions`'.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizeConfig {
    pub enabled: bool,
    /// The model's tokenizer.json; required when enabled.
    pub tokenizer: Option<String>,
    /// Token shard directory; `None` = `<output>/tokens`.
    pub output: Option<String>,
    pub shard_tokens: u64,
    pub frame_tokens: u32,
    pub zstd_level: i32,
    /// EOS token spelling; `None` = found in the tokenizer.
    pub eos_token: Option<String>,
    /// Also write a Megatron-LM `PREFIX.bin` / `PREFIX.idx`.
    pub megatron: Option<String>,
}

impl Default for TokenizeConfig {
    fn default() -> Self {
        let o = crate::tokenize::TokenizeOptions::default();
        TokenizeConfig {
            enabled: false,
            tokenizer: None,
            output: None,
            shard_tokens: o.shard_tokens,
            frame_tokens: o.frame_tokens,
            zstd_level: o.zstd_level,
            eos_token: o.eos_token,
            megatron: None,
        }
    }
}

impl TokenizeConfig {
    /// Range checks, each naming its key (the tokenizer file is checked by the job).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::Config(format!("tokenize.{key}: {why}")));
        if self.enabled && !matches!(self.tokenizer.as_deref(), Some(t) if !t.is_empty()) {
            return bad(
                "tokenizer",
                "required when tokenize.enabled is true (path to the model's tokenizer.json)"
                    .into(),
            );
        }
        if self.shard_tokens == 0 {
            return bad("shard_tokens", "must be > 0".into());
        }
        if self.frame_tokens == 0 {
            return bad("frame_tokens", "must be > 0".into());
        }
        let levels = zstd::compression_level_range();
        if !levels.contains(&self.zstd_level) {
            return bad(
                "zstd_level",
                format!(
                    "{} is not in {}..={}",
                    self.zstd_level,
                    levels.start(),
                    levels.end()
                ),
            );
        }
        Ok(())
    }

    /// Where the token shards go: `output`, or `<job output>/tokens`.
    pub fn output_dir(&self, job_output: &Path) -> std::path::PathBuf {
        match &self.output {
            Some(o) if !o.is_empty() => std::path::PathBuf::from(o),
            _ => job_output.join("tokens"),
        }
    }
}

/// n-gram language-model perplexity (CCNet): every document's `ppl` under a `.cptlm` model
/// (`cpt-curate lm train`); optionally drop above `max_ppl`, or record CCNet's
/// head / middle / tail bucket as `ppl_bucket` (0, 1, 2) from two cut points.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PerplexityConfig {
    pub enabled: bool,
    /// The `.cptlm` model; required when enabled.
    pub model: Option<String>,
    /// Drop documents whose perplexity is above this; `None` = keep all (score only).
    pub max_ppl: Option<f64>,
    /// `[head_max, middle_max]`: ppl <= head_max is head (0), <= middle_max middle (1),
    /// above tail (2); empty = no bucket attribute.
    pub buckets: Vec<f64>,
}

impl PerplexityConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::Config(format!("perplexity.{key}: {why}")));
        if self.enabled && !matches!(self.model.as_deref(), Some(m) if !m.is_empty()) {
            return bad(
                "model",
                "required when perplexity.enabled is true (a .cptlm file from `cpt-curate lm train`)"
                    .into(),
            );
        }
        if let Some(m) = self.max_ppl {
            if m.is_nan() || m <= 0.0 {
                return bad("max_ppl", format!("{m} must be > 0"));
            }
        }
        if !self.buckets.is_empty() {
            let b = &self.buckets;
            if b.len() != 2 || !(b[0] > 0.0 && b[0] <= b[1] && b[1].is_finite()) {
                return bad(
                    "buckets",
                    format!("{b:?} must be two cut points [head_max, middle_max], 0 < head_max <= middle_max"),
                );
            }
        }
        Ok(())
    }
}

/// Language identification (`crate::score::langid`); codes are whatlang's ISO 639-3.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    pub enabled: bool,
    /// Keep only these languages; empty = any.
    pub keep: Vec<String>,
    pub drop: Vec<String>,
    pub min_confidence: f64,
    /// Language -> maximum fraction of the selected documents (or bytes); others uncapped.
    pub quotas: std::collections::BTreeMap<String, f64>,
    /// `docs` or `bytes`.
    pub quota_unit: String,
    /// Characters examined per document (its first ones).
    pub sample_chars: usize,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            enabled: false,
            keep: Vec::new(),
            drop: Vec::new(),
            min_confidence: 0.0,
            quotas: std::collections::BTreeMap::new(),
            quota_unit: "docs".into(),
            sample_chars: 4096,
        }
    }
}

impl LanguageConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::Config(format!("language.{key}: {why}")));
        let keep: Vec<&str> = self.keep.iter().map(String::as_str).collect();
        crate::score::langid::check_codes("language.keep", &keep)?;
        let drop: Vec<&str> = self.drop.iter().map(String::as_str).collect();
        crate::score::langid::check_codes("language.drop", &drop)?;
        let quota: Vec<&str> = self.quotas.keys().map(String::as_str).collect();
        crate::score::langid::check_codes("language.quotas", &quota)?;
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return bad(
                "min_confidence",
                format!("{} is not in [0, 1]", self.min_confidence),
            );
        }
        for (k, v) in &self.quotas {
            if !(0.0..=1.0).contains(v) {
                return bad(
                    &format!("quotas.{k}"),
                    format!("{v} is not a fraction in [0, 1]"),
                );
            }
        }
        if !matches!(self.quota_unit.as_str(), "docs" | "bytes") {
            return bad(
                "quota_unit",
                format!("`{}`: expected docs or bytes", self.quota_unit),
            );
        }
        if self.sample_chars == 0 {
            return bad("sample_chars", "must be > 0".into());
        }
        Ok(())
    }
}

/// Domain relevance by Moore-Lewis: `ml_score` = cross-entropy (bits per word) under the
/// general model minus under the domain model; higher is more domain-like.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DomainRelevanceConfig {
    pub enabled: bool,
    /// `.cptlm` model trained on domain text; required when enabled.
    pub domain_model: Option<String>,
    /// `.cptlm` model trained on general text; required when enabled.
    pub general_model: Option<String>,
    /// Drop documents whose `ml_score` is below this; `None` = keep all (score only).
    pub min_score: Option<f64>,
}

impl DomainRelevanceConfig {
    pub fn validate(&self) -> Result<()> {
        let bad =
            |key: &str, why: String| Err(Error::Config(format!("domain_relevance.{key}: {why}")));
        for (key, v) in [
            ("domain_model", &self.domain_model),
            ("general_model", &self.general_model),
        ] {
            if self.enabled && !matches!(v.as_deref(), Some(m) if !m.is_empty()) {
                return bad(
                    key,
                    "required when domain_relevance.enabled is true (a .cptlm file from `cpt-curate lm train`)"
                        .into(),
                );
            }
        }
        if let Some(m) = self.min_score {
            if !m.is_finite() {
                return bad("min_score", format!("{m} must be finite"));
            }
        }
        Ok(())
    }
}

/// The domain classifier stage (`crate::score::classifier`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DomainClassifierConfig {
    pub enabled: bool,
    /// The model written by `cpt-curate classifier train`; required when enabled.
    pub model: Option<String>,
    /// The attribute the score is written to.
    pub attribute: String,
    /// Expected hash-table bits of the model's features; `None` = the model's.
    pub bits: Option<u32>,
    /// Expected word n-gram order of the model's features; `None` = the model's.
    pub ngrams: Option<u32>,
}

impl Default for DomainClassifierConfig {
    fn default() -> Self {
        DomainClassifierConfig {
            enabled: false,
            model: None,
            attribute: "domain_score".into(),
            bits: None,
            ngrams: None,
        }
    }
}

impl DomainClassifierConfig {
    pub fn validate(&self) -> Result<()> {
        if self.enabled && !matches!(self.model.as_deref(), Some(m) if !m.is_empty()) {
            return Err(Error::Config(
                "domain_classifier.model: required when domain_classifier.enabled is true \
                 (a model from `cpt-curate classifier train`)"
                    .into(),
            ));
        }
        if self.attribute.is_empty() {
            return Err(Error::Config(
                "domain_classifier.attribute: must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// Selection by score (`crate::select`): policies applied in order to the documents that
/// pass exact dedup and the filters, before near-dup clustering.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SelectConfig {
    /// Policies, e.g. `domain_score:min=0.5`, `domain_score:top=0.5`, `ppl:bottom=0.8`,
    /// `lang:quota=fra:0.1,deu:0.1` (see FORMAT.md).
    pub policies: Vec<String>,
}
