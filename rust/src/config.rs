//! The curation job's configuration: one YAML file, overridden by `--set key.sub=value`
//! on the command line or by keyword arguments from Python. Every layer is merged as a
//! YAML tree first, unknown keys are rejected with their full dotted path, and the
//! result is deserialized and validated into [`Config`].

pub use crate::dedup::MinHashConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::Path;

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
    /// A shard is closed once it holds this many bytes of (uncompressed) JSONL.
    pub shard_max_bytes: u64,
    /// zstd level of the output shards.
    pub zstd_level: i32,
    pub exact_dedup: ExactDedupConfig,
    pub filters: FiltersConfig,
    /// Near-duplicate removal (MinHash LSH); the section is `dedup::MinHashConfig`.
    pub minhash: MinHashConfig,
    pub pii: PiiConfig,
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
            shard_max_bytes: 256 << 20,
            zstd_level: 3,
            exact_dedup: ExactDedupConfig::default(),
            filters: FiltersConfig::default(),
            minhash: MinHashConfig::default(),
            pii: PiiConfig::default(),
            tokenize: TokenizeConfig::default(),
        }
    }
}

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

/// The `--help` text that lists every key; a test checks it names them all.
pub const KEYS_HELP: &str = "\
Configuration keys (YAML file, `--set key.sub=value`, or Python keyword arguments):
  inputs                      files, directories (recursive) or globs        []
  output                      output directory                              (required)
  threads                     worker threads, 0 = all cores                  0
  lenient                     route malformed lines to rejected output       false
  shard_max_bytes             uncompressed JSONL bytes per output shard      268435456
  zstd_level                  zstd level of output shards (1..=22)           3
  exact_dedup.enabled                                                        true
  filters.length.enabled | min_words | max_words | min_chars | max_chars
                                                     true, 50, 100000, 0, 18446744073709551615
  filters.repetition.enabled                                                 true
  filters.repetition.max_dup_line_frac | max_dup_para_frac                   0.30, 0.30
  filters.repetition.max_dup_line_char_frac | max_dup_para_char_frac         0.20, 0.20
  filters.repetition.max_top_ngram_char_frac.2 | .3 | .4                     0.20, 0.18, 0.16
  filters.repetition.max_dup_ngram_char_frac.5 | .6 | .7 | .8 | .9 | .10
                                                     0.15, 0.14, 0.13, 0.12, 0.11, 0.10
  filters.quality.enabled                                                    true
  filters.quality.min_mean_word_len | max_mean_word_len                      3, 10
  filters.quality.max_symbol_word_ratio                                      0.1
  filters.quality.max_bullet_lines_frac | max_ellipsis_lines_frac            0.9, 0.3
  filters.quality.min_alpha_words_frac                                       0.8
  minhash.enabled | num_perm | ngram | shingle | hash_bits   true, 128, 5, word, 32
  minhash.threshold | bands | rows                           0.8, null, null (b x r chosen from threshold)
  minhash.verify | sample_check | sample_size                false, true, 256
  minhash.max_cluster_size | refuse_oversize                 null, false
  minhash.mem_limit (bytes or 2GiB; band tables spill to .state/) | seed
                                                             null, 42
  pii.enabled | email | ip_address | phone                   true, true, true, true
  tokenize.enabled (tokenize the kept shards last) | tokenizer (tokenizer.json, required if enabled)
                                                             false, null
  tokenize.output                                            null (= <output>/tokens)
  tokenize.shard_tokens | frame_tokens | zstd_level          268435456, 262144, 6
  tokenize.eos_token | megatron (PREFIX for .bin/.idx)       null (from the tokenizer), null";

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
        self.minhash.validate()?;
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
        }
        hash_json(&v)
    }

    /// Hash of the whole resolved config, for the report.
    pub fn hash(&self) -> String {
        hash_json(self)
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

/// YAML reads `{2: 0.2}` with an integer key; config keys are always strings.
fn string_keys(v: Value) -> Value {
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| (Value::String(key_name(&k)), string_keys(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Deep merge: mappings merge key by key, anything else replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, over) => *slot = over,
    }
}

/// Apply one `key.sub=value` assignment; the value is parsed as YAML (`50`, `true`, `[a, b]`).
fn apply_set(tree: &mut Value, set: &str) -> Result<()> {
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set {set:?}: expected key.sub=value")))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(Error::Config(format!("--set {set:?}: bad key {key:?}")));
    }
    let value: Value =
        serde_yaml::from_str(raw).map_err(|e| Error::Config(format!("--set {key}: {e}")))?;
    let mut over = value;
    for part in key.rsplit('.') {
        let mut m = Mapping::new();
        m.insert(Value::String(part.to_string()), over);
        over = Value::Mapping(m);
    }
    merge(tree, over);
    Ok(())
}

/// serde_yaml's type errors do not say where: find the leaf that fails on its own.
fn name_bad_value(tree: &Value, err: serde_yaml::Error) -> String {
    let mut leaves = Vec::new();
    collect_leaves(tree, &mut Vec::new(), &mut leaves);
    for (path, value) in leaves {
        let mut single = value.clone();
        for part in path.iter().rev() {
            let mut m = Mapping::new();
            m.insert(Value::String(part.clone()), single);
            single = Value::Mapping(m);
        }
        if let Err(e) = serde_yaml::from_value::<Config>(single) {
            return format!("{}: {e}", path.join("."));
        }
    }
    err.to_string()
}

fn collect_leaves(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, sub) in m {
                prefix.push(key_name(k));
                collect_leaves(sub, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push((prefix.clone(), v.clone())),
    }
}

fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn check_known_keys(tree: &Value, known: &Value, prefix: &str) -> Result<()> {
    let (Value::Mapping(t), Value::Mapping(k)) = (tree, known) else {
        return Ok(());
    };
    for (key, value) in t {
        let name = key_name(key);
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match k.get(Value::String(name.clone())) {
            Some(sub) => check_known_keys(value, sub, &path)?,
            None => {
                let expected: Vec<String> = k.keys().map(key_name).collect();
                return Err(Error::Config(format!(
                    "unknown key `{path}` (expected one of: {})",
                    expected.join(", ")
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Mapping(m) = v {
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
    fn help_names_every_key() {
        let mut keys = Vec::new();
        leaf_keys(
            &serde_yaml::to_value(Config::default()).unwrap(),
            "",
            &mut keys,
        );
        for key in keys {
            let last = key.rsplit('.').next().unwrap();
            let section = key.split('.').next().unwrap();
            assert!(
                KEYS_HELP.contains(section) && KEYS_HELP.contains(last),
                "help misses {key}"
            );
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
    }
}
