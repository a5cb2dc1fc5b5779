//! The `--help` list of config keys, generated: the job's own keys, then each registered
//! stage's section (`crate::stage::STAGES`), each key with what it means and its default
//! taken from `Config::default()`.

use super::Config;
use crate::stage::STAGES;

/// The job's keys (not part of any stage), with what they mean.
pub const JOB_KEYS: &[(&str, &str)] = &[
    ("inputs", "files, directories (recursive) or globs"),
    ("output", "output directory (required)"),
    ("threads", "worker threads, 0 = all cores"),
    ("lenient", "route malformed lines to the rejected output"),
    (
        "text_key",
        "the field (JSONL) or column (Parquet) holding the text",
    ),
    (
        "follow_symlinks",
        "follow directory symlinks in input dirs (each dir walked once)",
    ),
    (
        "shard_max_bytes",
        "uncompressed JSONL bytes per output shard",
    ),
    ("zstd_level", "zstd level of output shards (1..=22)"),
];

/// The default of a dotted key as compact JSON (`null` when the key does not exist).
fn default_of(defaults: &serde_json::Value, key: &str) -> String {
    let v = key
        .split('.')
        .try_fold(defaults, |v, part| v.get(part))
        .unwrap_or(&serde_json::Value::Null);
    v.to_string()
}

/// Every key with its meaning and default, grouped by stage.
pub fn keys_help() -> String {
    let defaults = serde_json::to_value(Config::default()).expect("default config serializes");
    let mut s = String::from(
        "Configuration keys (YAML file, `--set key.sub=value`, or Python keyword arguments), \
         with their defaults:\n  job:\n",
    );
    let row = |s: &mut String, key: String, what: &str| {
        let default = default_of(&defaults, &key);
        s.push_str(&format!("    {key:<46} {what:<64} {default}\n"));
    };
    for (key, what) in JOB_KEYS {
        row(&mut s, (*key).to_string(), what);
    }
    for spec in STAGES {
        let phase = format!("{:?}", spec.phase).to_lowercase();
        s.push_str(&format!("  stage {} ({phase}):\n", spec.name));
        for (key, what) in spec.keys {
            row(&mut s, format!("{}.{key}", spec.section), what);
        }
    }
    s.truncate(s.trim_end().len());
    s
}
