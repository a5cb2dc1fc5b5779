//! Tokenization as the last stage of a curation job: the token shards hold exactly the
//! `tokenizers` encodings (plus EOS) of the kept documents, in the kept shards' order; the
//! manifest records the curation config hash; a rerun redoes neither curation nor tokenization.

mod curate_common;
mod shared_data;
use cpt_engine::config::Config;
use cpt_engine::pipeline::{self, RunOptions};
use cpt_engine::report::{Report, TokenizeSummary};
use cpt_engine::shard::Dataset;
use curate_common::*;
use std::path::{Path, PathBuf};

/// The shared tokenizer; `None` only when the skip was asked for (see `shared_data`).
fn tokenizer_path() -> Option<PathBuf> {
    shared_data::path("tokenizers/smollm2-135m.tokenizer.json")
}

/// Two inputs of prose with an exact duplicate and a too-short document among them.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for f in 0..2 {
        let mut body = String::new();
        for i in 0..30 {
            let text = prose(f * 100 + i, 80 + i * 3);
            body.push_str(
                &serde_json::json!({ "id": format!("{f}-{i}"), "text": text }).to_string(),
            );
            body.push('\n');
        }
        body.push_str(&serde_json::json!({ "text": prose(f * 100, 80) }).to_string());
        body.push('\n');
        body.push_str(&serde_json::json!({ "text": "too short" }).to_string());
        body.push('\n');
        let path = dir.join(format!("in{f}.jsonl"));
        std::fs::write(&path, body).unwrap();
        paths.push(path);
    }
    paths
}

/// The report's tokenize section.
fn summary(report: &Report) -> TokenizeSummary {
    let section = report.section("tokenize").expect("tokenize summary");
    serde_json::from_value(section.clone()).unwrap()
}

fn token_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpts") || p.ends_with("manifest.json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kept_docs_are_tokenized_last_and_resume() {
    let Some(tok_path) = tokenizer_path() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus(dir.path());
    let out = dir.path().join("out");
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let tok_set = format!(
        "tokenize.tokenizer={}",
        serde_json::to_string(&tok_path.to_string_lossy()).unwrap()
    );
    let config = config(
        &refs,
        &out,
        &[
            "threads=2",
            "minhash.enabled=false",
            "tokenize.enabled=true",
            "tokenize.shard_tokens=3000",
            "tokenize.frame_tokens=500",
            &tok_set,
        ],
    );
    let quiet = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };
    let report = pipeline::run(&config, &quiet).unwrap();
    assert!(report.kept_docs > 40 && report.kept_docs < report.input_docs);
    let t = summary(&report);
    assert_eq!(t.docs, report.kept_docs);
    assert!(t.shards > 1, "{t:?}");
    assert!(report.timings.stages.contains_key("tokenize"));
    let tokens = out.join("tokens");
    assert_eq!(Path::new(&t.manifest), tokens.join("manifest.json"));

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tokens.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["totals"]["docs"], report.kept_docs);
    assert_eq!(manifest["totals"]["tokens"], t.tokens);
    assert_eq!(
        manifest["curation_config_hash"],
        report.config_hash.as_str()
    );
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(on_disk["tokenize"]["docs"], report.kept_docs);
    assert!(on_disk["timings"]["tokenize"]["seconds"].is_number());

    // The kept texts, in the kept shards' order, encoded by `tokenizers`, plus EOS.
    let tok = tokenizers::Tokenizer::from_file(&tok_path).unwrap();
    let eos = tok.token_to_id("<|endoftext|>").unwrap();
    let mut expected = Vec::new();
    for shard in &report.kept_shards {
        let file = out.join(shard);
        let tmp = dir.path().join("one");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::copy(&file, tmp.join("x.jsonl.zst")).unwrap();
        for doc in read_shards(&tmp) {
            let text = doc["text"].as_str().unwrap();
            let mut ids = tok.encode(text, true).unwrap().get_ids().to_vec();
            ids.push(eos);
            expected.push(ids);
        }
        std::fs::remove_dir_all(&tmp).unwrap();
    }
    assert_eq!(expected.len() as u64, report.kept_docs);
    let mut ds = Dataset::open(&tokens.join("manifest.json"), Some(&t.tokenizer_hash)).unwrap();
    let mut got = Vec::new();
    for shard in ds.shards_mut() {
        shard.verify().unwrap();
        for j in 0..shard.num_docs() as usize {
            got.push(shard.document(j).unwrap());
        }
    }
    assert_eq!(got, expected);

    // A rerun reuses every curated file and every token shard, and changes no byte.
    let before = token_files(&tokens);
    let again = pipeline::run(&config, &quiet).unwrap();
    assert_eq!(again.resumed_writes, inputs.len());
    let t2 = summary(&again);
    assert_eq!(t2.resumed_shards, t.shards);
    assert_eq!(t2.resumed_docs, t.docs);
    assert_eq!(token_files(&tokens), before);
    assert_eq!(again.config_hash, report.config_hash);
}

#[test]
fn tokenize_section_is_checked_and_does_not_change_the_curation_hash() {
    let err = Config::resolve(None, None, &["tokenize.enabled=true".into()]).unwrap_err();
    assert!(err.to_string().contains("tokenize.tokenizer"), "{err}");
    let err = Config::resolve(None, None, &["tokenize.frame_tokens=0".into()]).unwrap_err();
    assert!(err.to_string().contains("tokenize.frame_tokens"), "{err}");
    let err = Config::resolve(None, None, &["tokenize.shard_token=5".into()]).unwrap_err();
    assert!(err.to_string().contains("tokenize.shard_token"), "{err}");
    let off = Config::resolve(None, None, &[]).unwrap();
    let on = Config::resolve(
        None,
        None,
        &[
            "tokenize.enabled=true".into(),
            "tokenize.tokenizer=t.json".into(),
            "tokenize.zstd_level=9".into(),
        ],
    )
    .unwrap();
    assert_eq!(off.output_hash(), on.output_hash());
    assert_eq!(on.tokenize.zstd_level, 9);
    // A missing tokenizer file is named before any work starts.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\": \"x\"}\n").unwrap();
    let c = config(
        &[&input],
        &dir.path().join("out"),
        &[
            "tokenize.enabled=true",
            "tokenize.tokenizer=/nonexistent/t.json",
        ],
    );
    let err = pipeline::plan(&c).err().expect("missing tokenizer");
    assert!(err.to_string().contains("tokenize.tokenizer"), "{err}");
    assert!(!dir.path().join("out").exists());
}
