//! The write stages of a curation job: tokenize takes the write pass's (redacted) texts per
//! input file, whose token ids are its resume unit; a job resumed with some files written
//! gives the token shards of a clean run; `text_key` names the text field for `run`.

mod curate_common;
mod shared_data;
use cpt_engine::pipeline::{self, RunOptions};
use cpt_engine::report::Report;
use curate_common::*;
use std::path::{Path, PathBuf};

fn tokenizer() -> Option<String> {
    shared_data::path("tokenizers/smollm2-135m.tokenizer.json")
        .map(|p| p.to_string_lossy().into_owned())
}

/// Three inputs of prose, with e-mail addresses for the redaction to change.
fn corpus(dir: &Path, text_key: &str) -> Vec<PathBuf> {
    (0..3)
        .map(|f| {
            let mut body = String::new();
            for i in 0..25 {
                let text = format!(
                    "{} write to user{i}@example.com today",
                    prose(f * 100 + i, 70 + i * 2)
                );
                body.push_str(&serde_json::json!({ text_key: text }).to_string());
                body.push('\n');
            }
            let path = dir.join(format!("in{f}.jsonl"));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect()
}

fn run(inputs: &[PathBuf], out: &Path, sets: &[&str]) -> Report {
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let quiet = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };
    pipeline::run(&config(&inputs, out, sets), &quiet).unwrap()
}

/// The token shards and manifest of a job, by name (the manifest's input paths differ by
/// output directory, so it is compared without them).
fn tokens(out: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = out.join("tokens");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cpts"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("inputs");
    files.push(("manifest".into(), manifest.to_string().into_bytes()));
    files
}

#[test]
fn tokenize_reads_the_write_pass_texts_and_resumes_per_input_file() {
    let Some(tok) = tokenizer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus(dir.path(), "text");
    let sets = [
        "tokenize.enabled=true".to_string(),
        format!("tokenize.tokenizer={tok}"),
        "tokenize.shard_tokens=3000".into(),
        "tokenize.frame_tokens=512".into(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let clean = dir.path().join("clean");
    let report = run(&inputs, &clean, &sets);
    assert_eq!(report.pii.docs_with_pii, report.kept_docs);
    let want = tokens(&clean);
    assert!(want.len() > 3, "expected several token shards");
    // Each input file's token ids are its resume unit, beside its done marker.
    for f in 0..inputs.len() {
        assert!(clean.join(format!(".state/tokens-{f:05}.bin")).is_file());
    }

    // The kept shards are not read again: the token shards are made from the units.
    let two = dir.path().join("two");
    run(&inputs, &two, &sets);
    for entry in std::fs::read_dir(two.join("kept")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not read").unwrap();
    }
    for name in ["tokens", ".state/done-00000.json"] {
        let p = two.join(name);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    // File 0 is written again (its kept shard anew), files 1 and 2 are resumed.
    let again = run(&inputs, &two, &sets);
    assert_eq!(again.resumed_writes, 2);
    assert_eq!(tokens(&two), want);

    // Switched on for a job written without it: the files' kept shards are tokenized.
    let late = dir.path().join("late");
    run(&inputs, &late, &[]);
    run(&inputs, &late, &sets);
    assert_eq!(tokens(&late), want);
    assert!(late.join(".state/tokens-00001.bin").is_file());
}

#[test]
fn text_key_names_the_text_field_of_run() {
    let Some(tok) = tokenizer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let by_text = corpus(&mkdir(dir.path().join("a")), "text");
    let by_body = corpus(&mkdir(dir.path().join("b")), "body");
    let sets = [
        "tokenize.enabled=true".to_string(),
        format!("tokenize.tokenizer={tok}"),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let mut body_sets = sets.clone();
    body_sets.push("text_key=body");
    let a = run(&by_text, &dir.path().join("out-a"), &sets);
    let b = run(&by_body, &dir.path().join("out-b"), &body_sets);
    assert_eq!(
        (a.kept_docs, a.pii.counts.email),
        (b.kept_docs, b.pii.counts.email)
    );
    assert!(a.kept_docs > 0);
    assert_ne!(a.config_hash, b.config_hash);
    // The redacted text is written back under the same key.
    let kept = read_shards(&dir.path().join("out-b/kept"));
    assert!(kept
        .iter()
        .all(|d| d.get("text").is_none() && d["body"].as_str().unwrap().contains("<EMAIL>")));
    let shards = |out: &str| {
        let mut t = tokens(&dir.path().join(out));
        t.pop(); // the manifests differ by config hash and text key
        t
    };
    assert_eq!(shards("out-a"), shards("out-b"));
}

fn mkdir(p: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&p).unwrap();
    p
}
