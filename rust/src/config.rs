//! The curation job's configuration: one YAML file, overridden by `--set key.sub=value`
//! on the command line or by keyword arguments from Python. Every layer is merged as a
//! YAML tree first, unknown keys are rejected with their full dotted path, and the
//! result is deserialized and validated into [`Config`].

mod help;
mod sections;
mod tree;

pub use crate::dedup::MinHashConfig;
use crate::{Error, Result};
pub use help::keys_help;
pub use sections::*;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::Path;
use tree::{apply_set, check_known_keys, merge, name_bad_value, string_keys};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Input files, directories (searched recursively) or glob patterns.
    pub inputs: Vec<String>,
    /// Output directory: `kept/`, `rejected/`, `report.json` and `.state/`.
    pub output: String,
    /// Worker threads; 0 = all cores. Output does not depend on it.
    pub threads: usize,
    /// Count and route malformed lines to the rejected output instead of stopping.
    pub lenient: bool,
    /// The field (JSONL) or column (Parquet) that holds a document's text.
    pub text_key: String,
    /// Follow symlinks to directories when walking input directories (each is walked once).
    pub follow_symlinks: bool,
    /// A shard is closed once it holds this many bytes of (uncompressed) JSONL.
    pub shard_max_bytes: u64,
    /// zstd level of the output shards.
    pub zstd_level: i32,
    pub exact_dedup: ExactDedupConfig,
    pub filters: FiltersConfig,
    /// n-gram LM perplexity scoring (`crate::score::stages`).
    pub perplexity: PerplexityConfig,
    /// Moore-Lewis domain relevance (`crate::score::stages`).
    pub domain_relevance: DomainRelevanceConfig,
    /// Near-duplicate removal (MinHash LSH); the section is `dedup::MinHashConfig`.
    pub minhash: MinHashConfig,
    pub pii: PiiConfig,
    /// Language identification (scan) and per-language quotas (decide).
    pub language: LanguageConfig,
    /// The domain classifier's score (scan).
    pub domain_classifier: DomainClassifierConfig,
    /// Selection by score (decide).
    pub select: SelectConfig,
    /// Optional last stage: tokenize the kept shards into token shards (FORMAT.md).
    /// Kept last: [`Config::output_hash`] leaves it out, so it never invalidates curation.
    pub tokenize: TokenizeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inputs: Vec::new(),
            output: String::new(),
            threads: 0,
            lenient: false,
            text_key: crate::input::DEFAULT_TEXT_KEY.into(),
            follow_symlinks: false,
            shard_max_bytes: 256 << 20,
            zstd_level: 3,
            exact_dedup: ExactDedupConfig::default(),
            filters: FiltersConfig::default(),
            perplexity: PerplexityConfig::default(),
            domain_relevance: DomainRelevanceConfig::default(),
            minhash: MinHashConfig::default(),
            pii: PiiConfig::default(),
            language: LanguageConfig::default(),
            domain_classifier: DomainClassifierConfig::default(),
            select: SelectConfig::default(),
            tokenize: TokenizeConfig::default(),
        }
    }
}

impl Config {
    /// Resolve a configuration: the YAML file (if any), then `overlay` (a tree, e.g.
    /// from Python keyword arguments) merged into it, then `key.sub=value` assignments.
    pub fn resolve(file: Option<&Path>, overlay: Option<Value>, sets: &[String]) -> Result<Config> {
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                let v: Value = serde_yaml::from_str(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
                match v {
                    Value::Null => Value::Mapping(Mapping::new()),
                    Value::Mapping(_) => v,
                    _ => {
                        return Err(Error::Config(format!(
                            "{}: expected a mapping of keys",
                            path.display()
                        )))
                    }
                }
            }
            None => Value::Mapping(Mapping::new()),
        };
        if let Some(overlay) = overlay {
            merge(&mut tree, overlay);
        }
        for set in sets {
            apply_set(&mut tree, set)?;
        }
        Config::from_tree(tree)
    }

    /// A JSON object of keys (e.g. Python keyword arguments) as an overlay for [`Config::resolve`].
    pub fn overlay_from_json(json: &str) -> Result<Value> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("keyword arguments: {e}")))?;
        if !matches!(v, Value::Mapping(_)) {
            return Err(Error::Config(
                "keyword arguments: expected a mapping of keys".into(),
            ));
        }
        Ok(v)
    }

    /// Deserialize a merged tree, naming unknown keys and bad values by their dotted path.
    pub fn from_tree(tree: Value) -> Result<Config> {
        let tree = string_keys(tree);
        let known = serde_yaml::to_value(Config::default()).expect("default config serializes");
        check_known_keys(&tree, &known, "")?;
        let config: Config = serde_yaml::from_value(tree.clone())
            .map_err(|e| Error::Config(name_bad_value(&tree, e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Range and ordering checks, each naming its key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::Config(format!("{key}: {why}")));
        if self.shard_max_bytes == 0 {
            return bad("shard_max_bytes", "must be > 0".into());
        }
        if self.text_key.is_empty() {
            return bad("text_key", "must not be empty".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return bad(
                "zstd_level",
                format!("{} is not in 1..=22", self.zstd_level),
            );
        }
        let l = &self.filters.length;
        if l.min_words > l.max_words {
            return bad(
                "filters.length.min_words",
                format!("{} > max_words {}", l.min_words, l.max_words),
            );
        }
        if l.min_chars > l.max_chars {
            return bad(
                "filters.length.min_chars",
                format!("{} > max_chars {}", l.min_chars, l.max_chars),
            );
        }
        let r = &self.filters.repetition;
        let mut fracs: Vec<(String, f64)> = vec![
            (
                "filters.repetition.max_dup_line_frac".into(),
                r.max_dup_line_frac,
            ),
            (
                "filters.repetition.max_dup_para_frac".into(),
                r.max_dup_para_frac,
            ),
            (
                "filters.repetition.max_dup_line_char_frac".into(),
                r.max_dup_line_char_frac,
            ),
            (
                "filters.repetition.max_dup_para_char_frac".into(),
                r.max_dup_para_char_frac,
            ),
        ];
        for (n, v) in r.max_top_ngram_char_frac.by_n() {
            fracs.push((format!("filters.repetition.max_top_ngram_char_frac.{n}"), v));
        }
        for (n, v) in r.max_dup_ngram_char_frac.by_n() {
            fracs.push((format!("filters.repetition.max_dup_ngram_char_frac.{n}"), v));
        }
        let q = &self.filters.quality;
        fracs.push((
            "filters.quality.max_bullet_lines_frac".into(),
            q.max_bullet_lines_frac,
        ));
        fracs.push((
            "filters.quality.max_ellipsis_lines_frac".into(),
            q.max_ellipsis_lines_frac,
        ));
        fracs.push((
            "filters.quality.min_alpha_words_frac".into(),
            q.min_alpha_words_frac,
        ));
        for (key, v) in fracs {
            if !(0.0..=1.0).contains(&v) {
                return bad(&key, format!("{v} is not a fraction in [0, 1]"));
            }
        }
        if !(q.min_mean_word_len >= 0.0 && q.min_mean_word_len <= q.max_mean_word_len) {
            return bad(
                "filters.quality.min_mean_word_len",
                format!(
                    "{} must be >= 0 and <= max_mean_word_len {}",
                    q.min_mean_word_len, q.max_mean_word_len
                ),
            );
        }
        if q.max_symbol_word_ratio.is_nan() || q.max_symbol_word_ratio < 0.0 {
            return bad(
                "filters.quality.max_symbol_word_ratio",
                "must be >= 0".into(),
            );
        }
        self.perplexity.validate()?;
        self.domain_relevance.validate()?;
        self.minhash.validate()?;
        self.language.validate()?;
        self.domain_classifier.validate()?;
        crate::select::policies(self)?;
        self.tokenize.validate()
    }

    /// Checks a job needs before running (not needed for `--dry-run` of a partial config).
    pub fn require_job(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(Error::Config(
                "inputs: no input given (set `inputs` or pass --input)".into(),
            ));
        }
        if self.output.is_empty() {
            return Err(Error::Config(
                "output: no output directory given (set `output` or pass --output)".into(),
            ));
        }
        Ok(())
    }

    /// Hash of everything that shapes the curated output (not `threads`, `inputs` or
    /// `output`, which a resumed job may spell differently, nor the `tokenize` stage, which
    /// reads the output and resumes by itself): xxh3-64 of canonical JSON.
    pub fn output_hash(&self) -> String {
        let mut c = self.clone();
        c.threads = 0;
        c.inputs.clear();
        c.output.clear();
        let mut v = serde_json::to_value(&c).expect("config serializes");
        if let serde_json::Value::Object(m) = &mut v {
            // The same hash as before the section existed: older jobs still resume.
            m.shift_remove("tokenize");
            // Likewise for the default text key.
            if self.text_key == crate::input::DEFAULT_TEXT_KEY {
                m.shift_remove("text_key");
            }
            // Scorer sections left at their defaults (off) leave the hash as it was
            // before they existed.
            if c.perplexity == PerplexityConfig::default() {
                m.shift_remove("perplexity");
            }
            if c.domain_relevance == DomainRelevanceConfig::default() {
                m.shift_remove("domain_relevance");
            }
            // Which files are read is in the job identity (the input list) already.
            m.shift_remove("follow_symlinks");
            // Likewise the selection sections at their defaults (off).
            if c.language == LanguageConfig::default() {
                m.shift_remove("language");
            }
            if c.domain_classifier == DomainClassifierConfig::default() {
                m.shift_remove("domain_classifier");
            }
            if c.select == SelectConfig::default() {
                m.shift_remove("select");
            }
        }
        hash_json(&v)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("config serializes")
    }
}

fn hash_json<T: Serialize>(v: &T) -> String {
    // serde_json with preserve_order keeps struct field order, which is fixed: canonical.
    let json = serde_json::to_string(v).expect("config serializes");
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::tree::key_name;
    use super::*;

    fn leaf_keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Mapping(m) = v {
            if m.is_empty() {
                out.push(prefix.to_string());
                return;
            }
            for (k, sub) in m {
                let name = key_name(k);
                let path = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                leaf_keys(sub, &path, out);
            }
        } else {
            out.push(prefix.to_string());
        }
    }

    #[test]
    fn help_names_every_key_with_its_default() {
        let mut keys = Vec::new();
        let defaults = serde_yaml::to_value(Config::default()).unwrap();
        leaf_keys(&defaults, "", &mut keys);
        let help = keys_help();
        // key -> the help line's last field (the default), for lines that name a key.
        let mut listed = std::collections::BTreeMap::new();
        for line in help.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 2 && !line.trim_end().ends_with(':') {
                listed.insert(fields[0].to_string(), fields[fields.len() - 1].to_string());
            }
        }
        for key in &keys {
            let shown = listed
                .get(key)
                .unwrap_or_else(|| panic!("help misses {key}:\n{help}"));
            let want = key.split('.').try_fold(&defaults, |v, k| v.get(k)).unwrap();
            let got: Value = serde_yaml::from_str(shown).unwrap();
            assert_eq!(&got, want, "default of {key} in help: {shown}");
        }
        // No stale entries: every listed key is a key of the config.
        for key in listed.keys() {
            assert!(keys.contains(key), "help lists unknown key {key}");
        }
    }

    #[test]
    fn sets_override_file_and_overlay() {
        let overlay: Value =
            serde_yaml::from_str("filters: {length: {min_words: 10}}\nthreads: 3").unwrap();
        let c = Config::resolve(
            None,
            Some(overlay),
            &["filters.length.max_words=20".into(), "lenient=true".into()],
        )
        .unwrap();
        assert_eq!(c.filters.length.min_words, 10);
        assert_eq!(c.filters.length.max_words, 20);
        assert_eq!(c.threads, 3);
        assert!(c.lenient);
        assert_eq!(c.filters.repetition, RepetitionConfig::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = Config::resolve(None, None, &["filters.length.min_word=3".into()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("filters.length.min_word"), "{msg}");
        assert!(msg.contains("min_words"), "{msg}");
    }

    #[test]
    fn validation_names_the_key() {
        let err = Config::resolve(
            None,
            None,
            &[
                "filters.length.min_words=500".into(),
                "filters.length.max_words=10".into(),
            ],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("filters.length.min_words"),
            "{err}"
        );
        let err = Config::resolve(
            None,
            None,
            &["filters.repetition.max_top_ngram_char_frac.3=1.5".into()],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("max_top_ngram_char_frac.3"),
            "{err}"
        );
        let err = Config::resolve(None, None, &["threads=many".into()]).unwrap_err();
        assert!(err.to_string().contains("threads"), "{err}");
    }

    #[test]
    fn demo_config_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/curate-demo.yaml");
        let c = Config::resolve(Some(&path), None, &[]).unwrap();
        let defaults = Config {
            inputs: c.inputs.clone(),
            output: c.output.clone(),
            ..Config::default()
        };
        assert_eq!(c, defaults);
    }

    #[test]
    fn output_hash_ignores_threads_and_paths() {
        let a = Config::resolve(None, None, &["threads=1".into(), "output=a".into()]).unwrap();
        let b = Config::resolve(None, None, &["threads=2".into(), "output=b".into()]).unwrap();
        assert_eq!(a.output_hash(), b.output_hash());
        let c = Config::resolve(None, None, &["filters.length.min_words=3".into()]).unwrap();
        assert_ne!(a.output_hash(), c.output_hash());
        let k = Config::resolve(None, None, &["text_key=body".into()]).unwrap();
        assert_ne!(a.output_hash(), k.output_hash());
        let d = Config::resolve(None, None, &["text_key=text".into()]).unwrap();
        assert_eq!(a.output_hash(), d.output_hash());
    }
}
